"""Strict parsing of quantities with units and of ISO 8601 durations.

Inside the twin every quantity is a plain float in a canonical unit: amounts in mg, volumes
in mL, time in days. Strings such as ``"10 mg/mL"``, ``"25 mcg/mL"``, ``"5 mg/day"``,
``"0.2 mg"`` are parsed here, once, at the edge.
"""

from __future__ import annotations

import math
import re
from typing import Literal

# Conversion factors of physical units (definitions, not clinical constants).
_AMOUNT_TO_MG: dict[str, float] = {
    "mg": 1.0,
    "mcg": 1e-3,
    "ug": 1e-3,
    "µg": 1e-3,  # micro sign U+00B5
    "μg": 1e-3,  # Greek small mu U+03BC
    "g": 1e3,
}
_VOLUME_TO_ML: dict[str, float] = {"ml": 1.0}
_TIME_TO_DAY: dict[str, float] = {"day": 1.0, "d": 1.0, "h": 1.0 / 24.0, "hr": 1.0 / 24.0}

Dimension = Literal["amount", "concentration", "daily_dose"]

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY = re.compile(rf"^\s*(?P<num>{_NUMBER})\s*(?P<unit>[^\s].*?)\s*$")

_EXAMPLES: dict[Dimension, str] = {
    "amount": "'0.2 mg' or '50 mcg'",
    "concentration": "'10 mg/mL' or '25 mcg/mL'",
    "daily_dose": "'5 mg/day' or '0.2 mg/h'",
}


_ARTICLE: dict[Dimension, str] = {
    "amount": "an amount",
    "concentration": "a concentration",
    "daily_dose": "a daily dose",
}


class UnitError(ValueError):
    """A quantity string that is not a number with an accepted unit."""


def parse_quantity(text: object, dimension: Dimension) -> float:
    """Parse ``text`` as a quantity of ``dimension`` and return it in mg, mg/mL or mg/day.

    Raises :class:`UnitError` with a message that shows an accepted example.
    """
    if not isinstance(text, str):
        raise UnitError(
            f"expected a string with a unit such as {_EXAMPLES[dimension]}, got {text!r}"
        )
    match = _QUANTITY.match(text)
    if match is None:
        raise UnitError(f"{text!r} is not a number with a unit such as {_EXAMPLES[dimension]}")
    number = float(match.group("num"))
    unit = match.group("unit").replace(" ", "")
    factor = _unit_factor(unit, dimension, text)
    value = number * factor
    if not math.isfinite(value):
        raise UnitError(f"{text!r} is not a finite quantity")
    if value < 0:
        raise UnitError(f"{text!r} is negative")
    return value


def _unit_factor(unit: str, dimension: Dimension, text: str) -> float:
    parts = unit.split("/")
    bad = UnitError(
        f"{text!r} has unit {unit!r}; expected {_ARTICLE[dimension]} "
        f"such as {_EXAMPLES[dimension]} (amounts: mg, mcg, ug, µg, g)"
    )
    amount = _AMOUNT_TO_MG.get(parts[0]) if parts else None
    if amount is None:
        raise bad
    if dimension == "amount":
        if len(parts) != 1:
            raise bad
        return amount
    if len(parts) != 2:
        raise bad
    denominator = parts[1]
    if dimension == "concentration":
        volume = _VOLUME_TO_ML.get(denominator.lower())
        if volume is None:
            raise bad
        return amount / volume
    per_day = _TIME_TO_DAY.get(denominator.lower())
    if per_day is None:
        raise bad
    return amount / per_day


_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)

MICROSECONDS_PER_SECOND = 1_000_000
MICROSECONDS_PER_DAY = 86_400 * MICROSECONDS_PER_SECOND


def parse_duration_us(text: object) -> int:
    """Parse an ISO 8601 duration (``PT30M``, ``P1D``, ``P1DT12H``, ``P2W``) to microseconds.

    Years and months are refused: their length in days is ambiguous.
    """
    if not isinstance(text, str):
        raise UnitError(f"expected an ISO 8601 duration string such as 'PT30M', got {text!r}")
    match = _DURATION.match(text.strip().upper())
    if match is None:
        raise UnitError(
            f"{text!r} is not an ISO 8601 duration such as 'PT30M', 'PT1H' or 'P1D' "
            "(years and months are not accepted)"
        )
    seconds = 0.0
    scale = {"weeks": 604_800.0, "days": 86_400.0, "hours": 3_600.0, "minutes": 60.0}
    for name, factor in scale.items():
        part = match.group(name)
        if part is not None:
            seconds += float(part) * factor
    if match.group("seconds") is not None:
        seconds += float(match.group("seconds"))
    return round(seconds * MICROSECONDS_PER_SECOND)
