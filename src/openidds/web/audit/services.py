"""Writing and reading the audit log."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.db.models import QuerySet

from openidds.web.accounts.models import Clinic
from openidds.web.accounts.roles import ADMIN, require_role
from openidds.web.audit.context import client_ip
from openidds.web.audit.models import Action, AuditEvent

_UNSET: Any = object()


def record(
    *,
    by: Any,
    action: Action,
    clinic: Clinic | None = None,
    patient: Any = None,
    obj: models.Model | None = None,
    details: dict[str, Any] | None = None,
    actor_username: str | None = None,
    ip_address: str | None = _UNSET,
) -> AuditEvent:
    """Append one audit event. Call it inside the transaction of the change it records."""
    actor = by if by is not None and getattr(by, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        actor=actor,
        actor_username=actor_username
        if actor_username is not None
        else (actor.get_username() if actor else ""),
        action=action,
        clinic=clinic,
        patient=patient,
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        ip_address=client_ip.get() if ip_address is _UNSET else ip_address,
        details=details or {},
    )


@transaction.atomic
def audit_log_for(
    *,
    by: Any,
    clinic: Clinic,
    action: str = "",
    actor: str = "",
    patient_id: int | None = None,
    since: Any = None,
    until: Any = None,
) -> QuerySet[AuditEvent]:
    """The clinic's audit events, newest first, filtered; the reading is itself audited.

    Clinic admins only. Log-ins carry no clinic and are shown for the clinic's members.
    """
    require_role(by, clinic, ADMIN)
    members = clinic.memberships.values("user_id")
    events = AuditEvent.objects.filter(
        models.Q(clinic=clinic) | models.Q(clinic__isnull=True, actor_id__in=members)
    ).select_related("actor", "patient")
    filters: dict[str, Any] = {}
    if action:
        events = events.filter(action=action)
        filters["action"] = action
    if actor:
        events = events.filter(actor_username__icontains=actor)
        filters["actor"] = actor
    if patient_id is not None:
        events = events.filter(patient_id=patient_id)
        filters["patient_id"] = patient_id
    if since is not None:
        events = events.filter(at__gte=since)
        filters["since"] = since.isoformat()
    if until is not None:
        events = events.filter(at__lt=until)
        filters["until"] = until.isoformat()
    record(by=by, action=Action.AUDIT_LOG_VIEWED, clinic=clinic, details={"filters": filters})
    return events
