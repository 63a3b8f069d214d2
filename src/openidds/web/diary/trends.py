"""The diary's trends for the plots and their text summary (reads only).

Baseline (decision, docs/diary.md): for each measure, the mean of the patient's own values
dated in the ``baseline.window_days`` before the implant date of the active implant (the
patient's local date). The improvement lines are the baseline lowered by each percentage
of ``improvement.percent_lines`` (IMMPACT). Without an active implant or without a
pre-implant value there is no baseline and no line.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from openidds.web.diary import data, scoring
from openidds.web.diary.models import DiaryEntry, Questionnaire, QuestionnaireKind
from openidds.web.implants.models import Implant
from openidds.web.implants.services import active_implant
from openidds.web.patients.models import Patient

#: measure key → (label, unit, axis maximum)
MEASURES: dict[str, tuple[str, str, float]] = {
    "pain_average": ("average pain (diary)", "0-10", 10),
    "interference": ("pain interference (diary, BPI items)", "0-10", 10),
    "bpi_severity": ("BPI pain severity (weekly)", "0-10", 10),
    "bpi_interference": ("BPI interference (weekly)", "0-10", 10),
    "odi": ("Oswestry Disability Index (monthly)", "%", 100),
}


def implant_day(patient: Patient, implant: Implant | None) -> date | None:
    if implant is None:
        return None
    return implant.implanted_at.astimezone(ZoneInfo(patient.time_zone)).date()


def latest_per_day(entries: list[DiaryEntry]) -> list[DiaryEntry]:
    """The entry that counts for each day: the last one written (entries in any order)."""
    by_day: dict[date, DiaryEntry] = {}
    for entry in sorted(entries, key=lambda e: (e.day, e.recorded_at, e.pk or 0)):
        by_day[entry.day] = entry
    return [by_day[d] for d in sorted(by_day)]


def _values(patient: Patient) -> dict[str, list[tuple[date, float]]]:
    entries = latest_per_day(list(DiaryEntry.objects.filter(patient=patient)))
    questionnaires: dict[tuple[str, date], Questionnaire] = {}
    for q in Questionnaire.objects.filter(patient=patient).order_by("day", "recorded_at", "id"):
        questionnaires[(q.kind, q.day)] = q
    values: dict[str, list[tuple[date, float]]] = {key: [] for key in MEASURES}
    for e in entries:
        values["pain_average"].append((e.day, float(e.pain_average)))
        if e.interference_score is not None:
            values["interference"].append((e.day, e.interference_score))
    for (kind, day), q in sorted(questionnaires.items(), key=lambda kv: kv[0][1]):
        if kind == QuestionnaireKind.BPI:
            if q.bpi_severity is not None:
                values["bpi_severity"].append((day, q.bpi_severity))
            if q.bpi_interference is not None:
                values["bpi_interference"].append((day, q.bpi_interference))
        elif q.odi_percent is not None:
            values["odi"].append((day, q.odi_percent))
    return values


def baseline_of(points: list[tuple[date, float]], implanted: date | None) -> float | None:
    """Mean of the values dated in the window before the implant day (None if none)."""
    if implanted is None:
        return None
    window = int(data.outcomes()["baseline"]["window_days"])
    before = [v for d, v in points if implanted - timedelta(days=window) <= d < implanted]
    return sum(before) / len(before) if before else None


def improvement_lines(baseline: float | None) -> list[dict[str, Any]]:
    if baseline is None:
        return []
    labels = data.outcomes()["improvement"]["labels"]
    return [
        {
            "percent": p,
            "value": round(scoring.improvement_line(baseline, p), 6),
            "label": labels[str(p)],
        }
        for p in data.outcomes()["improvement"]["percent_lines"]
    ]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def plot_data(patient: Patient, *, with_pump: bool = False) -> dict[str, Any]:
    """Series for ``static/openidds/diary-chart.js`` (JSON-ready)."""
    implant = active_implant(patient)
    implanted = implant_day(patient, implant)
    values = _values(patient)
    entries = latest_per_day(list(DiaryEntry.objects.filter(patient=patient)))
    measures = {}
    for key, (label, unit, most) in MEASURES.items():
        points = values[key]
        base = baseline_of(points, implanted)
        measures[key] = {
            "label": label,
            "unit": unit,
            "most": most,
            "x": [d.isoformat() for d, _ in points],
            "y": [round(v, 4) for _, v in points],
            "baseline": round(base, 4) if base is not None else None,
            "lines": improvement_lines(base),
        }
    out: dict[str, Any] = {
        "implant_day": implanted.isoformat() if implanted else None,
        "pain": {
            "x": [e.day.isoformat() for e in entries],
            "now": [e.pain_now for e in entries],
            "average": [e.pain_average for e in entries],
            "worst": [e.pain_worst for e in entries],
        },
        "measures": measures,
        "ptm_reported": {
            "x": [e.day.isoformat() for e in entries if e.ptm_uses is not None],
            "y": [e.ptm_uses for e in entries if e.ptm_uses is not None],
        },
    }
    if with_pump and implant is not None:
        out["pump"] = pump_series(patient, implant)
    return out


def pump_series(patient: Patient, implant: Implant) -> dict[str, Any]:
    """Fills and program changes of the active implant, and the twin's PTM grants and
    denials per local day (the twin replays the implant's records up to now)."""
    from openidds.pump import ScenarioError, simulate
    from openidds.web.implants.twin import effective_events, scenario_for

    events = effective_events(implant)
    changes = [
        {"x": _iso(e.at), "kind": e.kind, "text": f"{e.get_kind_display()}: {e.fields_text()}"}
        for e in events
        if e.kind in {"fill", "program", "stop", "ptm_settings"}
    ]
    zone = ZoneInfo(patient.time_zone)
    denials: Counter[str] = Counter()
    grants: Counter[str] = Counter()
    error = ""
    now = max(timezone.now(), implant.implanted_at)
    try:
        result = simulate(scenario_for(implant, now, events=events))
    except ScenarioError as exc:
        error = f"The twin cannot replay this pump's records: {exc}"
    else:
        for outcome in result.events:
            if outcome.kind != "ptm_request":
                continue
            day = outcome.at.astimezone(zone).date().isoformat()
            (grants if outcome.granted else denials)[day] += 1
    days = sorted(set(denials) | set(grants))
    return {
        "changes": changes,
        "ptm": {
            "x": days,
            "denied": [denials[d] for d in days],
            "granted": [grants[d] for d in days],
        },
        "error": error,
    }


def summary(patient: Patient, *, days: int = 7) -> dict[str, Any]:
    """Average pain over the last ``days`` days against the baseline, in numbers and words."""
    implant = active_implant(patient)
    implanted = implant_day(patient, implant)
    points = _values(patient)["pain_average"]
    base = baseline_of(points, implanted)
    today = timezone.now().astimezone(ZoneInfo(patient.time_zone)).date()
    recent = [v for d, v in points if today - timedelta(days=days - 1) <= d <= today]
    mean = sum(recent) / len(recent) if recent else None
    better = (
        scoring.improvement_percent(base, mean) if base is not None and mean is not None else None
    )
    passed = [
        p
        for p in data.outcomes()["improvement"]["percent_lines"]
        if better is not None and better >= p
    ]
    window = int(data.outcomes()["baseline"]["window_days"])
    if mean is None:
        text = f"No entries in the last {days} days yet."
    else:
        text = (
            f"Average pain over the last {days} days: {mean:.1f} of 10 "
            f"({len(recent)} day{'s' if len(recent) != 1 else ''} written)."
        )
        if base is None:
            text += (
                f" There is no baseline yet: the entries in the {window} days before the "
                "implant date set it."
            )
        else:
            text += f" Before the implant it was {base:.1f}."
            if better is not None:
                text += (
                    f" That is {better:.0f} % better"
                    if better >= 0
                    else f" That is {-better:.0f} % worse"
                )
                text += f": past the {passed[-1]} % line." if passed else "."
    return {
        "text": text,
        "baseline": base,
        "recent_mean": mean,
        "recent_days": len(recent),
        "improvement_percent": better,
        "passed": passed,
        "implanted": implanted,
    }
