"""The one gate of every portal page and portal API operation.

A portal user (patient or caregiver) sees only the patients they hold a live
:class:`~openidds.web.portal.models.PortalAccount` for; anything else is a 404 (not
revealed), whatever the id in the URL. Clinic staff are not portal users.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from openidds.web.portal.models import PortalAccount, Relation


def live_accounts(user: Any) -> QuerySet[PortalAccount]:
    """The user's live portal accounts (patient first), with the patient and clinic."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return PortalAccount.objects.none()
    return (
        PortalAccount.objects.filter(user_id=user.pk, revoked_at__isnull=True)
        .select_related("patient", "patient__clinic")
        .order_by("relation", "patient_id")
    )


def portal_account(user: Any, patient_id: int) -> PortalAccount:
    """The user's live account for that patient; Http404 if there is none."""
    account = live_accounts(user).filter(patient_id=patient_id).first()
    if account is None:
        raise Http404("no such patient among yours")
    return account


def require_patient_self(user: Any, patient_id: int) -> PortalAccount:
    """As :func:`portal_account`, but only the patient themself (not a caregiver): 403."""
    from django.core.exceptions import PermissionDenied

    account = portal_account(user, patient_id)
    if account.relation != Relation.PATIENT:
        raise PermissionDenied("only the patient may do this")
    return account
