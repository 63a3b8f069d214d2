"""The worklist: pump-state snapshots kept by the timeline signal, the fleet forecast over
them (hand-computed, and equal to the twin on random histories), the sections, the page and
the API, and a constant number of SQL queries whatever the number of patients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web_helpers import patient_fields

from openidds.pump import simulate
from openidds.web.accounts.models import Clinic
from openidds.web.audit.models import Action, AuditEvent
from openidds.web.implants import services
from openidds.web.implants.models import Implant, PumpEvent, pump_catalog
from openidds.web.implants.twin import scenario_for
from openidds.web.patients.models import Patient
from openidds.web.worklists import registry
from openidds.web.worklists.forecast import PumpRow, forecast
from openidds.web.worklists.models import PumpSnapshot
from openidds.web.worklists.services import pump_sections, worklist
from openidds.web.worklists.snapshots import rebuild_snapshots, snapshot_values

DAY = timedelta(days=1)


def _t0() -> datetime:
    """Two days ago on the hour: records must not lie in the future; the worklist is asked
    about later instants (the forecast)."""
    return (timezone.now() - 2 * DAY).replace(minute=0, second=0, microsecond=0)


def _morphine_pump(physician: Any, patient: Patient, t0: datetime, serial: str = "S1") -> Implant:
    """20 mL of morphine 10 mg/mL at 0.5 mL/day (5 mg a day) from t0, through the services."""
    implant = services.record_implant(
        by=physician,
        patient=patient,
        pump_model="synchromed2-20",
        serial=serial,
        implanted_at=t0,
        fluid_path_initial="primed",
    )
    services.record_pump_event(
        by=physician,
        implant=implant,
        kind="fill",
        at=t0,
        fields={"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}},
    )
    services.record_pump_event(
        by=physician,
        implant=implant,
        kind="program",
        at=t0,
        fields={"mode": "continuous", "rate_ml_per_day": 0.5},
    )
    return implant


def _section(sections: list[Any], key: str) -> list[Any]:
    return next(s for s in sections if s.key == key).items


def _close(a: datetime | None, b: datetime | None, seconds: float = 1.0) -> bool:
    if a is None or b is None:
        return a is b
    return abs((a - b).total_seconds()) <= seconds


# -- the snapshot --------------------------------------------------------------------------


def test_the_snapshot_follows_every_record(physician, patient):
    t0 = _t0()
    implant = _morphine_pump(physician, patient, t0)
    snap = PumpSnapshot.objects.get(implant=implant)
    elapsed_days = (snap.as_of - t0).total_seconds() / 86400
    # 20 mL − 0.5 mL/day × elapsed
    assert snap.reservoir_ml == pytest.approx(20 - 0.5 * elapsed_days, abs=1e-6)
    assert snap.program_period == "continuous"
    assert snap.program_step_rate_ml_per_day == [0.5]
    threshold = pump_catalog().get("synchromed2-20").low_reservoir_alarm_ml
    assert snap.low_threshold_ml == threshold == 2.0
    assert snap.last_fill_at == t0
    assert snap.drugs[0]["words"] == "morphine, 5 mg a day"
    assert snap.clinic_id == patient.clinic_id
    assert not snap.stopped
    assert not snap.empty
    assert not snap.past_eos
    # (20 − 2) / 0.5 = 36 days to the low-reservoir alarm; 20 / 0.5 = 40 days to empty
    assert _close(snap.low_reservoir_at, t0 + 36 * DAY)
    assert _close(snap.empty_at, t0 + 40 * DAY)
    # a stop changes the snapshot in the same transaction
    services.record_pump_event(by=physician, implant=implant, kind="stop", at=t0 + DAY, fields={})
    snap.refresh_from_db()
    assert snap.stopped
    assert snap.program_period == ""
    assert snap.reservoir_ml == pytest.approx(19.5)
    # the explant removes it (one row per active implant)
    services.explant(by=physician, implant=implant, at=t0 + DAY, reason="infection")
    assert not PumpSnapshot.objects.exists()


def test_rebuild_snapshots_recreates_them(physician, patient):
    implant = _morphine_pump(physician, patient, _t0())
    before = PumpSnapshot.objects.get(implant=implant)
    PumpSnapshot.objects.all().delete()
    assert rebuild_snapshots() == 1
    after = PumpSnapshot.objects.get(implant=implant)
    assert after.reservoir_ml == pytest.approx(before.reservoir_ml, abs=1e-3)
    assert _close(after.recommended_refill_at, before.recommended_refill_at, 0.01)
    assert rebuild_snapshots() == 1  # again: updated, not duplicated
    assert PumpSnapshot.objects.count() == 1


def test_rebuild_snapshots_command(physician, patient):
    import io

    from django.core.management import call_command

    _morphine_pump(physician, patient, _t0())
    PumpSnapshot.objects.all().delete()
    out = io.StringIO()
    call_command("rebuild_snapshots", stdout=out)
    assert "1 pump-state snapshot(s) rebuilt" in out.getvalue()
    assert PumpSnapshot.objects.count() == 1


# -- the worklist, hand-computed -----------------------------------------------------------


def test_hand_computed_refill_low_reservoir_and_empty(physician, patient, clinic):
    """20 mL of 10 mg/mL at 0.5 mL/day filled on day 0, SynchroMed II 20 mL (threshold 2 mL
    and accuracy ±14.5 % from the catalog):

    * low-reservoir alarm (nominal): (20 − 2) / 0.5 = day 36;
    * empty: 20 / 0.5 = day 40;
    * recommended refill = the alarm at the fastest flow: 18 / (0.5 × 1.145) = day 31.441,
      as forecast at the fill (the last record). Forecast again later from the nominal
      volume it moves (at day 20: 10 mL left, 20 + 8 / 0.5725 = day 33.974); the worklist
      keeps the earlier date.
    """
    t0 = _t0()
    _morphine_pump(physician, patient, t0)
    refill_day = 18 / (0.5 * 1.145)
    assert refill_day == pytest.approx(31.441, abs=1e-3)

    # day 10: the refill (day 31.4) is more than 14 days away; nothing to do
    sections = pump_sections(clinic, t0 + 10 * DAY)
    assert _section(sections, "refills") == []
    assert _section(sections, "low-reservoir") == []

    # day 20: the refill is due within 14 days (31.44 ≤ 34), the alarm (36) is not
    fleet_at_20 = forecast(
        [PumpRow(t0 + 20 * DAY, 10.0, 2.0, "continuous", [0.0], [0.5], "UTC", accuracy=0.145)],
        t0 + 20 * DAY,
    )
    assert _close(fleet_at_20.recommended_refill_at[0], t0 + (20 + 8 / 0.5725) * DAY)
    sections = pump_sections(clinic, t0 + 20 * DAY)
    (refill,) = _section(sections, "refills")
    assert _close(refill.at, t0 + refill_day * DAY)
    assert not refill.urgent
    # 20 − 0.5 × 20 = 10 mL left
    assert "about 10.0 mL left (morphine, 5 mg a day)" in refill.text
    assert refill.url == f"/clinics/{clinic.slug}/patients/{patient.pk}/"
    assert refill.time_zone == "Europe/Berlin"
    assert _section(sections, "low-reservoir") == []

    # day 25: the alarm at day 36 is within 14 days too
    (low,) = _section(pump_sections(clinic, t0 + 25 * DAY), "low-reservoir")
    assert _close(low.at, t0 + 36 * DAY)
    assert not low.urgent

    # day 37: refill overdue, alarm sounding since day 36, 20 − 0.5 × 37 = 1.5 mL left
    sections = pump_sections(clinic, t0 + 37 * DAY)
    (refill,) = _section(sections, "refills")
    assert refill.urgent
    assert "overdue" in refill.text
    assert "about 1.5 mL left" in refill.text
    assert _close(refill.at, t0 + refill_day * DAY)
    (low,) = _section(sections, "low-reservoir")
    assert low.urgent
    assert _close(low.at, t0 + 36 * DAY)

    # day 41: empty since day 40
    (refill,) = _section(pump_sections(clinic, t0 + 41 * DAY), "refills")
    assert refill.urgent
    assert refill.text.startswith("EMPTY since")
    local = (t0 + 40 * DAY).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert local.strftime("%Y-%m-%d %H:%M") in refill.text


def test_eri_within_six_months_and_past_eos(physician, patient, clinic):
    """Battery (catalog placeholders): B0 = 2467 days, k = 0.4 days per mL. At 0.5 mL/day
    the battery loses 1 + 0.4 × 0.5 = 1.2 days a day: ERI at 2467 / 1.2 = day 2055.83,
    EOS 90 days later (day 2145.83)."""
    t0 = _t0()
    implant = _morphine_pump(physician, patient, t0)
    snap = PumpSnapshot.objects.get(implant=implant)
    eri_day = 2467 / 1.2
    assert _close(snap.eri_at, t0 + eri_day * DAY, 60)
    assert _close(snap.eos_at, t0 + (eri_day + 90) * DAY, 60)
    assert _section(pump_sections(clinic, t0 + (eri_day - 200) * DAY), "eri") == []
    (eri,) = _section(pump_sections(clinic, t0 + (eri_day - 100) * DAY), "eri")
    assert not eri.urgent
    assert "ERI forecast" in eri.text
    (eri,) = _section(pump_sections(clinic, t0 + (eri_day + 1) * DAY), "eri")
    assert eri.urgent
    assert "ERI reached" in eri.text
    sections = pump_sections(clinic, t0 + (eri_day + 91) * DAY)
    (eos,) = _section(sections, "eos")
    assert eos.urgent
    assert "Past end of service" in eos.text
    assert _section(sections, "eri") == []
    assert _section(sections, "refills") == []  # a pump past EOS is replaced, not refilled


def test_stability_limit_sets_the_refill_date(physician, patient, clinic):
    """A fill with stability_days = 20 is due at day 20, before the alarm (day 31.4)."""
    t0 = _t0()
    implant = services.record_implant(
        by=physician,
        patient=patient,
        pump_model="synchromed2-20",
        serial="S2",
        implanted_at=t0,
        fluid_path_initial="primed",
    )
    services.record_pump_event(
        by=physician,
        implant=implant,
        kind="fill",
        at=t0,
        fields={"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}, "stability_days": 20},
    )
    services.record_pump_event(
        by=physician,
        implant=implant,
        kind="program",
        at=t0,
        fields={"mode": "continuous", "rate_ml_per_day": 0.5},
    )
    (refill,) = _section(pump_sections(clinic, t0 + 10 * DAY), "refills")
    assert _close(refill.at, t0 + 20 * DAY)
    assert "stability limit" in refill.text


def test_a_stopped_pump_has_no_reservoir_forecast(physician, patient, clinic):
    t0 = _t0()
    implant = _morphine_pump(physician, patient, t0)
    services.record_pump_event(by=physician, implant=implant, kind="stop", at=t0 + DAY, fields={})
    sections = pump_sections(clinic, t0 + 60 * DAY)
    assert _section(sections, "refills") == []
    assert _section(sections, "low-reservoir") == []


def test_other_clinics_pumps_are_not_listed(physician, patient, clinic, other_clinic):
    from web_helpers import make_user

    from openidds.web.accounts.models import Role

    other_doc = make_user("other-doc", other_clinic, Role.PHYSICIAN)
    other = Patient.objects.create(clinic=other_clinic, **patient_fields(mrn="O-9"))
    t0 = _t0()
    _morphine_pump(other_doc, other, t0, serial="O1")
    assert all(not s.items for s in pump_sections(clinic, t0 + 37 * DAY))
    assert len(_section(pump_sections(other_clinic, t0 + 37 * DAY), "refills")) == 1


def test_worklist_service_is_audited_and_clinical_only(physician, nurse, admin, clinic, patient):
    from django.core.exceptions import PermissionDenied

    _morphine_pump(physician, patient, _t0())
    result = worklist(by=nurse, clinic=clinic)
    assert [s.key for s in result.sections][:5] == [
        "withdrawal",
        "refills",
        "low-reservoir",
        "eri",
        "eos",
    ]
    event = AuditEvent.objects.get(action=Action.WORKLIST_VIEWED)
    assert event.actor == nurse
    assert event.clinic == clinic
    with pytest.raises(PermissionDenied):
        worklist(by=admin, clinic=clinic)
    assert AuditEvent.objects.filter(action=Action.WORKLIST_VIEWED).count() == 1


def test_registered_sections_are_shown(physician, nurse, clinic, patient, client_for):
    def provider(c: Clinic, now: datetime) -> list[registry.WorklistItem]:
        return [
            registry.WorklistItem(
                patient_id=patient.pk,
                patient_name=patient.name,
                mrn=patient.mrn,
                at=datetime(2026, 7, 1, 10, tzinfo=UTC),
                text="Discrepancy of 3 mL awaits a physician",
                urgent=True,
                url="/somewhere/",
            )
        ]

    registry.register("test-section", "Test discrepancies", provider, order=1)
    try:
        result = worklist(by=nurse, clinic=clinic)
        (item,) = _section(result.sections, "test-section")
        assert item.time_zone == "Europe/Berlin"  # looked up for the provider
        page = client_for(nurse).get(f"/clinics/{clinic.slug}/worklist/")
        html = page.content.decode()
        assert "Test discrepancies" in html
        assert "Discrepancy of 3 mL awaits a physician" in html
        assert 'href="/somewhere/"' in html
        assert "2026-07-01 12:00" in html  # 10:00 UTC in Berlin summer time
    finally:
        registry._SECTIONS.pop("test-section", None)


# -- the page and the API ------------------------------------------------------------------


def test_worklist_page_shows_overdue_in_red_in_the_patients_time_zone(
    physician, nurse, clinic, client_for
):
    """A pump filled 38 days ago at 08:00 UTC: the refill (day 31.44) is overdue."""
    t0 = (timezone.now() - 38 * DAY).replace(hour=8, minute=0, second=0, microsecond=0)
    tokyo = Patient.objects.create(
        clinic=clinic, **patient_fields(name="Hiro Tanaka", mrn="T-1", time_zone="Asia/Tokyo")
    )
    _morphine_pump(physician, tokyo, t0)
    response = client_for(nurse).get(f"/clinics/{clinic.slug}/worklist/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Hiro Tanaka" in html
    assert "T-1" in html
    assert f'href="/clinics/{clinic.slug}/patients/{tokyo.pk}/"' in html
    assert 'class="urgent"' in html
    assert "overdue" in html
    # 36 days after 08:00 UTC is 17:00 in Tokyo (UTC+9)
    alarm = (t0 + 36 * DAY).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    assert alarm.strftime("%Y-%m-%d %H:%M") in html
    assert "JST" in html
    assert "worklists.css" in html


def test_worklist_api(physician, nurse, clinic, patient, client_for):
    t0 = (timezone.now() - 38 * DAY).replace(minute=0, second=0, microsecond=0)
    _morphine_pump(physician, patient, t0)
    response = client_for(nurse).get(f"/api/v1/worklist?clinic={clinic.slug}")
    assert response.status_code == 200
    body = response.json()
    assert body["clinic"] == clinic.slug
    refills = next(s for s in body["sections"] if s["key"] == "refills")
    (item,) = refills["items"]
    assert item["patient_id"] == patient.pk
    assert item["urgent"] is True
    assert item["time_zone"] == "Europe/Berlin"
    at = datetime.fromisoformat(item["at"])
    assert _close(at, t0 + 18 / (0.5 * 1.145) * DAY)
    assert client_for(nurse).get("/api/v1/worklist?clinic=nope").status_code == 422


# -- constant number of queries ------------------------------------------------------------


def _bulk_patients(clinic: Clinic, physician: Any, count: int, start: int = 0) -> None:
    """Patients with a morphine pump each, written in bulk (the timelines are those of the
    services' tests); their snapshots then rebuilt by the twin."""
    t0 = _t0()
    patients = Patient.objects.bulk_create(
        [
            Patient(clinic=clinic, **patient_fields(mrn=f"B-{start + i}", name=f"P {start + i}"))
            for i in range(count)
        ]
    )
    implants = Implant.objects.bulk_create(
        [
            Implant(
                patient=p,
                pump_model="synchromed2-20",
                serial=f"B{p.pk}",
                implanted_at=t0 - ((start + i) % 30) * DAY,
                fluid_path_initial="primed",
                recorded_by=physician,
            )
            for i, p in enumerate(patients)
        ]
    )
    events = []
    for implant in implants:
        at = implant.implanted_at
        events.append(
            PumpEvent(
                implant=implant,
                kind="fill",
                at=at,
                fields={"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}},
                sequence=1,
                recorded_by=physician,
            )
        )
        events.append(
            PumpEvent(
                implant=implant,
                kind="program",
                at=at,
                fields={"mode": "continuous", "rate_ml_per_day": 0.5},
                sequence=2,
                recorded_by=physician,
            )
        )
    PumpEvent.objects.bulk_create(events)
    rebuild_snapshots(clinic_ids=[clinic.pk])


def _count_queries(client: Any, url: str) -> tuple[int, Any]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response


def test_constant_number_of_queries_at_10_and_200_patients(
    physician, nurse, clinic, client_for, monkeypatch
):
    """The worklist's own sections (the registered ones are tested one by one below)."""
    monkeypatch.setattr(registry, "_SECTIONS", {})
    client = client_for(nurse)
    page = f"/clinics/{clinic.slug}/worklist/"
    api = f"/api/v1/worklist?clinic={clinic.slug}"
    _bulk_patients(clinic, physician, 10)
    page_10, response = _count_queries(client, page)
    api_10, _ = _count_queries(client, api)
    assert response.content.decode().count('class="urgent"') == 0  # filled at most 31 days ago
    _bulk_patients(clinic, physician, 190, start=10)
    assert PumpSnapshot.objects.filter(clinic=clinic).count() == 200
    page_200, response = _count_queries(client, page)
    api_200, _ = _count_queries(client, api)
    assert page_10 == page_200
    assert api_10 == api_200
    # patient i was filled (i mod 30) + 2 days ago: due at day 31.44, so within 14 days when
    # i mod 30 >= 16 (P 196: 18 days ago, due in 13.44 days); P 190 was filled 12 days ago
    html = response.content.decode()
    assert ">P 196<" in html
    assert ">P 190<" not in html


def test_long_sections_show_the_first_items_and_a_link_to_all(
    physician, nurse, clinic, client_for, monkeypatch
):
    from openidds.web.worklists import views

    monkeypatch.setattr(views, "PAGE_ITEMS", 5)
    _bulk_patients(clinic, physician, 30)
    client = client_for(nurse)
    html = client.get(f"/clinics/{clinic.slug}/worklist/").content.decode()
    # filled 2..31 days ago, due at day 31.44: due within 14 days when filled >= 18 days ago
    # (i mod 30 >= 16): 14 patients
    assert "Show all 14 (9 more)" in html
    refills = html[html.index('id="wl-refills"') : html.index('id="wl-low-reservoir"')]
    assert refills.count("<tr") == 1 + 5  # the header and five rows
    full = client.get(f"/clinics/{clinic.slug}/worklist/?all=refills").content.decode()
    assert "Show all 14" not in full
    assert all(f">P {i}<" in full for i in range(16, 30))


# -- the fleet forecast equals the twin on random histories ----------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
BASE = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


@st.composite
def histories(draw: Any) -> tuple[Implant, list[PumpEvent], datetime, datetime]:
    zone = draw(st.sampled_from(ZONES))
    model = draw(st.sampled_from(["synchromed2-20", "synchromed2-40", "prometra2-20"]))
    capacity = pump_catalog().get(model).capacity_ml
    patient = Patient(pk=1, clinic_id=1, **patient_fields(time_zone=zone))
    implant = Implant(
        pk=1,
        patient=patient,
        pump_model=model,
        serial="H",
        implanted_at=BASE,
        fluid_path_initial="primed",
    )
    events: list[PumpEvent] = []
    t = BASE
    seq = 0

    def add(kind: str, at: datetime, fields: dict[str, Any]) -> None:
        nonlocal seq
        seq += 1
        events.append(PumpEvent(implant=implant, kind=kind, at=at, fields=fields, sequence=seq))

    rate_lo = 0.1  # within every model's range
    for _ in range(draw(st.integers(1, 4))):
        fields: dict[str, Any] = {
            "volume_ml": draw(st.floats(5, capacity)),
            "drugs": {"morphine": draw(st.sampled_from(["10 mg/mL", "5 mg/mL"]))},
        }
        if draw(st.booleans()):
            fields["stability_days"] = draw(st.integers(10, 120))
        if events:
            fields["aspirated_ml"] = 0.0
        add("fill", t, fields)
        shape = draw(st.sampled_from(["continuous", "day", "week"]))
        if shape == "continuous":
            add(
                "program",
                t,
                {"mode": "continuous", "rate_ml_per_day": draw(st.floats(rate_lo, 1.5))},
            )
        else:
            count = draw(st.integers(1, 4))
            if shape == "day":
                minutes = sorted(
                    draw(st.sets(st.integers(0, 1439), min_size=count, max_size=count))
                )
                starts = [f"{m // 60:02d}:{m % 60:02d}" for m in minutes]
            else:
                minutes = sorted(
                    draw(st.sets(st.integers(0, 7 * 1440 - 1), min_size=count, max_size=count))
                )
                days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
                starts = [f"{days[m // 1440]} {(m % 1440) // 60:02d}:{m % 60:02d}" for m in minutes]
            add(
                "program",
                t,
                {
                    "mode": "flex",
                    "period": shape,
                    "steps": [
                        {"start": s, "rate_ml_per_day": draw(st.floats(rate_lo, 1.5))}
                        for s in starts
                    ],
                },
            )
        if draw(st.booleans()):
            add(
                "ptm_settings",
                t + timedelta(hours=1),
                {
                    "volume_ml": 0.05,
                    "duration": "PT15M",
                    "lockout": "PT3H",
                    "max_per_24h": draw(st.integers(1, 4)),
                },
            )
        t += timedelta(days=draw(st.floats(3, 60)))
    if draw(st.integers(0, 5)) == 0:
        add("stop", t, {})
    as_of = t + timedelta(hours=draw(st.floats(0, 24 * 30)))
    now = as_of + timedelta(hours=draw(st.floats(0, 24 * 400)))
    return implant, events, as_of, now


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(histories())
def test_snapshot_and_fleet_forecast_agree_with_the_twin(history):
    """Snapshot at as_of, fleet forecast at a later now == simulate replayed up to now."""
    implant, events, as_of, now = history
    values = snapshot_values(implant, as_of, events)
    assert not values["error"], values["error"]
    row = PumpRow(
        as_of=as_of,
        reservoir_ml=values["reservoir_ml"],
        threshold_ml=values["low_threshold_ml"],
        period=values["program_period"],
        step_start_days=values["program_step_start_days"],
        step_rate_ml_per_day=values["program_step_rate_ml_per_day"],
        time_zone=values["time_zone"],
        accuracy=values["accuracy"],
        ptm_ml_per_day=values["ptm_ml_per_day"],
        eos_at=values["eos_at"],
        stability_until=values["stability_until"],
    )
    # other pumps in the same call must not change this one's answer
    fleet = forecast([row, row], now)
    twin = simulate(scenario_for(implant, now, events=events))
    assert fleet.reservoir_ml[0] == pytest.approx(twin.end_state.reservoir_ml, abs=1e-6)
    fc = twin.forecast
    assert _close(fleet.low_reservoir_at[0], fc.low_reservoir_alarm.nominal), (
        fleet.low_reservoir_at[0],
        fc.low_reservoir_alarm.nominal,
    )
    assert _close(fleet.empty_at[0], fc.empty.nominal)
    assert _close(fleet.recommended_refill_at[0], fc.recommended_refill)
    # and the snapshot itself is the twin at as_of
    at_as_of = simulate(scenario_for(implant, as_of, events=events)).forecast
    assert values["recommended_refill_at"] == at_as_of.recommended_refill


@pytest.mark.parametrize("key", sorted(s.key for s in registry.registered()))
def test_each_registered_section_has_a_constant_number_of_queries(key, physician, clinic):
    """What the registry asks of every provider: the same number of queries at 10 and at 200
    patients with pumps."""
    section = next(s for s in registry.registered() if s.key == key)
    now = timezone.now()
    _bulk_patients(clinic, physician, 10)
    with CaptureQueriesContext(connection) as small:
        section.provider(clinic, now)
    _bulk_patients(clinic, physician, 190, start=10)
    with CaptureQueriesContext(connection) as large:
        section.provider(clinic, now)
    assert len(small.captured_queries) == len(large.captured_queries), [
        q["sql"][:120] for q in large.captured_queries
    ]


def test_a_pump_never_filled_says_so_with_its_implant_date(physician, nurse, patient, clinic):
    """Implanted ten days ago and never filled: the worklist must not say "empty since"
    the last record's instant, but that the pump holds no drug since its implant."""
    implanted = timezone.now().astimezone(UTC).replace(microsecond=0) - timedelta(days=10)
    services.record_implant(
        by=physician,
        patient=patient,
        pump_model="synchromed2-20",
        serial="NEVER-FILLED",
        implanted_at=implanted,
        fluid_path_initial="primed",
    )
    sections = worklist(by=nurse, clinic=clinic).sections
    refills = _section(sections, "refills")
    assert len(refills) == 1
    item = refills[0]
    assert item.urgent
    assert item.at == implanted
    assert item.text.startswith("Never filled: the pump was implanted ")
    assert "Record the first fill." in item.text
    assert "EMPTY since" not in item.text
    for low in _section(sections, "low-reservoir"):
        assert low.text.startswith("Never filled")
