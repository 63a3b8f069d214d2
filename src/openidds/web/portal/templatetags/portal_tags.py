"""The patient portal panel of the patient chart (``patients/detail.html``)."""

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("portal/_chart_panel.html", takes_context=True)
def portal_chart_panel(context: template.Context, patient: Any) -> dict[str, Any]:
    """Nothing yet; the app fills it in."""
    return {"patient": patient, "show": False}
