"""Numbers and amounts as people read them in findings."""

from __future__ import annotations

from ._library import Drug


def fmt(value: float, digits: int = 4, versus: float | None = None) -> str:
    """A number as people read it: ``digits`` significant digits, no trailing zeros.

    With ``versus`` (a limit), more digits until the two differ, so that a value just above a
    limit never prints as the limit ("20.004 mg/day is above 20 mg/day", not "20 ... 20")."""
    if versus is not None and value != versus:
        while digits < 12 and fmt(value, digits) == fmt(versus, digits):
            digits += 1
    text = f"{value:.{digits}g}"
    if "e" in text:
        text = f"{value:.12f}".rstrip("0").rstrip(".")
    return text


def amount(drug: Drug | None, value: float, unit: str, versus: float | None = None) -> str:
    """``30 mcg/day (0.03 mg/day)`` for drugs read in mcg; ``40 mg/day`` otherwise."""
    if drug is not None and drug.display_unit == "mcg" and unit.startswith("mg"):
        mcg = fmt(value * 1000, versus=None if versus is None else versus * 1000)
        return f"{mcg} mc{unit[1:]} ({fmt(value, versus=versus)} {unit})"
    return f"{fmt(value, versus=versus)} {unit}"
