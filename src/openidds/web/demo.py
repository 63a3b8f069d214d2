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
import secrets
import time as clock
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib.auth.hashers import Argon2PasswordHasher
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
    ("demo-patient", "Anna Becker", Role.PATIENT),
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


#: The written reasons a physician gives for accepting each soft finding of the dose checks
#: at a demo dose change (each prescription stores only the ones its findings needed).
SOFT_REASONS = {
    "dose_increase_too_large": "Titration per protocol: pain not controlled at the current "
    "dose; patient reviewed, no sedation or slowed breathing. Nurse to call in 48 h.",
    "dose_increase_too_soon": "Patient reviewed today: pain uncontrolled since the last "
    "change, no sedation; increase agreed with the patient and caregiver, review in 1 week.",
    "starting_dose_above_range": "Starting dose from the screening trial response; patient "
    "reviewed and observed overnight after the implant.",
    "daily_dose_above_max": "Dose reached by stepwise titration with good tolerance; "
    "discussed at the pain team meeting, patient reviewed.",
    "ptm_daily_dose_above_max": "PTM limits reviewed with the patient: lockout and maximum "
    "per 24 h as in the trial, which the patient tolerated without sedation.",
    "concentration_change_without_bridge": "Same drug and concentration as before; the "
    "change is the residual mixing only, patient reviewed.",
    "program_not_updated_after_concentration_change": "Program reviewed at the refill; the "
    "rate is intended as it is.",
    "refill_beyond_stability": "Next refill booked before the stability date, patient "
    "informed of the date.",
    "concentration_above_max": "Concentration chosen to keep refill intervals practical; "
    "discussed with pharmacy, patient reviewed.",
}
#: The physician's written note on a refill discrepancy before the fill goes ahead.
DISCREPANCY_NOTE = (
    "Pocket examined, needle position confirmed by aspiration; the pump was interrogated "
    "and runs as programmed. Proceed with the refill."
)


@contextmanager
def _clock(instant: datetime) -> Iterator[None]:
    """The services' clock (``django.utils.timezone.now``) at ``instant``, so that a record
    of the demo's past is written as on its day: a refill visit started and completed then,
    a prescription signed then, a diary entry written then (the diary takes entries at most
    a few days back). The audit events keep the real time of the load."""
    real = timezone.now
    timezone.now = lambda: instant
    try:
        yield
    finally:
        timezone.now = real


def _refill_visit(
    patient: Patient, users: dict[Role, User], at: datetime, fields: dict[str, Any]
) -> None:
    """A refill through the refill visit, as the nurse does it: start, the pocket-fill
    checklist, the aspirated volume (the discrepancy check runs at once); a discrepancy over
    the pump's threshold waits for the physician's acknowledgement; then the fill (drug lot
    and expiry) and the next refill date."""
    from openidds.web.refills import services as refills
    from openidds.web.refills.models import ChecklistItem, VisitStatus

    nurse, physician = users[Role.NURSE], users[Role.PHYSICIAN]
    with _clock(at):
        visit = refills.start_visit(by=nurse, patient=patient, at=at)
    with _clock(at + timedelta(minutes=2)):
        visit = refills.record_checklist(by=nurse, visit=visit, items=ChecklistItem.values)
    with _clock(at + timedelta(minutes=4)):
        visit = refills.record_aspiration(
            by=nurse, visit=visit, aspirated_ml=fields["aspirated_ml"]
        )
    if visit.status == VisitStatus.AWAITING_ACKNOWLEDGEMENT:
        with _clock(at + timedelta(minutes=6)):
            refills.acknowledge_discrepancy(by=physician, visit=visit, note=DISCREPANCY_NOTE)
        visit.refresh_from_db()
    with _clock(at + timedelta(minutes=8)):
        refills.complete_refill(
            by=nurse,
            visit=visit,
            volume_ml=fields["volume_ml"],
            drugs=fields["drugs"],
            drug_lot=f"LOT-{at:%y%m%d}",
            drug_expiry=(at + timedelta(days=365)).date(),
        )


