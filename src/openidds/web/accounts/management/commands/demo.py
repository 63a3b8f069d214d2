from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from openidds.web.demo import DEMO_PASSWORD, DEMO_USERS, demo_patient_count, load_demo


class Command(BaseCommand):
    help = (
        "Create (or complete) the demo clinic, its users of every role and 60 patients with "
        "two years of pump history (signed prescriptions, refill visits) recorded through "
        "the services, and Anna Becker's patient portal for demo-patient (idempotent)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        summary = load_demo()
        out = self.stdout
        out.write(
            f"Demo clinic '{summary.clinic.name}' (/{summary.clinic.slug}): "
            f"{summary.users_created} user(s), {summary.patients_created} patient(s), "
            f"{summary.implants_created} implant(s) and {summary.pump_events_created} pump "
            f"record(s) created now in {summary.seconds:.1f} s; {demo_patient_count()} demo "
            "patients in all, with two years of refill visits, signed prescriptions and PTM "
            "use made through the twin and the dose checks; demo-patient opens Anna Becker's "
            "portal."
        )
        out.write("Demo log-ins (password for all: " + DEMO_PASSWORD + "):")
        for username, _, role in DEMO_USERS:
            out.write(f"  {username:<16} {role.label}")
        out.write(
            f"Start at the worklist: /clinics/{summary.clinic.slug}/worklist/ "
            "(log in as demo-nurse or demo-physician)."
        )
