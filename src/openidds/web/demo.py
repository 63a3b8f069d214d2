"""Demo data: one clinic, a user of every role and 60 patients with two years of pump
history, made through the services (so the twin and the dose checks judge every record).

Deterministic (each patient's history is drawn from a generator seeded by its MRN, relative
to the day the demo is loaded) and idempotent (a patient that exists is left as it is).
Each history is built as a list of events first, replayed once by the twin and checked
once by the dose checks (no hard finding; the aspirated volumes are the twin's expected
residual plus a little noise), and only then recorded event by event through
``openidds.web.implants.services``.
"""

from __future__ import annotations

import random
import time as clock
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from openidds.web.accounts.models import Clinic, Membership, Role, User
from openidds.web.implants.models import Implant
from openidds.web.implants.services import record_implant, record_pump_event
from openidds.web.patients.models import Patient
from openidds.web.patients.services import create_patient

DEMO_PASSWORD = "openidds-demo"
DEMO_CLINIC_SLUG = "demo"
DEMO_USERS = (
    ("demo-admin", "Dana Admin", Role.CLINIC_ADMIN),
    ("demo-physician", "Dr. Paula Physician", Role.PHYSICIAN),
    ("demo-nurse", "Nina Nurse", Role.NURSE),
    ("demo-patient", "Pat Patient", Role.PATIENT),
)
DEMO_PATIENTS = (
    {
        "name": "Anna Becker",
        "mrn": "D-1001",
        "date_of_birth": date(1958, 3, 14),
        "indication": "cancer_pain",
        "opioid_tolerance": "tolerant",
        "allergies": "Penicillin (rash)",
        "emergency_contact_name": "Jonas Becker",
        "emergency_contact_phone": "+49 30 1234567",
        "time_zone": "Europe/Berlin",
    },
    {
        "name": "Carlos Mendes",
        "mrn": "D-1002",
        "date_of_birth": date(1971, 11, 2),
        "indication": "noncancer_pain",
        "opioid_tolerance": "tolerant",
        "time_zone": "Europe/Lisbon",
    },
    {
        "name": "Emily Walsh",
        "mrn": "D-1003",
        "date_of_birth": date(1989, 6, 30),
        "indication": "spasticity_spinal",
        "opioid_tolerance": "naive",
        "emergency_contact_name": "Liam Walsh",
        "emergency_contact_phone": "+353 1 555 0101",
        "time_zone": "Europe/Dublin",
    },
    {
        "name": "Hiro Tanaka",
        "mrn": "D-1004",
        "date_of_birth": date(2009, 1, 21),
        "indication": "spasticity_cerebral",
        "opioid_tolerance": "naive",
        "time_zone": "Asia/Tokyo",
    },
    {
        "name": "Margaret O'Neill",
        "mrn": "D-1005",
        "date_of_birth": date(1946, 8, 9),
        "indication": "cancer_pain",
        "opioid_tolerance": "tolerant",
        "allergies": "Latex",
        "time_zone": "America/New_York",
    },
    {
        "name": "Samir Haddad",
        "mrn": "D-1006",
        "date_of_birth": date(1964, 12, 1),
        "indication": "noncancer_pain",
        "opioid_tolerance": "naive",
        "time_zone": "Europe/Paris",
    },
)


#: The generated patients' identities (with the six above: 60 demo patients).
DEMO_PATIENT_COUNT = 60
_FIRST = (
    "Lena",
    "Jonas",
    "Sofia",
    "Mateo",
    "Aisha",
    "Noah",
    "Ingrid",
    "Tomasz",
    "Chloe",
    "Yusuf",
    "Maren",
    "Pedro",
    "Keiko",
    "Liam",
    "Fatima",
    "Oskar",
    "Elena",
    "Rafael",
    "Nora",
    "Viktor",
    "Amara",
    "Henrik",
    "Lucia",
    "Malik",
    "Greta",
    "Dmitri",
    "Ines",
    "Kwame",
    "Freya",
    "Omar",
)
_LAST = (
    "Schmidt",
    "Novak",
    "Rossi",
    "Garcia",
    "Haddad",
    "Jensen",
    "Kowalski",
    "Dubois",
    "Yilmaz",
    "Larsen",
    "Costa",
    "Sato",
    "Murphy",
    "Benali",
    "Lindqvist",
    "Moreau",
    "Silva",
    "Weber",
    "Petrov",
    "Okafor",
    "Berg",
    "Romano",
    "Fischer",
    "Nilsson",
    "Alves",
    "Ivanova",
    "Keller",
)
_ZONES = ("Europe/Berlin",) * 6 + (
    "Europe/Paris",
    "Europe/London",
    "America/New_York",
    "Europe/Madrid",
    "Asia/Tokyo",
)


