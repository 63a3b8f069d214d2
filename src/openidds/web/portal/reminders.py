"""Refill reminders: 7 days and 1 day before an appointment, by e-mail and in the portal.

``due_reminders`` (the periodic enqueuer, ``openidds manage send_refill_reminders``) finds
what is due and enqueues :func:`openidds.web.portal.tasks.send_refill_reminder`; the worker
(``openidds manage db_worker``) runs :func:`send_reminder`, which claims the reminder by
inserting its row: the unique (appointment, kind) makes a second send impossible, whoever
runs it and however often the enqueuer ran.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from openidds.web.audit.models import Action
from openidds.web.audit.services import record
from openidds.web.portal import info
from openidds.web.portal.models import (
    AppointmentStatus,
    PortalAccount,
    PortalNotification,
    RefillAppointment,
    RefillReminder,
    ReminderKind,
)

KIND_DAYS = {ReminderKind.DAYS_7: 7, ReminderKind.DAYS_1: 1}
assert tuple(sorted(KIND_DAYS.values(), reverse=True)) == info.reminder_days_before(), (
    "the reminder kinds and data/patient_info.toml disagree"
)
ACTOR = "refill-reminders"


def window(kind: str, starts_at: datetime) -> tuple[datetime, datetime]:
    """[from, until) in which the reminder of this kind is due: from N days before the
    appointment until the next (shorter) reminder is due, or the appointment itself."""
    days = KIND_DAYS[ReminderKind(kind)]
    shorter = [d for d in KIND_DAYS.values() if d < days]
    until = starts_at - timedelta(days=max(shorter)) if shorter else starts_at
    return starts_at - timedelta(days=days), until


def is_due(appointment: RefillAppointment, kind: str, now: datetime) -> bool:
    if appointment.status != AppointmentStatus.SCHEDULED:
        return False
    start, until = window(kind, appointment.starts_at)
    return start <= now < until


def due_reminders(now: datetime | None = None) -> list[tuple[int, str]]:
    """(appointment id, kind) of every reminder due now and not sent yet."""
    now = now or timezone.now()
    longest = max(KIND_DAYS.values())
    candidates = RefillAppointment.objects.filter(
        status=AppointmentStatus.SCHEDULED,
        starts_at__gt=now,
        starts_at__lte=now + timedelta(days=longest),
    ).prefetch_related("reminders")
    due: list[tuple[int, str]] = []
    for appointment in candidates:
        sent = {r.kind for r in appointment.reminders.all()}
        for kind in KIND_DAYS:
            if kind not in sent and is_due(appointment, kind, now):
                due.append((appointment.pk, str(kind)))
    return due


def enqueue_due(now: datetime | None = None) -> int:
    """Enqueue a task per due reminder; returns how many. Enqueuing twice is harmless."""
    from openidds.web.portal.tasks import send_refill_reminder

    found = due_reminders(now)
    for appointment_id, kind in found:
        send_refill_reminder.enqueue(appointment_id, kind)
    return len(found)


def _text(appointment: RefillAppointment, kind: str) -> tuple[str, str]:
    patient = appointment.patient
    local = appointment.starts_at.astimezone(ZoneInfo(patient.time_zone))
    when = f"{local:%A %d %B %Y at %H:%M} ({patient.time_zone})"
    ahead = "in 7 days" if kind == ReminderKind.DAYS_7 else "tomorrow"
    subject = f"Pump refill {ahead}: {local:%d %B %Y, %H:%M}"
    body = (
        f"Your pump refill appointment at {patient.clinic.name} is {ahead}: {when}. "
        "Please do not miss it. If you cannot come, call the clinic to book another time "
        "before the pump runs low."
    )
    return subject, body


def send_reminder(appointment_id: int, kind: str, now: datetime | None = None) -> str:
    """Send one reminder (e-mail to the patient's and caregiver's addresses, and a portal
    notification) if it is due and not sent yet. Returns what happened."""
    now = now or timezone.now()
    if kind not in KIND_DAYS:
        return "unknown kind"
    with transaction.atomic():
        appointment = (
            RefillAppointment.objects.select_for_update()
            .select_related("patient", "patient__clinic")
            .filter(pk=appointment_id)
            .first()
        )
        if appointment is None:
            return "no such appointment"
        if not is_due(appointment, kind, now):
            return "not due"
        try:
            with transaction.atomic():
                reminder = RefillReminder.objects.create(appointment=appointment, kind=kind)
        except IntegrityError:
            return "already sent"
        patient = appointment.patient
        subject, body = _text(appointment, kind)
        addresses = sorted(
            {
                a.user.email
                for a in PortalAccount.objects.filter(
                    Q(patient=patient), revoked_at__isnull=True, user__is_active=True
                ).select_related("user")
                if a.user.email
            }
        )
        if addresses:
            # A failure raises and rolls the claim back: the next run tries again.
            EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, bcc=addresses).send()
        reminder.emails = len(addresses)
        reminder.save(update_fields=["emails"])
        PortalNotification.objects.create(patient=patient, reminder=reminder, text=body)
        record(
            by=None,
            actor_username=ACTOR,
            action=Action.REMINDER_SENT,
            clinic=patient.clinic,
            patient=patient,
            obj=appointment,
            details={"kind": kind, "emails": len(addresses)},
        )
        return "sent"
