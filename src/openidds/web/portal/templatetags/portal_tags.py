"""The patient portal panel of the patient chart (``patients/detail.html``): portal status,
"Invite to the portal", revoke, and the refill appointments with the latest safe date."""

from typing import Any

from django import template
from django.utils import timezone

from openidds.web.accounts.models import Role
from openidds.web.portal.models import Invitation, PortalAccount
from openidds.web.portal.services import latest_safe_refill, upcoming_appointments

register = template.Library()


@register.inclusion_tag("portal/_chart_panel.html", takes_context=True)
def portal_chart_panel(context: template.Context, patient: Any) -> dict[str, Any]:
    """Shown to physicians and nurses (the chart's own gate lets only them in)."""
    role = context.get("role")
    if role not in (Role.PHYSICIAN, Role.NURSE):
        return {"patient": patient, "show": False}
    now = timezone.now()
    accounts = list(
        PortalAccount.objects.filter(patient=patient, revoked_at__isnull=True)
        .select_related("user")
        .order_by("relation")
    )
    pending = [
        i
        for i in Invitation.objects.filter(
            patient=patient, accepted_at__isnull=True, revoked_at__isnull=True
        )
        if i.status_at(now) == "pending"
    ]
    state = context.get("state")
    latest = None
    if state is not None and not getattr(state, "error", ""):
        latest = state.forecast.get("recommended_refill")
    elif state is None:
        latest = latest_safe_refill(patient, now)
    return {
        "show": True,
        "request": context.get("request"),
        "csrf_token": context.get("csrf_token"),
        "clinic": context.get("clinic"),
        "patient": patient,
        "accounts": accounts,
        "pending": pending,
        "has_patient_account": any(a.relation == "patient" for a in accounts),
        "appointments": upcoming_appointments(patient, now),
        "latest": latest,
    }