def demo_patient_count() -> int:
    """60; ``OPENIDDS_DEMO_PATIENTS=N`` (1 to 60) loads only the first N, for quick tests."""
    import os

    try:
        wanted = int(os.environ.get("OPENIDDS_DEMO_PATIENTS", DEMO_PATIENT_COUNT))
    except ValueError:
        wanted = DEMO_PATIENT_COUNT
    return max(1, min(wanted, DEMO_PATIENT_COUNT))


@dataclass
class ImplantPlan:
    pump_model: str
    serial: str
    implanted_at: datetime
    fluid_path_initial: str = "no-drug"
    fixed_rate_ml_per_day: float | None = None
    catheter_model: str = "Ascenda 8781"
    catheter_length_cm: str = "45.0"
    #: (role that records it, instant, kind, fields in the scenario format)
    events: list[tuple[Role, datetime, str, dict[str, Any]]] = field(default_factory=list)
    #: the implant is replaced by the next one of the patient at this instant
    replaced_at: datetime | None = None
    #: refills whose aspirated volume is off by more than the pump's threshold: recorded
    #: through a refill visit, where a physician acknowledges the discrepancy
    discrepancies: set[datetime] = field(default_factory=set)


@dataclass
class PatientPlan:
    fields: dict[str, Any]
    implants: list[ImplantPlan]
    story: str = ""


def _amount_text(mg: float, unit: str) -> str:
    """``3.6 mg/day`` or, for small amounts, ``450 mcg/day`` (4 significant digits)."""
    if mg < 0.1:
        return f"{mg * 1000:.4g} mcg{unit}"
    return f"{mg:.4g} mg{unit}"


@dataclass
class _Regimen:
    """What a patient receives: the fill's drugs and the program (one drug's dose)."""

    drugs: dict[str, float]  # drug -> mg/mL
    dose_drug: str
    dose_mg_per_day: float
    stability_days: int
    #: (start "HH:MM", fraction of the daily dose's rate) of a daily flex program, or ()
    flex: tuple[tuple[str, float], ...] = ()
    #: constant-flow pump: the factory rate
    fixed_rate_ml_per_day: float | None = None

    @property
    def rate_ml_per_day(self) -> float:
        if self.fixed_rate_ml_per_day is not None:
            return self.fixed_rate_ml_per_day
        return self.dose_mg_per_day / self.drugs[self.dose_drug]

    def fill(self, volume_ml: float) -> dict[str, Any]:
        return {
            "volume_ml": round(volume_ml, 1),
            "drugs": {d: _amount_text(c, "/mL") for d, c in self.drugs.items()},
            "stability_days": self.stability_days,
        }

    def program(self) -> dict[str, Any] | None:
        if self.fixed_rate_ml_per_day is not None:
            return None
        if not self.flex:
            return {
                "mode": "continuous",
                "dose": {self.dose_drug: _amount_text(self.dose_mg_per_day, "/day")},
            }
        return {
            "mode": "flex",
            "period": "day",
            "steps": [
                {
                    "start": start,
                    "dose": {self.dose_drug: _amount_text(self.dose_mg_per_day * share, "/day")},
                }
                for start, share in self.flex
            ],
        }