def _prescribe(
    patient: Patient, physician: User, changes: list[tuple[datetime, str, dict[str, Any]]]
) -> None:
    """The physician's changes of one sitting as one signed prescription: the checks and the
    twin judge them, each soft finding gets its written reason, the physician
    re-authenticates with their password."""
    from openidds.web.prescriptions.services import prescribe

    with _clock(changes[0][0]):
        prescribe(
            by=physician,
            patient=patient,
            changes=[{"kind": kind, "at": at, "fields": fields} for at, kind, fields in changes],
            reasons=dict(SOFT_REASONS),
            password=DEMO_PASSWORD,
        )


#: Changes of a physician within this time of the first one are one prescription.
SITTING = timedelta(hours=1)


def _record_events(
    plan: ImplantPlan, implant: Implant, patient: Patient, users: dict[Role, User]
) -> None:
    """Record one implant's events through the services a clinic uses: the physician's
    changes (first fill, priming bolus, programs, boluses, PTM settings) as signed
    prescriptions, the nurse's refills as refill visits, PTM requests as observed events."""
    pending: list[tuple[datetime, str, dict[str, Any]]] = []

    def flush() -> None:
        if pending:
            _prescribe(patient, users[Role.PHYSICIAN], pending)
            pending.clear()

    # in time order (a PTM's requests were drawn after the visit that enabled it, and may
    # run past the next visit); events at one instant keep their order
    for role, at, kind, fields in sorted(plan.events, key=lambda e: e[1]):
        if kind == "fill" and "aspirated_ml" in fields:
            flush()
            _refill_visit(patient, users, at, fields)
        elif role == Role.NURSE:
            flush()
            with _clock(at):
                record_pump_event(by=users[role], implant=implant, kind=kind, at=at, fields=fields)
        else:
            if pending and at - pending[0][0] > SITTING:
                flush()
            pending.append((at, kind, fields))
    flush()


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
        _record_events(implant_plan, implant, patient, users)
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
class DemoLoadArgon2PasswordHasher(Argon2PasswordHasher):
    """Only while the demo loads: argon2 at its lowest cost, for the public demo password.

    Every demo dose change is a signed prescription that re-authenticates the physician;
    at the real cost (about 0.12 s a check) the ~370 signatures took 45 s of the load. The
    demo users' passwords are stored with the normal hasher when the load ends."""

    time_cost = 1
    memory_cost = 8
    parallelism = 1


@contextmanager
def _cheap_demo_passwords() -> Iterator[None]:
    from django.conf import settings
    from django.test.utils import override_settings

    hasher = f"{__name__}.{DemoLoadArgon2PasswordHasher.__name__}"
    with override_settings(PASSWORD_HASHERS=[hasher, *settings.PASSWORD_HASHERS]):
        yield


def load_demo(*, today: date | None = None) -> DemoSummary:
    """Create what is missing of the demo clinic; existing rows are left as they are
    (except that the demo users' password, role and any log-in lock-out are reset).

    A patient that already exists keeps their records; a missing one is created with their
    whole history (so a second run creates nothing)."""
    with _cheap_demo_passwords():
        summary = _load_demo(today=today)
    # The demo log-ins with the normal password hasher (argon2 at its configured cost).
    for user in User.objects.filter(username__in=[u for u, _n, _r in DEMO_USERS]):
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return summary


def _load_demo(*, today: date | None = None) -> DemoSummary:
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
        reset_lockout(username=username)
        if role == Role.PATIENT:
            continue  # made by accepting the portal invitation below
        user, created = User.objects.get_or_create(
            username=username, defaults={"display_name": display_name}
        )
        users_created += created
        user.set_password(DEMO_PASSWORD)
        user.is_active = True
        user.save()
        Membership.objects.update_or_create(
            user=user, clinic=clinic, defaults={"role": role, "is_active": True}
        )
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
            _demo_pump(users, first, today or timezone.now().astimezone(UTC).date())
            implants_created += 1
        now = timezone.now()
        for plan in demo_plans(today or now.astimezone(UTC).date()):
            if plan.fields["mrn"] in existing:
                continue
            patient = create_patient(by=users[Role.PHYSICIAN], clinic=clinic, **plan.fields)
            patients_created += 1
            implants_created += _record_plan(plan, patient, users, now)
        portal_patient = Patient.objects.get(clinic=clinic, mrn=PORTAL_PATIENT_MRN)
        users_created += _portal_user(clinic, users, portal_patient)
        _portal_story(clinic, users, portal_patient)
    events = PumpEvent.objects.filter(implant__patient__clinic=clinic).count() - events_before
    return DemoSummary(
        clinic,
        users_created,
        patients_created,
        implants_created,
        events,
        clock.perf_counter() - started,
    )


