"""Demo data: one clinic, a user of every role and a handful of patients. Idempotent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import transaction

from openidds.web.accounts.models import Clinic, Membership, Role, User
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
    return DemoSummary(clinic, users_created, patients_created)
