from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from openidds.web.demo import DEMO_PASSWORD, DEMO_PATIENTS, DEMO_USERS, load_demo


class Command(BaseCommand):
    help = "Create (or complete) the demo clinic, its users of every role and a few patients."

    def handle(self, *args: Any, **options: Any) -> None:
        summary = load_demo()
        out = self.stdout
        out.write(
            f"Demo clinic '{summary.clinic.name}' (/{summary.clinic.slug}): "
            f"{summary.users_created} user(s), {summary.patients_created} patient(s) "
            f"and {summary.implants_created} implant(s) created now; "
            f"{len(DEMO_PATIENTS)} demo patients in all ({DEMO_PATIENTS[0]['name']} has a "
            "pump with fills and programs)."
        )
        out.write("Demo log-ins (password for all: " + DEMO_PASSWORD + "):")
        for username, _, role in DEMO_USERS:
            out.write(f"  {username:<16} {role.label}")
        out.write(
            "Not yet: the full demo of 60 patients with two years of pump history made "
            "through the twin and the dose checks comes with the clinical features."
        )