def _regimen(kind: str, rng: random.Random) -> tuple[str, _Regimen]:
    """(pump model, starting regimen) of each kind of patient."""
    if kind == "morphine":
        return rng.choice(["synchromed2-20", "synchromed2-40"]), _Regimen(
            {"morphine": 10.0}, "morphine", rng.choice([2.0, 2.5, 3.0, 4.0]), 90
        )
    if kind == "hydromorphone-clonidine":
        return "synchromed2-20", _Regimen(
            {"hydromorphone": 5.0, "clonidine": 0.15}, "hydromorphone", rng.choice([1.0, 1.5]), 90
        )
    if kind == "morphine-bupivacaine":
        return "synchromed2-40", _Regimen(
            {"morphine": 10.0, "bupivacaine": 10.0}, "morphine", rng.choice([3.0, 4.0]), 90
        )
    if kind == "ziconotide":
        return "synchromed2-20", _Regimen({"ziconotide": 0.025}, "ziconotide", 0.0012, 84)
    if kind == "baclofen":
        model = rng.choice(["synchromed2-40", "prometra2-40"])
        return model, _Regimen(
            {"baclofen": 2.0 if model == "synchromed2-40" else 1.0},
            "baclofen",
            rng.choice([0.3, 0.4, 0.5]),
            180,
            flex=(("06:00", 1.2), ("12:00", 1.0), ("22:00", 0.8)),
        )
    if kind == "constant-flow":
        return "isomed-8472-35", _Regimen(
            {"morphine": 10.0}, "morphine", 5.0, 90, fixed_rate_ml_per_day=0.5
        )
    raise ValueError(kind)


def _at(day: datetime, rng: random.Random) -> datetime:
    """A clinic hour on that day (08:00–14:45 UTC, quarter hours)."""
    base = datetime.combine(day.date(), time(8, 0), tzinfo=UTC)
    return base + timedelta(minutes=15 * rng.randrange(0, 28))


def _grow(regimen: _Regimen, kind: str, rng: random.Random) -> _Regimen | None:
    """A dose change at a refill visit, or None (most visits change nothing)."""
    if regimen.fixed_rate_ml_per_day is not None or rng.random() > 0.35:
        return None
    if kind == "ziconotide":
        new = min(regimen.dose_mg_per_day + 0.0005, 0.0072)
    elif kind == "baclofen":
        new = max(min(regimen.dose_mg_per_day * rng.choice([0.9, 1.1, 1.15]), 0.9), 0.3)
    else:
        new = regimen.dose_mg_per_day * rng.choice([0.9, 1.1, 1.15, 1.2])
        new = min(new, 12.0 if regimen.dose_drug == "morphine" else 4.0)
    new = round(new, 4)
    if abs(new - regimen.dose_mg_per_day) < 1e-9:
        return None
    return _Regimen(
        regimen.drugs, regimen.dose_drug, new, regimen.stability_days, regimen.flex, None
    )


def _history(
    plan: ImplantPlan,
    kind: str,
    regimen: _Regimen,
    rng: random.Random,
    *,
    first_fill: datetime,
    until: datetime,
    now: datetime,
    prime: bool,
    last_due: float | None = None,
    ptm: bool = False,
    discrepancy: bool = False,
) -> None:
    """Fill, program and refills of one implant from ``first_fill`` to ``until``.

    ``last_due``: place the last refill so that the next is due ``last_due`` days from now
    (negative: overdue)."""
    from openidds.web.implants.models import pump_catalog

    model = pump_catalog().get(plan.pump_model)
    capacity = float(model.capacity_ml)
    threshold = float(model.low_reservoir_alarm_ml)
    accuracy = float(model.accuracy)
    events = plan.events
    t = first_fill
    events.append((Role.PHYSICIAN, t, "fill", regimen.fill(capacity)))
    if prime and regimen.fixed_rate_ml_per_day is None:
        events.append((Role.PHYSICIAN, t + timedelta(minutes=5), "priming_bolus", {}))
    program = regimen.program()
    if program is not None:
        events.append((Role.PHYSICIAN, t + timedelta(minutes=5), "program", program))
    if kind == "ziconotide":  # slow titration: +0.5 mcg/day a week for four weeks
        for week in range(1, 5):
            regimen = _grow(regimen, kind, random.Random(0)) or regimen
            regimen = _Regimen(
                regimen.drugs, regimen.dose_drug, round(0.0012 + 0.0005 * week, 4), 84
            )
            events.append(
                (Role.PHYSICIAN, t + timedelta(days=7 * week), "program", regimen.program() or {})
            )
    refill_index = 0
    big = rng.randrange(3, 8) if discrepancy else -1
    ptm_from = until - timedelta(days=rng.randrange(60, 120)) if ptm else None
    ptm_on = False
    while True:
        # the clinic books the refill before the recommended date (the low-reservoir alarm
        # at the fastest flow the pump's accuracy allows)
        days_to_low = (capacity - threshold) / (regimen.rate_ml_per_day * (1 + accuracy))
        interval = min(days_to_low * rng.uniform(0.75, 0.95), regimen.stability_days, 91.0)
        if kind == "ziconotide" and refill_index == 0:
            interval = 13.0  # first ziconotide refill of a naive pump within 14 days
        interval = max(interval, 12.0)
        nxt = _at(t + timedelta(days=interval), rng)
        if last_due is not None:
            earliest = (capacity - threshold) / (regimen.rate_ml_per_day * (1 + accuracy))
            due_days = min(earliest, float(regimen.stability_days))
            target = now + timedelta(days=last_due - due_days)
            if nxt >= target or nxt + timedelta(days=interval) > target:
                if target > t + timedelta(days=1):
                    nxt = _at(target, rng)
                else:
                    break
                last_due = None
                final = True
            else:
                final = False
        else:
            final = False
        if nxt > until:
            break
        fill = regimen.fill(capacity)
        fill["aspirated_ml"] = -1.0  # set from the twin's expected residual below
        if refill_index == big:
            fill["aspirated_ml"] = -2.0  # a discrepancy over the pump's threshold
        events.append((Role.NURSE, nxt, "fill", fill))
        changed = _grow(regimen, kind, rng) if not final else None
        if changed is not None:
            regimen = changed
            events.append(
                (Role.PHYSICIAN, nxt + timedelta(minutes=10), "program", regimen.program() or {})
            )
        if ptm_from is not None and not ptm_on and nxt >= ptm_from:
            ptm_on = True
            events.append(
                (
                    Role.PHYSICIAN,
                    nxt + timedelta(minutes=15),
                    "ptm_settings",
                    {
                        "dose": {regimen.dose_drug: "0.2 mg"},
                        "duration": "PT15M",
                        "lockout": "PT4H",
                        "max_per_24h": 4,
                    },
                )
            )
            press = nxt + timedelta(hours=6)
            while press < min(nxt + timedelta(days=21), now - timedelta(hours=1)):
                if rng.random() < 0.4:
                    events.append((Role.NURSE, press, "ptm_request", {}))
                press += timedelta(hours=rng.choice([9, 13, 20, 27]))
        refill_index += 1
        t = nxt
        if final:
            break


