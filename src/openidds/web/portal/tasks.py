"""Tasks of the portal, run by the task queue (``TASKS``; django-tasks-db's ``db_worker``)."""

from __future__ import annotations

from django.tasks import task

from openidds.web.portal.reminders import send_reminder


@task()
def send_refill_reminder(appointment_id: int, kind: str) -> str:
    """Send one refill reminder if it is due and was not sent (see reminders.py)."""
    return send_reminder(appointment_id, kind)
