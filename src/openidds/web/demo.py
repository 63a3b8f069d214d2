"""Demo data: one clinic, a user of every role and a handful of patients. Idempotent."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class DemoSummary:
    clinic: Clinic
    users_created: int
    patients_created: int
    implants_created: int = 0


@transaction.atomic
def load_demo() -> DemoSummary:
    """Create what is missing of the demo clinic; existing rows are left as they are
    (except that the demo users' password, role and any log-in lock-out are reset)."""
    from axes.utils import reset as reset_lockout

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
    patients_created = 0
    for fields in DEMO_PATIENTS:
        if Patient.objects.filter(clinic=clinic, mrn=fields["mrn"]).exists():
            continue
        create_patient(by=users[Role.PHYSICIAN], clinic=clinic, **fields)
        patients_created += 1
    implants_created = 0
    first = Patient.objects.get(clinic=clinic, mrn=DEMO_PATIENTS[0]["mrn"])
    if not Implant.objects.filter(patient=first).exists():
        _demo_pump(users[Role.PHYSICIAN], users[Role.NURSE], first)
        implants_created += 1
    return DemoSummary(clinic, users_created, patients_created, implants_created)


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