def _settle_aspirations(
    plan: ImplantPlan, patient_fields: dict[str, Any], rng: random.Random, until: datetime
) -> None:
    """Replay the implant once with the twin; aspirated volume = the twin's expected residual
    plus noise (SD 0.15 mL), or a discrepancy of 1.5–3 mL over the threshold where asked.
    Then check it once: a hard finding is a bug of this generator."""
    from openidds.dosing import check
    from openidds.pump import simulate

    scenario = _scenario(plan, patient_fields, until, aspirated=False)
    result = simulate(scenario)
    expected = [o.expected_ml for o in result.events if o.kind == "fill"]
    fills = [e for e in plan.events if e[2] == "fill"]
    threshold = float(result.scenario.pump.refill_discrepancy_ml)
    for (_, at, _, fields), residual in zip(fills, expected, strict=True):
        marker = fields.get("aspirated_ml")
        if marker is None or residual is None:
            continue
        if marker == -2.0:
            plan.discrepancies.add(at)
            value = residual - threshold - rng.uniform(1.5, 3.0)
        else:
            value = residual + rng.gauss(0.0, 0.15)
        fields["aspirated_ml"] = round(max(value, 0.0), 1)
    scenario = _scenario(plan, patient_fields, until, aspirated=True)
    simulate(scenario)
    hard = [f for f in check(scenario) if f.severity == "hard"]
    if hard:
        raise RuntimeError(f"demo history of {patient_fields['mrn']}: {hard[0].message}")


def _scenario(
    plan: ImplantPlan, patient_fields: dict[str, Any], until: datetime, *, aspirated: bool
) -> dict[str, Any]:
    pump: dict[str, Any] = {"model": plan.pump_model, "fluid_path_initial": plan.fluid_path_initial}
    if plan.fixed_rate_ml_per_day is not None:
        pump["fixed_rate_ml_per_day"] = plan.fixed_rate_ml_per_day
    events = []
    for _, at, kind, fields in plan.events:
        fields = dict(fields)
        if not aspirated:
            fields.pop("aspirated_ml", None)
        events.append({"at": at, "kind": kind, **fields})
    end = max([until, *(e["at"] for e in events)])
    return {
        "scenario": {
            "start": plan.implanted_at,
            "end": end,
            "timezone": patient_fields.get("time_zone", "UTC"),
        },
        "pump": pump,
        "patient": {
            "opioid_tolerance": patient_fields["opioid_tolerance"],
            "indication": patient_fields["indication"],
        },
        "event": events,
    }