def anna_plan(today: date) -> ImplantPlan:
    """Anna Becker's SynchroMed II, implanted 50 days before ``today`` at 08:00 UTC: first
    fill, priming bolus and morphine 3 mg/day; a refill by the nurse at day 30 and an
    increase to 4 mg/day."""
    t0 = datetime.combine(today - timedelta(days=ANNA_IMPLANT_DAYS_AGO), time(8, 0), tzinfo=UTC)
    morphine = {"morphine": "10 mg/mL"}
    plan = ImplantPlan(pump_model="synchromed2-20", serial="NGP-DEMO-0001", implanted_at=t0)
    plan.events = [
        (
            Role.PHYSICIAN,
            t0 + timedelta(hours=2),
            "fill",
            {"volume_ml": 20.0, "drugs": morphine, "stability_days": 90},
        ),
        (Role.PHYSICIAN, t0 + timedelta(hours=2, minutes=5), "priming_bolus", {}),
        (
            Role.PHYSICIAN,
            t0 + timedelta(hours=2, minutes=5),
            "program",
            {"mode": "continuous", "dose": {"morphine": "3 mg/day"}},
        ),
        (
            Role.NURSE,
            t0 + timedelta(days=30),
            "fill",
            {"aspirated_ml": 10.6, "volume_ml": 20.0, "drugs": morphine, "stability_days": 90},
        ),
        (
            Role.PHYSICIAN,
            t0 + timedelta(days=30, minutes=10),
            "program",
            {"mode": "continuous", "dose": {"morphine": "4 mg/day"}},
        ),
    ]
    return plan


#: Anna Becker's implant: this many days before the demo's day (her recovery's week 8).
ANNA_IMPLANT_DAYS_AGO = 50


def _demo_pump(users: dict[Role, User], patient: Patient, today: date) -> None:
    """Anna Becker's implant and its records, through the services."""
    plan = anna_plan(today)
    implant = record_implant(
        by=users[Role.PHYSICIAN],
        patient=patient,
        pump_model=plan.pump_model,
        serial=plan.serial,
        implanted_at=plan.implanted_at,
        catheter_model=plan.catheter_model,
        catheter_length_cm=plan.catheter_length_cm,
        fluid_path_initial=plan.fluid_path_initial,
    )
    _record_events(plan, implant, patient, users)


# -- the demo patient's portal ------------------------------------------------------------

#: The patient whose portal the log-in ``demo-patient`` opens (a recent implant, so that
#: "My recovery" is in its last week; the diary has a pre-implant baseline).
PORTAL_PATIENT_MRN = "D-1001"
CLINIC_CONTACT = {
    "phone_24h": "+49 30 4505 0000",
    "phone_office": "+49 30 4505 1234",
    "address": "OpenIDDS Demo Pain Clinic, Pump Programme, Luisenstraße 7, 10117 Berlin",
    "email": "pump-team@demo-clinic.example",
    "emergency_note": "Unusual sleepiness or slow breathing: call 112 first, then us.",
}


