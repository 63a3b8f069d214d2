"""The prescriptions panel of the patient chart (``patients/detail.html``)."""

from typing import Any

from django import template

register = template.Library()

#: How many versions the chart lists (the history page has all).
PANEL_VERSIONS = 5


@register.inclusion_tag("prescriptions/_chart_panel.html", takes_context=True)
def prescriptions_chart_panel(context: template.Context, patient: Any) -> dict[str, Any]:
    """The current prescription (version, signer, when), the latest versions and, for a
    physician with an active implant, the link to prescribe a change."""
    from openidds.web.prescriptions.models import Prescription

    role = context.get("role")
    if role not in {"physician", "nurse"}:
        return {"patient": patient, "show": False}
    history = list(
        Prescription.objects.filter(patient=patient).order_by("-version")[:PANEL_VERSIONS]
    )
    return {
        "show": True,
        "patient": patient,
        "clinic": context.get("clinic"),
        "role": role,
        "current": history[0] if history else None,
        "history": history,
        "can_prescribe": role == "physician" and context.get("active") is not None,
    }
