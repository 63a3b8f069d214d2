"""``openidds manage send_refill_reminders``: enqueue the refill reminders due now.

Run it periodically (cron or a systemd timer, e.g. every 15 minutes) next to a worker
(``openidds manage db_worker``), which sends them. Enqueuing twice sends nothing twice.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from openidds.web.portal.reminders import enqueue_due


class Command(BaseCommand):
    help = (
        "Enqueue the refill reminders (7 days and 1 day before an appointment) that are due "
        "and not sent yet; a task-queue worker (db_worker) sends them by e-mail and in the portal."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = enqueue_due()
        self.stdout.write(f"{count} refill reminder(s) enqueued")