def _portal_user(clinic: Clinic, users: dict[Role, User], patient: Patient) -> int:
    """``demo-patient``: the patient's portal log-in, made as a patient makes it (the nurse
    invites, the patient accepts the invitation with a user name and password). On a later
    run the user is kept and, should its account have been revoked, linked again. Returns
    the number of users created (0 or 1)."""
    from openidds.web.portal import services as portal
    from openidds.web.portal.models import PortalAccount, Relation

    username, display_name, role = next(u for u in DEMO_USERS if u[2] == Role.PATIENT)
    user = User.objects.filter(username=username).first()
    created = 0
    if user is None:
        issued = portal.invite_patient(by=users[Role.NURSE], patient=patient)
        # Django's password validators refuse the shared demo password as too like the
        # user name: the invitation is accepted with a strong one, then the demo password
        # is set as for every demo user
        first_password = secrets.token_urlsafe(24)
        account = portal.accept_invitation(
            token=issued.token,
            username=username,
            password=first_password,
            password_again=first_password,
        )
        user = account.user
        created = 1
    elif not PortalAccount.objects.filter(
        user=user, patient=patient, relation=Relation.PATIENT, revoked_at__isnull=True
    ).exists():
        # a demo database from before the portal, or a revoked demo account: the rows the
        # invitation would have made (the portal's tests make them the same way)
        PortalAccount.objects.filter(
            patient=patient, relation=Relation.PATIENT, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        PortalAccount.objects.create(user=user, patient=patient, relation=Relation.PATIENT)
    user.display_name = display_name
    user.set_password(DEMO_PASSWORD)
    user.is_active = True
    user.save()
    Membership.objects.update_or_create(
        user=user, clinic=clinic, defaults={"role": role, "is_active": True}
    )
    users[role] = user
    return created


def _capped(instant: datetime) -> datetime:
    """Never after the real clock (a record "today" is written a moment ago)."""
    return min(instant, timezone.now() - timedelta(minutes=5))


def _portal_story(clinic: Clinic, users: dict[Role, User], patient: Patient) -> None:
    """What the patient and the clinic wrote in the portal since before the implant: the
    clinic's 24-hour number, the next refill appointment and, once (when the patient has no
    diary yet), the diary with its pre-implant baseline, the weekly BPI and monthly ODI,
    the recovery check-ins (a red flag a nurse resolved, one still open), the pain
    management plan and its progress, a question answered by the clinic and a published
    story. Every record through the services of the portal, diary and community apps, each
    on its day (the services' clock set to it)."""
    from openidds.web.community import services as community
    from openidds.web.diary import services as diary
    from openidds.web.diary.models import DiaryEntry, RedFlag
    from openidds.web.portal import services as portal

    admin, nurse = users[Role.CLINIC_ADMIN], users[Role.NURSE]
    physician, me = users[Role.PHYSICIAN], users[Role.PATIENT]
    if portal.clinic_contact(clinic) is None:
        portal.save_clinic_contact(by=admin, clinic=clinic, **CLINIC_CONTACT)
    implant = Implant.objects.filter(patient=patient).order_by("-implanted_at").first()
    if implant is None:
        return
    if not portal.upcoming_appointments(patient):
        _book_refill(patient, nurse)
    if DiaryEntry.objects.filter(patient=patient).exists():
        return
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(patient.time_zone)
    t0 = implant.implanted_at
    implant_day = t0.astimezone(zone).date()
    rng = random.Random(f"openidds-demo-portal-{patient.mrn}")

    def on(day: int, hour: float = 10.0) -> Any:
        """The services' clock at ``hour`` (the patient's local time) on day ``day`` after
        the implant (negative: before); never after the real clock."""
        local = datetime.combine(implant_day + timedelta(days=day), time(0, 0), tzinfo=zone)
        return _clock(_capped((local + timedelta(hours=hour)).astimezone(UTC)))

    days_now = (timezone.now().astimezone(zone).date() - implant_day).days
    adl = ("bathing", "dressing", "toileting", "transferring", "feeding", "telephone")
    more_adl = ("food_preparation", "medications", "walking_outdoors", "shopping", "transport")
    for day in [*range(-27, 0, 2), *range(2, days_now + 1)]:
        if day > 14 and day % 2 and day != days_now:
            continue  # every day in the first two weeks, then most days
        # pain on the 0-10 scale: about 7 before the implant, settling near 3-4 by week 6
        better = 0.0 if day < 0 else min(day / 42, 1.0)
        average = round(7.2 - 3.6 * better + rng.uniform(-0.7, 0.7))
        done = list(adl[: 3 + round(3 * better)]) + list(more_adl[: round(5 * better)])
        with on(day, 20.5):
            diary.record_diary_entry(
                by=me,
                patient=patient,
                pain_now=max(0, average + rng.choice([-1, 0, 0, 1])),
                pain_average=average,
                pain_worst=min(10, average + 2),
                interference={
                    key: max(0, min(10, round(7.0 - 4.0 * better + rng.uniform(-1, 1))))
                    for key in (
                        "general_activity",
                        "mood",
                        "walking",
                        "normal_work",
                        "relations",
                        "sleep",
                        "enjoyment",
                    )
                },
                adl_done=done,
                sleep_hours=round(4.5 + 2.5 * better + rng.uniform(-0.5, 0.5), 1),
                sleep_quality="fairly_bad" if better < 0.5 else "fairly_good",
                note=_DIARY_NOTES.get(day, ""),
            )
    for day in [-21, -14, -7, *range(7, days_now + 1, 7)]:
        better = 0.0 if day < 0 else min(day / 42, 1.0)
        with on(day, 20.75):
            diary.record_questionnaire(
                by=me,
                patient=patient,
                kind="bpi",
                answers={
                    "worst": round(9 - 4 * better),
                    "least": round(5 - 3 * better),
                    "average": round(7 - 3.5 * better),
                    "now": round(7 - 4 * better),
                    "general_activity": round(8 - 4 * better),
                    "mood": round(7 - 4 * better),
                    "walking": round(8 - 4 * better),
                    "normal_work": round(8 - 3 * better),
                    "relations": round(5 - 3 * better),
                    "sleep": round(8 - 5 * better),
                    "enjoyment": round(7 - 4 * better),
                    "relief_percent": int(round(10 + 50 * better, -1)),
                },
            )
    for day, points in ((-10, 3), (20, 2), (min(49, days_now), 1)):
        with on(day, 21):
            diary.record_questionnaire(
                by=me,
                patient=patient,
                kind="odi",
                answers={
                    "pain_intensity": points + 1,
                    "personal_care": points - 1 if points else 0,
                    "lifting": points + 1,
                    "walking": points,
                    "sitting": points,
                    "standing": points + 1,
                    "sleeping": points,
                    "sex_life": points,
                    "social_life": points,
                    "travelling": points + 1,
                },
            )
    _checkins(patient, users, on, days_now)
    with on(3, 11):
        plan = diary.write_plan(
            by=physician,
            patient=patient,
            goals=[
                {
                    "text": "Walk 30 minutes without stopping",
                    "measure": "Longest walk without a rest",
                    "target": 30,
                    "unit": "minutes",
                    "direction": "at_least",
                },
                {
                    "text": "Sleep six hours a night",
                    "measure": "Hours slept last night",
                    "target": 6,
                    "unit": "hours",
                    "direction": "at_least",
                },
            ],
            therapies=[
                {
                    "kind": "pump",
                    "description": "Intrathecal morphine, adjusted at the refill visits",
                    "schedule": "Refill about every 4 weeks",
                },
                {
                    "kind": "physiotherapy",
                    "description": "Gentle mobilisation, no bending or twisting for 6 weeks",
                    "schedule": "Twice a week from week 3",
                },
                {
                    "kind": "exercise",
                    "description": "Walking, a little further each week",
                    "schedule": "Every day",
                },
                {
                    "kind": "psychology",
                    "description": "Pain coping group",
                    "schedule": "Fortnightly",
                },
            ],
            review_dates=[(t0 + timedelta(days=d)).date() for d in (28, 56, 90)],
            agreed_on=(t0 + timedelta(days=3)).date(),
            note="Agreed with Anna and her son Jonas after the implant.",
        )
    walk, sleep = (g["key"] for g in plan.goals)
    progress = ((10, 5, 4.5), (17, 10, 5), (24, 15, 5.5), (31, 20, 6), (38, 20, 6), (45, 25, 6.5))
    for day, minutes, hours in progress:
        if day > days_now:
            break
        with on(day, 18):
            diary.record_goal_progress(by=me, patient=patient, goal_key=walk, value=minutes)
            diary.record_goal_progress(by=me, patient=patient, goal_key=sleep, value=hours)
    with on(12, 16):
        question = community.ask_question(
            by=me,
            patient=patient,
            recipient="clinic",
            subject="Can I sleep on my side with the pump?",
            body="Since the operation I sleep on my back only. The scar over the pump still "
            "pulls a little when I turn. May I sleep on the side of the pump yet?",
        )
    with on(13, 9.25):
        community.write_message(
            by=nurse,
            question=question,
            body="Dear Mrs Becker, yes: lying on the pump does not harm it. While the wound "
            "heals (about 6 weeks) a soft pillow against your belly makes it more "
            "comfortable. If the scar becomes red, warm or wet, call us on the 24-hour "
            "number. Nina, pump nurse",
        )
    with on(min(45, days_now), 20):
        story = community.save_story(
            by=me,
            patient=patient,
            title="Gardening again",
            body="For two years the cancer pain decided my days. The tablets made me so "
            "tired that I slept through my grandson's visits.\n\nThe pump was a big step. "
            "The first weeks after the operation I was careful: no bending, no lifting, "
            "short walks. The nurses called me, and the diary helped me see that it was "
            "getting better.\n\nSeven weeks on I walk to the bakery and back, and last "
            "Sunday I planted tomatoes with my grandson. If you are unsure about a pump, "
            "ask to talk to someone who has one.",
            scope="whole",
            name_choice="first_name",
            submit=True,
        )
    with on(min(46, days_now), 9.5):
        community.moderate_story(by=nurse, story=story, decision="approve")
    assert RedFlag.objects.filter(patient=patient, resolution__isnull=True).exists()


_DIARY_NOTES = {
    -27: "Pain in the back and hips most of the day; the tablets make me sleepy.",
    -1: "Operation tomorrow. Nervous but hopeful.",
    2: "Home from hospital. Wound sore, walking slowly.",
    9: "The wound looks red at one end.",
    21: "Walked to the corner and back without a rest.",
    35: "Good week. Slept better.",
}


def _checkins(patient: Patient, users: dict[Role, User], on: Any, days_now: int) -> None:
    """The recovery check-ins: daily in the first week, then a few a week; on day 9 a red
    wound that the nurse resolved the same day, and today a fever that is still open (the
    urgent item of the worklist)."""
    from openidds.web.diary import data as diary_data
    from openidds.web.diary import services as diary
    from openidds.web.diary.models import RedFlag

    keys = [f.key for f in diary_data.red_flags()]
    me, nurse = users[Role.PATIENT], users[Role.NURSE]
    days = [d for d in (1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 14, 17, 21, 28, 35, 42) if d < days_now]
    for day in [*days, days_now]:
        flags = {"wound"} if day == 9 else {"fever"} if day == days_now else set()
        note = {
            9: "Redness about 2 cm at the lower end of the scar, no discharge.",
            days_now: "Temperature 38.3 °C since last night; the scar looks as before.",
        }.get(day, "")
        with on(day, 8.25):
            checkin = diary.record_checkin(
                by=me,
                patient=patient,
                answers={k: k in flags for k in keys},
                pain_today=max(2, 7 - day // 7),
                note=note,
            )
        if day == 9:
            flag = RedFlag.objects.get(checkin=checkin)
            with on(day, 11.5):
                diary.resolve_red_flag(
                    by=nurse,
                    red_flag=flag,
                    note="Called Mrs Becker and saw her in clinic at 10:30: superficial "
                    "redness, no fluctuation, no discharge, afebrile. Wound care explained; "
                    "photo in the chart; review at the next visit.",
                )


def _book_refill(patient: Patient, nurse: User) -> None:
    """The next refill appointment: 09:30 on a weekday in the patient's time zone, two days
    before the twin's latest safe refill date (at most three weeks ahead)."""
    from zoneinfo import ZoneInfo

    from openidds.web.portal import services as portal

    now = timezone.now()
    latest = portal.latest_safe_refill(patient, now)
    zone = ZoneInfo(patient.time_zone)
    target = min(latest - timedelta(days=2), now + timedelta(days=21)) if latest else None
    day = (target or now + timedelta(days=14)).astimezone(zone).date()
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    starts = datetime.combine(day, time(9, 30), tzinfo=zone)
    if starts <= now + timedelta(hours=2):
        starts = datetime.combine(
            now.astimezone(zone).date() + timedelta(days=1), time(9, 30), zone
        )
    portal.schedule_refill(
        by=nurse,
        patient=patient,
        starts_at=starts,
        note="Refill and review of the pain plan",
        reason_after_latest_safe=""
        if latest is None or starts <= latest
        else "The earliest slot the patient can come; the nurse will call if the alarm sounds.",
    )