_KINDS = (
    "morphine",
    "hydromorphone-clonidine",
    "baclofen",
    "morphine",
    "ziconotide",
    "morphine-bupivacaine",
    "constant-flow",
    "baclofen",
)
_INDICATION = {
    "morphine": ("cancer_pain", "noncancer_pain"),
    "hydromorphone-clonidine": ("noncancer_pain",),
    "morphine-bupivacaine": ("cancer_pain",),
    "ziconotide": ("noncancer_pain",),
    "baclofen": ("spasticity_spinal", "spasticity_cerebral"),
    "constant-flow": ("noncancer_pain",),
}
#: MRN -> the special case it shows
_SPECIAL = {
    "D-1010": "eri",
    "D-1011": "eos",
    "D-1012": "replaced",
    "D-1013": "overdue",
    "D-1014": "due-week",
    "D-1015": "due-week",
    "D-1016": "due-week",
    "D-1017": "recent",
    "D-1018": "recent",
    "D-1019": "recent",
}


def _patient_identity(number: int, rng: random.Random, kind: str) -> dict[str, Any]:
    indication = rng.choice(_INDICATION[kind])
    young = indication == "spasticity_cerebral"
    year = rng.randrange(1996, 2008) if young else rng.randrange(1940, 1985)
    return {
        "name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
        "mrn": f"D-{1000 + number}",
        "date_of_birth": date(year, rng.randrange(1, 13), rng.randrange(1, 29)),
        "indication": indication,
        "opioid_tolerance": "naive" if kind in {"baclofen", "ziconotide"} else "tolerant",
        "time_zone": rng.choice(_ZONES),
    }


def demo_plans(today: date) -> list[PatientPlan]:
    """Every demo patient but the first (Anna Becker keeps her short story): identity and
    implants with their events, relative to ``today``; the same for the same day."""
    return [patient_plan(number, today) for number in range(2, demo_patient_count() + 1)]


_NAMED_KINDS = {
    "D-1002": "morphine",
    "D-1003": "baclofen",
    "D-1004": "baclofen",
    "D-1005": "morphine-bupivacaine",
    "D-1006": "ziconotide",
}


def patient_plan(number: int, today: date) -> PatientPlan:
    """Demo patient ``number`` (MRN D-(1000 + number)): identity, implants and events, drawn
    from a generator seeded by the MRN, relative to ``today`` (the benchmark draws
    thousands the same way)."""
    now = datetime.combine(today, time(0, 0), tzinfo=UTC)  # never ahead of the clock
    named = {p["mrn"]: p for p in DEMO_PATIENTS[1:]}
    mrn = f"D-{1000 + number}"
    rng = random.Random(f"openidds-demo-{mrn}")
    kind = _NAMED_KINDS.get(mrn, _KINDS[number % len(_KINDS)])
    special = _SPECIAL.get(mrn, "")
    if special in {"eri", "eos", "replaced", "overdue", "due-week"}:
        kind = "morphine"
    fields = dict(named[mrn]) if mrn in named else _patient_identity(number, rng, kind)
    model, regimen = _regimen(kind, rng)
    start = now - timedelta(days=rng.randrange(700, 760))
    if special == "recent":
        start = now - timedelta(days=rng.randrange(40, 120))
    plan = ImplantPlan(
        pump_model=model,
        serial=f"{model.split('-')[0][:3].upper()}-{number:04d}",
        implanted_at=_at(start, rng),
        fixed_rate_ml_per_day=regimen.fixed_rate_ml_per_day,
    )
    story = kind
    prime = True
    first_fill = plan.implanted_at + timedelta(hours=2)
    if special in {"eri", "eos", "replaced"}:
        # an older pump whose records begin two years ago (the clinic's first refill in
        # OpenIDDS); the battery has aged since the implant date
        age = {"eri": 2150, "eos": 2600, "replaced": 2100}[special]
        plan.pump_model, plan.serial = "synchromed2-20", f"SYN-{number:04d}"
        plan.implanted_at = _at(now - timedelta(days=age), rng)
        plan.fluid_path_initial = "primed"
        first_fill = _at(now - timedelta(days=730), rng)
        prime = False
        regimen = _Regimen({"morphine": 10.0}, "morphine", 5.0, 90)
    until = now - timedelta(hours=1)
    if special == "eos":
        until = now - timedelta(days=260)  # lost to follow-up; the pump ran to EOS
        story = "morphine; pump past end of service (lost to follow-up)"
    implants = [plan]
    if special == "replaced":
        replaced_at = _at(now - timedelta(days=240), rng)
        plan.replaced_at = replaced_at
        _history(
            plan,
            kind,
            regimen,
            rng,
            first_fill=first_fill,
            until=replaced_at - timedelta(days=1),
            now=now,
            prime=False,
        )
        new = ImplantPlan(
            pump_model="synchromed2-40", serial=f"SYN-{number:04d}-B", implanted_at=replaced_at
        )
        _history(
            new,
            kind,
            regimen,
            rng,
            first_fill=replaced_at + timedelta(hours=2),
            until=until,
            now=now,
            prime=True,
        )
        implants.append(new)
        story = "morphine; pump near ERI replaced 8 months ago"
    else:
        _history(
            plan,
            kind,
            regimen,
            rng,
            first_fill=first_fill,
            until=until,
            now=now,
            prime=prime,
            last_due={"overdue": -4.0, "due-week": float(2 + number % 5)}.get(special),
            ptm=kind in {"morphine", "morphine-bupivacaine"} and number % 3 == 0 and not special,
            discrepancy=number % 9 == 4,
        )
        if special:
            story = f"{kind}; {special}"
    return PatientPlan(fields=fields, implants=implants, story=story)


