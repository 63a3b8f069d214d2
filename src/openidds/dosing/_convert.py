"""Opioid route conversion, shown as a range and never applied to a program."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._library import Library

_ALIASES = {"it": "intrathecal", "intravenous": "iv", "po": "oral"}
_DOSE = re.compile(
    r"^\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>mg|mcg)(?:/day|/d| per day)?\s+"
    r"(?P<route>[a-z]+)\s+(?P<drug>[a-z]+)\s*$"
)


class ConversionError(ValueError):
    """A dose text or a route/drug the conversion table does not cover."""


@dataclass(frozen=True, slots=True)
class Conversion:
    """``value_mg_per_day`` of ``drug`` by ``from_route`` is about ``default`` (range ``low`` to
    ``high``) mg/day by ``to_route``. Display only: a clinician chooses and confirms a dose."""

    drug: str
    value_mg_per_day: float
    from_route: str
    to_route: str
    default: float
    low: float
    high: float
    confirmed: bool
    sources: tuple[str, ...]


def parse_dose_text(text: str) -> tuple[float, str, str]:
    """``"300 mg/day oral morphine"`` → (300.0 mg/day, "oral", "morphine")."""
    match = _DOSE.match(text.lower())
    if match is None:
        raise ConversionError(
            f"{text!r} is not a dose such as '300 mg/day oral morphine' "
            "(amount, mg or mcg per day, route, drug)"
        )
    value = float(match["value"]) / (1000 if match["unit"] == "mcg" else 1)
    route = _ALIASES.get(match["route"], match["route"])
    return value, route, match["drug"]


def convert(
    library: Library, value_mg_per_day: float, drug: str, from_route: str, to_route: str
) -> Conversion:
    """Convert a daily dose between routes with the library's ratio table."""
    from_route = _ALIASES.get(from_route, from_route)
    to_route = _ALIASES.get(to_route, to_route)
    table = library.route_ratios.get(drug)
    if table is None or drug not in library.drugs:
        known = ", ".join(d for d in library.route_ratios if d in library.drugs)
        raise ConversionError(f"no route conversion for {drug!r}; the library has: {known}")
    for route in (from_route, to_route):
        if route not in table:
            raise ConversionError(f"unknown route {route!r}; routes: {', '.join(table)}")
    a, b = table[from_route], table[to_route]
    # amount by a route = intrathecal amount x its ratio
    candidates = [value_mg_per_day / ra * rb for ra in (a.low, a.high) for rb in (b.low, b.high)]
    return Conversion(
        drug=drug,
        value_mg_per_day=value_mg_per_day,
        from_route=from_route,
        to_route=to_route,
        default=value_mg_per_day / a.default * b.default,
        low=min(candidates),
        high=max(candidates),
        confirmed=a.confirmed and b.confirmed,
        sources=tuple(dict.fromkeys((a.source, b.source))),
    )
