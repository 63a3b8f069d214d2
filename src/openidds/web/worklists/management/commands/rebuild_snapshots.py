from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from openidds.web.accounts.models import Clinic
from openidds.web.worklists.snapshots import rebuild_snapshots


class Command(BaseCommand):
    help = (
        "Rebuild the worklist's pump-state snapshots from the implants' timelines (the twin "
        "replays every active implant once). Needed only for data recorded before the "
        "snapshots existed or changed outside the services."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clinic", help="slug of one clinic (default: every clinic)")

    def handle(self, *args: Any, **options: Any) -> None:
        ids = None
        if options.get("clinic"):
            ids = list(Clinic.objects.filter(slug=options["clinic"]).values_list("pk", flat=True))
            if not ids:
                self.stderr.write(f"no clinic {options['clinic']!r}")
                raise SystemExit(2)
        count = rebuild_snapshots(clinic_ids=ids)
        self.stdout.write(f"{count} pump-state snapshot(s) rebuilt.")