def validate_plan(plan: PatientPlan, now: datetime) -> None:
    """Replay each implant once with the twin (setting the aspirated volumes from its
    expected residuals) and check it once with the dose checks (no hard finding)."""
    rng = random.Random(f"openidds-demo-aspirations-{plan.fields['mrn']}")
    for implant_plan in plan.implants:
        _settle_aspirations(implant_plan, plan.fields, rng, implant_plan.replaced_at or now)


def _refill_visit(
    patient: Patient, users: dict[Role, User], at: datetime, fields: dict[str, Any]
) -> None:
    """A refill with a discrepancy, through the refill visit: the nurse starts it, confirms
    the checklist and records the aspirated volume; the physician acknowledges the
    discrepancy; the nurse completes the fill."""
    from openidds.web.refills import services as refills
    from openidds.web.refills.models import ChecklistItem, VisitStatus

    nurse, physician = users[Role.NURSE], users[Role.PHYSICIAN]
    visit = refills.start_visit(by=nurse, patient=patient, at=at)
    visit = refills.record_checklist(by=nurse, visit=visit, items=ChecklistItem.values)
    visit = refills.record_aspiration(by=nurse, visit=visit, aspirated_ml=fields["aspirated_ml"])
    if visit.status == VisitStatus.AWAITING_ACKNOWLEDGEMENT:
        refills.acknowledge_discrepancy(
            by=physician,
            visit=visit,
            note="Pocket examined, needle position confirmed by aspiration; the pump was "
            "interrogated and runs as programmed. Proceed with the refill.",
        )
        visit.refresh_from_db()
    refills.complete_refill(
        by=nurse,
        visit=visit,
        volume_ml=fields["volume_ml"],
        drugs=fields["drugs"],
        drug_lot=f"LOT-{at:%y%m%d}",
        drug_expiry=(at + timedelta(days=365)).date(),
    )


def _record_plan(
    plan: PatientPlan, patient: Patient, users: dict[Role, User], now: datetime
) -> int:
    validate_plan(plan, now)
    previous: Implant | None = None
    for implant_plan in plan.implants:
        implant = record_implant(
            by=users[Role.PHYSICIAN],
            patient=patient,
            pump_model=implant_plan.pump_model,
            serial=implant_plan.serial,
            implanted_at=implant_plan.implanted_at,
            catheter_model=implant_plan.catheter_model,
            catheter_length_cm=implant_plan.catheter_length_cm,
            fluid_path_initial=implant_plan.fluid_path_initial,
            fixed_rate_ml_per_day=implant_plan.fixed_rate_ml_per_day,
            replaces=previous,
        )
        for role, at, kind, fields in implant_plan.events:
            if kind == "fill" and at in implant_plan.discrepancies:
                _refill_visit(patient, users, at, fields)
                continue
            record_pump_event(by=users[role], implant=implant, kind=kind, at=at, fields=fields)
        previous = implant
    return len(plan.implants)


