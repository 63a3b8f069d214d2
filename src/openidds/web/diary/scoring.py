"""Scores of the questionnaires, by their published rules (``diary/data/bpi.toml``,
``odi.toml``). Pure functions: no database, no Django.

- BPI short form: pain severity = mean of worst, least, average and now (all four
  answered); interference = mean of the seven items, valid if at least 4 of 7 are answered.
- ODI: each section 0-5; score (%) = sum / (5 x answered sections) x 100, so each section
  left out lowers the denominator by 5; no score below the minimum of answered sections.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openidds.web.diary import data


@dataclass(frozen=True)
class BpiScore:
    severity: float | None  # 0-10, None if not all four severity items are answered
    interference: float | None  # 0-10, None if fewer than the minimum answered
    interference_answered: int
    relief_percent: int | None


@dataclass(frozen=True)
class OdiScore:
    percent: float | None  # 0-100, None if fewer than the minimum of sections answered
    total: int  # sum of the answered sections
    answered: int
    band: str  # interpretation band of the score ("" without a score)


def _answered(values: Mapping[str, Any], keys: list[str]) -> list[int]:
    return [int(values[k]) for k in keys if values.get(k) is not None]


def _check_range(values: Mapping[str, Any], keys: list[str], least: int, most: int) -> None:
    for key in keys:
        value = values.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
            raise ValueError(f"{key}: a whole number from {least} to {most}, not {value!r}")


def bpi_severity_keys() -> list[str]:
    return [item["key"] for item in data.bpi()["severity"]["items"]]


def bpi_interference_keys() -> list[str]:
    return [item["key"] for item in data.bpi()["interference"]["items"]]


def mean_or_none(values: list[int], minimum: int) -> float | None:
    return sum(values) / len(values) if len(values) >= minimum and values else None


def score_bpi(answers: Mapping[str, Any]) -> BpiScore:
    """Score a BPI short form. ``answers``: severity and interference keys → 0-10 or None,
    ``relief_percent`` → 0-100 in steps of 10 or None. Out-of-range values raise ValueError."""
    rules = data.bpi()
    least, most = rules["scale"]["least"], rules["scale"]["most"]
    severity_keys, interference_keys = bpi_severity_keys(), bpi_interference_keys()
    _check_range(answers, severity_keys + interference_keys, least, most)
    relief = answers.get("relief_percent")
    step = rules["relief"]["step_percent"]
    if relief is not None and (
        isinstance(relief, bool)
        or not isinstance(relief, int)
        or not rules["relief"]["least_percent"] <= relief <= rules["relief"]["most_percent"]
        or relief % step
    ):
        raise ValueError(f"relief_percent: 0 to 100 in steps of {step}, not {relief!r}")
    severity = _answered(answers, severity_keys)
    interference = _answered(answers, interference_keys)
    return BpiScore(
        severity=mean_or_none(severity, rules["severity"]["min_answered"]),
        interference=mean_or_none(interference, rules["interference"]["min_answered"]),
        interference_answered=len(interference),
        relief_percent=relief,
    )


def odi_section_keys() -> list[str]:
    return [section["key"] for section in data.odi()["section"]]


def odi_band(percent: float) -> str:
    for band in data.odi()["scoring"]["bands"]:
        if percent <= band["most"]:
            label: str = band["label"]
            return label
    raise ValueError(f"an ODI score above 100 %: {percent}")


def score_odi(answers: Mapping[str, Any]) -> OdiScore:
    """Score an ODI: section key → 0-5 or None (left out). Out-of-range values raise."""
    rules = data.odi()["scoring"]
    keys = odi_section_keys()
    _check_range(answers, keys, 0, rules["points_per_section"])
    values = _answered(answers, keys)
    total = sum(values)
    if len(values) < rules["min_answered"]:
        return OdiScore(percent=None, total=total, answered=len(values), band="")
    percent = total / (rules["points_per_section"] * len(values)) * 100
    return OdiScore(percent=percent, total=total, answered=len(values), band=odi_band(percent))


def diary_severity(now: int | None, average: int | None, worst: int | None) -> float | None:
    """The daily diary's pain severity: the mean of the three items it asks (all three)."""
    values = [v for v in (now, average, worst) if v is not None]
    return sum(values) / 3 if len(values) == 3 else None


def improvement_percent(baseline: float, value: float) -> float | None:
    """Reduction from baseline in % (positive = better); None when the baseline is 0."""
    if baseline <= 0:
        return None
    return (baseline - value) / baseline * 100


def improvement_line(baseline: float, percent: float) -> float:
    """The value a measure must reach to be ``percent`` % better than the baseline."""
    return baseline * (1 - percent / 100)
