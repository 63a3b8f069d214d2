"""The diary and recovery panel of the patient chart (``patients/detail.html``)."""

from __future__ import annotations

from typing import Any

from django import template

from openidds.web.accounts.roles import CLINICAL

register = template.Library()


@register.inclusion_tag("diary/_chart_panel.html", takes_context=True)
def diary_chart_panel(context: template.Context, patient: Any) -> dict[str, Any]:
    """Diary trends beside the pump's dose changes, refills and PTM denials; recovery
    check-ins and open red flags (with the resolve form); the plan and its progress.

    Shown to physicians and nurses of the patient's clinic (the chart's own roles)."""
    from openidds.web.diary import services, trends
    from openidds.web.diary.models import CheckIn, DiaryEntry, Questionnaire

    if patient is None or context.get("role") not in CLINICAL:
        return {"show": False}
    request = context.get("request")
    outcome = request.GET.get("diary", "") if request is not None else ""
    notice, notice_error = {
        "resolved": ("Red flag resolved. It is in the audit log.", False),
        "unresolved": ("Not resolved: say what was done (e.g. called the patient).", True),
        "plan-saved": ("Plan saved as a new version. The patient sees it.", False),
    }.get(outcome, ("", False))
    plot = trends.plot_data(patient, with_pump=True)
    entries = trends.latest_per_day(
        list(DiaryEntry.objects.filter(patient=patient).select_related("written_by"))
    )[-14:]
    plan = services.current_plan(patient)
    weeks = services.recovery_weeks(patient.clinic)
    return {
        "show": True,
        "notice": notice,
        # the chart's pump plot includes implants/_plotly_csp.html already (ids are unique)
        "plotly_csp_done": bool(context.get("state"))
        and not getattr(context.get("state"), "error", ""),
        "notice_error": notice_error,
        "clinic": patient.clinic,
        "patient": patient,
        "csrf_token": context.get("csrf_token"),
        "plot": plot,
        "pump_error": plot.get("pump", {}).get("error", ""),
        "summary": trends.summary(patient),
        "entries": list(reversed(entries)),
        "questionnaires": list(
            Questionnaire.objects.filter(patient=patient).select_related("written_by")[:6]
        ),
        "open_flags": services.open_red_flags(patient),
        "checkins": list(
            CheckIn.objects.filter(patient=patient)
            .select_related("written_by", "red_flag", "red_flag__resolution__resolved_by")
            .order_by("-recorded_at", "-id")[:10]
        ),
        "week": services.recovery_week(patient),
        "n_weeks": len(weeks),
        "plan": plan,
        "goals": services.goals_with_progress(plan),
    }