@dataclass(frozen=True)
class DemoSummary:
    clinic: Clinic
    users_created: int
    patients_created: int
    implants_created: int = 0
    pump_events_created: int = 0
    seconds: float = 0.0


@transaction.atomic
def load_demo(*, today: date | None = None) -> DemoSummary:
    """Create what is missing of the demo clinic; existing rows are left as they are
    (except that the demo users' password, role and any log-in lock-out are reset).

    A patient that already exists keeps their records; a missing one is created with their
    whole history (so a second run creates nothing)."""
    from axes.utils import reset as reset_lockout

    from openidds.web.implants.models import PumpEvent
    from openidds.web.worklists.snapshots import deferred_refresh

    started = clock.perf_counter()
    clinic, _ = Clinic.objects.get_or_create(
        slug=DEMO_CLINIC_SLUG, defaults={"name": "OpenIDDS Demo Pain Clinic"}
    )
    users_created = 0
    users: dict[Role, User] = {}
    for username, display_name, role in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username, defaults={"display_name": display_name}
        )
        users_created += created
        user.set_password(DEMO_PASSWORD)
        user.is_active = True
        user.save()
        reset_lockout(username=username)
        Membership.objects.update_or_create(user=user, clinic=clinic, defaults={"role": role})
        users[role] = user
    events_before = PumpEvent.objects.filter(implant__patient__clinic=clinic).count()
    patients_created = 0
    implants_created = 0
    existing = set(Patient.objects.filter(clinic=clinic).values_list("mrn", flat=True))
    with deferred_refresh():
        first_fields = DEMO_PATIENTS[0]
        if first_fields["mrn"] not in existing:
            first = create_patient(by=users[Role.PHYSICIAN], clinic=clinic, **first_fields)
            patients_created += 1
            _demo_pump(users[Role.PHYSICIAN], users[Role.NURSE], first)
            implants_created += 1
        now = timezone.now()
        for plan in demo_plans(today or now.astimezone(UTC).date()):
            if plan.fields["mrn"] in existing:
                continue
            patient = create_patient(by=users[Role.PHYSICIAN], clinic=clinic, **plan.fields)
            patients_created += 1
            implants_created += _record_plan(plan, patient, users, now)
    events = PumpEvent.objects.filter(implant__patient__clinic=clinic).count() - events_before
    return DemoSummary(
        clinic,
        users_created,
        patients_created,
        implants_created,
        events,
        clock.perf_counter() - started,
    )


def _demo_pump(physician: User, nurse: User, patient: Patient) -> None:
    """A SynchroMed II implanted 50 days ago (at 08:00 UTC) with a priming bolus, morphine
    3 mg/day, a refill by the nurse at day 30 and an increase to 4 mg/day: every record
    through the services, so the twin and the dose checks judged each one."""
    today = timezone.now().astimezone(UTC).date()
    t0 = datetime.combine(today - timedelta(days=50), time(8, 0), tzinfo=UTC)
    implant = record_implant(
        by=physician,
        patient=patient,
        pump_model="synchromed2-20",
        serial="NGP-DEMO-0001",
        implanted_at=t0,
        catheter_model="Ascenda 8781",
        catheter_length_cm="45.0",
        fluid_path_initial="no-drug",
    )
    morphine = {"morphine": "10 mg/mL"}
    steps: list[tuple[User, datetime, str, dict[str, Any]]] = [
        (physician, t0 + timedelta(hours=2), "fill", {"volume_ml": 20.0, "drugs": morphine}),
        (physician, t0 + timedelta(hours=2, minutes=5), "priming_bolus", {}),
        (
            physician,
            t0 + timedelta(hours=2, minutes=5),
            "program",
            {"mode": "continuous", "dose": {"morphine": "3 mg/day"}},
        ),
        (
            nurse,
            t0 + timedelta(days=30),
            "fill",
            {"aspirated_ml": 10.6, "volume_ml": 20.0, "drugs": morphine, "stability_days": 90},
        ),
        (
            physician,
            t0 + timedelta(days=30, minutes=10),
            "program",
            {"mode": "continuous", "dose": {"morphine": "4 mg/day"}},
        ),
    ]
    for by, at, kind, fields in steps:
        record_pump_event(by=by, implant=implant, kind=kind, at=at, fields=fields)
