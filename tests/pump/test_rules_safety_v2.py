"""Twin rules added for dose safety v2 (issue 9), computed by hand: concurrent boluses share
the maximum bolus rate, catheter revision, pump replacement, interrogation, programmed
concentration, the conservative battery before the start and forecasts that stop at EOS.
Times are hours after 2026-01-01T00:00Z."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from openidds.pump import ScenarioError, simulate

approx = pytest.approx
START = datetime(2026, 1, 1, tzinfo=UTC)
H = 1 / 24


def hours(h: float) -> datetime:
    return START + timedelta(hours=h)


def fill(at: float, volume: float = 20, conc: str = "10 mg/mL", **extra: object) -> dict:
    return {"at": at, "kind": "fill", "volume_ml": volume, "drugs": {"morphine": conc}, **extra}


def rate(at: float, ml_per_day: float) -> dict:
    return {"at": at, "kind": "program", "mode": "continuous", "rate_ml_per_day": ml_per_day}


def bolus(at: float, volume: float, duration: str) -> dict:
    return {"at": at, "kind": "bolus", "volume_ml": volume, "duration": duration}


# -- concurrent boluses share the maximum bolus rate ---------------------------------------


def test_bolus_during_a_priming_bolus_is_capped(scenario):
    # SynchroMed II: priming 24 mL/day (0.25 mL in 15 min) = the maximum bolus rate 24 mL/day.
    # A 0.1 mL bolus over 30 min (4.8 mL/day) from the same instant adds nothing while the
    # priming bolus runs (its first 0.05 mL is lost), then 4.8 mL/day for 15 min = 0.05 mL.
    sc = scenario(
        fill(0),
        {"at": 0, "kind": "priming_bolus"},
        bolus(0, 0.1, "PT30M"),
        end=1,
        fluid_path_initial="no-drug",
    )
    res = simulate(sc)
    assert res.pumped_ml_between(hours(0), hours(0.25)) == approx(0.25, abs=1e-12)
    assert res.pumped_ml_between(hours(0.25), hours(0.5)) == approx(0.05, abs=1e-12)
    assert res.totals.pumped_ml == approx(0.30, abs=1e-12)  # not 0.35


def test_overlapping_boluses_never_exceed_the_maximum(scenario):
    # two 0.4 mL boluses over 30 min each (19.2 mL/day) at once: 38.4 capped at 24 mL/day
    # on a 1 mL/day basal: 30 min x (24 + 1) mL/day = 0.5208 mL, not 0.8 + 0.0208
    res = simulate(scenario(fill(0), rate(0, 1.0), bolus(1, 0.4, "PT30M"), bolus(1, 0.4, "PT30M")))
    assert res.pumped_ml_between(hours(1), hours(1.5)) == approx(25 * 0.5 * H, abs=1e-12)


def test_a_single_bolus_on_the_basal_is_unchanged(scenario):
    # spec §5: a bolus at the maximum rate adds to the basal (24 + 1 mL/day)
    res = simulate(scenario(fill(0), rate(0, 1.0), bolus(1, 0.5, "PT30M")))
    assert res.pumped_ml_between(hours(1), hours(1.5)) == approx(0.5 + 0.5 * H, abs=1e-12)


# -- catheter revision ---------------------------------------------------------------------


def test_revision_puts_drug_free_fluid_at_the_tip(scenario):
    # primed path 0.25 mL of 10 mg/mL; at 24 h 0.1 mL of it is replaced by drug-free fluid:
    # at 1 mL/day the next 0.1 mL (2.4 h) carries no drug, then the kept 0.15 mL of drug.
    sc = scenario(
        fill(0),
        rate(0, 1.0),
        {"at": 24, "kind": "catheter_revision", "drug_free_ml": 0.1},
        end=48,
        fluid_path_initial="primed",
    )
    res = simulate(sc)
    assert res.delivered_mg_between(hours(24), hours(26.4))["morphine"] == approx(0, abs=1e-9)
    assert res.delivered_mg_between(hours(26.4), hours(27.4))["morphine"] == approx(
        10 * H, abs=1e-9
    )
    # the removed 0.1 mL of 10 mg/mL left with the old catheter: 1 mg unaccounted
    assert res.totals.unaccounted_mg["morphine"] == approx(1.0, abs=1e-9)
    assert res.totals.unaccounted_ml == approx(0.1, abs=1e-12)


def test_revision_with_a_new_path_volume(scenario):
    sc = scenario(
        fill(0),
        rate(0, 1.0),
        {"at": 24, "kind": "catheter_revision", "fluid_path_ml": 0.4},
        {"at": 25, "kind": "priming_bolus"},  # defaults to the new path, 0.4 mL
        end=48,
        fluid_path_initial="primed",
    )
    res = simulate(sc)
    outcome = next(o for o in res.events if o.kind == "priming_bolus")
    assert outcome.volume_ml == approx(0.4)
    with pytest.raises(ScenarioError, match="drug_free_ml"):
        simulate(
            scenario(
                fill(0),
                {"at": 1, "kind": "catheter_revision", "fluid_path_ml": 0.2, "drug_free_ml": 0.3},
            )
        )


# -- pump replacement ----------------------------------------------------------------------


def test_replacement_empties_the_old_pump_and_starts_a_new_one(scenario):
    sc = scenario(
        fill(0),
        rate(0, 1.0),
        {"at": 48, "kind": "pump_replacement", "model": "synchromed2-20"},
        fill(49, 20),
        {"at": 49, "kind": "priming_bolus"},
        rate(49, 1.0),
        end=72,
        fluid_path_initial="primed",
    )
    res = simulate(sc)
    # 20 - 2 days x 1 mL/day = 18 mL left the body with the old pump, + its 0.25 mL path
    assert res.totals.unaccounted_ml == approx(18.25, abs=1e-9)
    first_new = [o for o in res.events if o.kind == "fill"][1]
    assert first_new.expected_ml == 0.0
    # nothing moves between the replacement and the new program
    assert res.pumped_ml_between(hours(48), hours(49)) == approx(0, abs=1e-12)
    # a residual on the new pump's first fill is an error, as on any first fill
    bad = dict(sc)
    bad["event"] = [*sc["event"][:3], {**sc["event"][3], "residual_left_ml": 1.0}]
    with pytest.raises(ScenarioError, match="residual"):
        simulate(bad)
    # the new model's capacity applies to later fills
    over = dict(sc)
    over["event"] = [*sc["event"][:3], {**sc["event"][3], "volume_ml": 30}]
    with pytest.raises(ScenarioError, match="capacity"):
        simulate(over)


def test_replacement_renews_the_battery(scenario):
    battery = {"days_to_eri_at_zero_flow": 3.0, "days_per_ml": 0.0, "eos_after_eri_days": 1.0}
    sc = scenario(
        fill(0),
        rate(0, 1.0),
        {
            "at": 48,
            "kind": "pump_replacement",
            "days_to_eri_at_zero_flow": 10.0,
            "days_per_ml": 0.0,
            "eos_after_eri_days": 1.0,
        },
        fill(49),
        rate(49, 1.0),
        end=24 * 20,
        battery=battery,
    )
    res = simulate(sc)
    # the old battery would reach ERI at 72 h; the new one at 48 h + 10 days
    assert [a.kind for a in res.alarms if a.kind in ("eri", "eos")] == ["eri", "eos"]
    eri = next(a for a in res.alarms if a.kind == "eri")
    assert eri.at == hours(48 + 240)


# -- interrogation -------------------------------------------------------------------------


def test_interrogation_reports_the_difference_from_the_twin(scenario):
    sc = scenario(
        fill(0),
        rate(0, 1.0),
        {"at": 24, "kind": "interrogation", "reservoir_ml": 17.5, "battery": "ok"},
        {"at": 30, "kind": "interrogation"},
    )
    out = simulate(sc).to_dict()["events"]
    assert out[2]["expected_ml"] == approx(19.0)
    assert out[2]["discrepancy_ml"] == approx(-1.5)
    assert out[3]["discrepancy_ml"] is None
    with pytest.raises(ScenarioError, match="alarms"):
        simulate(scenario(fill(0), {"at": 1, "kind": "interrogation", "alarms": ["fire"]}))


# -- programmed concentration --------------------------------------------------------------


def test_programmed_concentration_is_what_the_pump_turns_the_dose_with(scenario):
    # the pump is told 20 mg/mL but holds 10: 5 mg/day -> 0.25 mL/day -> 2.5 mg/day given
    told = {
        "at": 0,
        "kind": "program",
        "mode": "continuous",
        "dose": {"morphine": "5 mg/day"},
        "programmed_concentration": {"morphine": "20 mg/mL"},
    }
    res = simulate(scenario(fill(0), told, end=24, fluid_path_ml=0.0))
    assert res.totals.pumped_ml == approx(0.25, abs=1e-12)
    assert res.totals.delivered_mg["morphine"] == approx(2.5, abs=1e-9)
    with pytest.raises(ScenarioError, match="programmed_concentration"):
        simulate(scenario(fill(0), {**told, "programmed_concentration": {"baclofen": "2 mg/mL"}}))


# -- battery before the start, forecasts after EOS -----------------------------------------


def test_eri_before_start_is_the_earliest_possible(scenario):
    # B0 = 100 days, k = 0.1 day/mL, started 100 days before the start with 200 mL pumped:
    # all of it at `started` gives ERI at started + (100 - 0.1 x 200) = 80 days, 20 days
    # before the start (spreading it evenly gave 100 / 1.2 = 83.3 days); EOS 30 days later,
    # 10 days after the start.
    battery = {
        "started": START - timedelta(days=100),
        "pumped_ml_before_start": 200.0,
        "days_to_eri_at_zero_flow": 100.0,
        "days_per_ml": 0.1,
        "eos_after_eri_days": 30.0,
    }
    res = simulate(scenario(fill(0), rate(0, 1.0), end=24 * 20, battery=battery)).to_dict()
    assert res["forecast"]["eri"] == "2025-12-12T00:00:00Z"
    assert res["forecast"]["eos"] == "2026-01-11T00:00:00Z"
    assert res["totals"]["pumped_ml"] == approx(10.0, abs=1e-9)  # nothing after EOS


def test_reservoir_forecasts_stop_at_eos(scenario):
    # 40 mL at 1 mL/day would reach the 2 mL alarm after 38 days, but EOS is at 10 days
    battery = {"days_to_eri_at_zero_flow": 8.0, "days_per_ml": 0.0, "eos_after_eri_days": 2.0}
    res = simulate(scenario(fill(0, 40), rate(0, 1.0), end=24, battery=battery)).to_dict()
    f = res["forecast"]
    assert f["eos"] == "2026-01-11T00:00:00Z"
    assert f["low_reservoir_alarm"] == {"nominal": None, "earliest": None, "latest": None}
    assert f["empty"]["nominal"] is None
    # a reservoir that runs low before EOS keeps its date
    res = simulate(scenario(fill(0, 5), rate(0, 1.0), end=24, battery=battery)).to_dict()
    assert res["forecast"]["low_reservoir_alarm"]["nominal"] == "2026-01-04T00:00:00Z"


# -- conservation with the new events ------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.floats(1, 200),
            st.sampled_from(["catheter_revision", "pump_replacement", "interrogation"]),
            st.floats(0.05, 0.6),
            st.floats(0, 1),
        ),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from(["no-drug", "primed"]),
)
def test_conservation_with_revisions_and_replacements(
    extra: list[tuple[float, str, float, float]], initial: str
) -> None:
    events: list[dict[str, Any]] = [fill(0, 20), rate(0, 2.0), bolus(5, 0.2, "PT1H")]
    for at, kind, path, share in extra:
        if kind == "catheter_revision":
            events.append(
                {"at": at, "kind": kind, "fluid_path_ml": path, "drug_free_ml": path * share}
            )
        elif kind == "pump_replacement":
            events += [
                {"at": at, "kind": kind},
                fill(at + 0.5, 10, "20 mg/mL"),
                {"at": at + 0.5, "kind": "priming_bolus"},
                rate(at + 0.5, 1.0),
            ]
        else:
            events.append({"at": at, "kind": kind, "reservoir_ml": 5.0})
    try:
        res = simulate(
            {
                "scenario": {"name": "p", "start": START, "end": hours(240), "timezone": "UTC"},
                "pump": {"model": "synchromed2-40", "fluid_path_initial": initial},
                "event": [{**e, "at": hours(e["at"])} for e in events],
            }
        )
    except ScenarioError:
        assume(False)
        raise
    t, e = res.totals, res.end_state
    rhs = e.reservoir_ml + e.fluid_path_ml + t.pumped_ml + t.aspirated_ml + t.unaccounted_ml
    assert math.isclose(t.filled_ml, rhs, abs_tol=1e-9 * max(1.0, t.filled_ml))
    lhs_mg = t.filled_mg["morphine"]
    rhs_mg = (
        e.reservoir_mg["morphine"]
        + e.fluid_path_mg["morphine"]
        + t.delivered_mg["morphine"]
        + t.aspirated_mg["morphine"]
        + t.unaccounted_mg["morphine"]
    )
    assert math.isclose(lhs_mg, rhs_mg, abs_tol=1e-9 * max(1.0, lhs_mg))
    assert e.reservoir_ml >= 0
