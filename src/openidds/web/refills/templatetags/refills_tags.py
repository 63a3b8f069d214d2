"""The refill visits panel of the patient chart (``patients/detail.html``)."""

from typing import Any

from django import template

from openidds.web.accounts.models import Role
from openidds.web.implants.models import ImplantStatus
from openidds.web.refills.models import OPEN_STATUSES, RefillVisit, VisitStatus

register = template.Library()

#: How many past visits the chart lists (the API lists them all).
HISTORY = 20


@register.inclusion_tag("refills/_chart_panel.html", takes_context=True)
def refills_chart_panel(context: template.Context, patient: Any) -> dict[str, Any]:
    """The open visit, a button to start one, and the history of visits (discrepancies in
    red). The chart's own view has checked the role and audited the reading."""
    role = context.get("role")
    clinical = role in (Role.PHYSICIAN, Role.NURSE)
    if not clinical:
        return {"show": False}
    visits = list(
        RefillVisit.objects.filter(patient=patient)
        .select_related("completed_by", "started_by")
        .prefetch_related("acknowledgements__physician")
        .order_by("-at", "-id")[:HISTORY]
    )
    open_visit = next((v for v in visits if v.status in OPEN_STATUSES), None)
    if open_visit is None:
        open_visit = (
            RefillVisit.objects.filter(patient=patient, status__in=OPEN_STATUSES)
            .order_by("-at")
            .first()
        )
    active = context.get("active")
    if active is None:
        active = patient.implants.filter(status=ImplantStatus.ACTIVE).first()
    has_fill = active is not None and active.pump_events.filter(kind="fill").exists()
    return {
        "show": True,
        "patient": patient,
        "clinic": context.get("clinic"),
        "role": role,
        "visits": visits,
        "open_visit": open_visit,
        "can_start": active is not None and has_fill and open_visit is None,
        "active": active,
        "awaiting": VisitStatus.AWAITING_ACKNOWLEDGEMENT,
    }
