"""The questions panel of the patient chart (``patients/detail.html``)."""

from typing import Any

from django import template

from openidds.web.community.services import CLINIC_ANSWERERS, patient_questions_for_clinic

register = template.Library()


@register.inclusion_tag("community/_chart_panel.html", takes_context=True)
def community_chart_panel(context: template.Context, patient: Any) -> dict[str, Any]:
    """The patient's questions to the clinic with their status, and a reply form for the
    open ones (physicians and nurses; the chart itself is for them only)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    role = context.get("role")
    if user is None or role not in CLINIC_ANSWERERS:
        return {"show": False}
    return {
        "show": True,
        "patient": patient,
        "clinic": context.get("clinic"),
        "questions": patient_questions_for_clinic(by=user, patient=patient),
        "csrf_token": context.get("csrf_token"),
    }
