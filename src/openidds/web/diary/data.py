"""The diary's data files (``diary/data/*.toml``): questionnaire items, scoring rules,
thresholds, the default recovery programme, red flags and emergency numbers, each with its
source. Read once; nothing clinical is a literal in the code."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"


@functools.cache
def load(name: str) -> dict[str, Any]:
    """The parsed TOML file ``diary/data/<name>.toml``."""
    with (DATA / f"{name}.toml").open("rb") as handle:
        return tomllib.load(handle)


def outcomes() -> dict[str, Any]:
    return load("outcomes")


def bpi() -> dict[str, Any]:
    return load("bpi")


def odi() -> dict[str, Any]:
    return load("odi")


def adl_items() -> list[dict[str, str]]:
    items: list[dict[str, str]] = load("adl")["items"]
    return items


def adl_keys() -> list[str]:
    return [item["key"] for item in adl_items()]


@dataclass(frozen=True)
class RedFlag:
    key: str
    question: str
    action: str  # "clinic" or "emergency"
    label: str


@functools.cache
def red_flags() -> tuple[RedFlag, ...]:
    return tuple(
        RedFlag(key=f["key"], question=f["question"], action=f["action"], label=f["label"])
        for f in load("red_flags")["flag"]
    )


def red_flag(key: str) -> RedFlag:
    for flag in red_flags():
        if flag.key == key:
            return flag
    raise KeyError(key)


@dataclass(frozen=True)
class EmergencyNumber:
    number: str  # "" when unknown
    region: str  # "" when unknown
    also: str
    source: str

    @property
    def text(self) -> str:
        """``112`` or ``your local emergency number``."""
        return self.number or load("emergency_numbers")["unknown"]


def emergency_number(time_zone: str) -> EmergencyNumber:
    """The emergency number for a patient's IANA time zone (exact names, then prefixes)."""
    regions = load("emergency_numbers")["region"]
    for region in regions:
        if time_zone in region.get("zones", []):
            return _number(region)
    for region in regions:
        if any(time_zone.startswith(p) for p in region.get("zone_prefixes", [])):
            return _number(region)
    return EmergencyNumber(number="", region="", also="", source="")


def _number(region: dict[str, Any]) -> EmergencyNumber:
    return EmergencyNumber(
        number=region["number"],
        region=region["name"],
        also=region.get("also", ""),
        source=region["source"],
    )


def default_recovery_weeks() -> list[dict[str, Any]]:
    """The default programme: ``[{"week": 1, "title": ..., "instructions": [...]}, ...]``."""
    return [
        {"week": w["week"], "title": w["title"], "instructions": list(w["instructions"])}
        for w in load("recovery")["week"]
    ]


def sleep_quality_choices() -> list[tuple[str, str]]:
    return [(q["key"], q["label"]) for q in outcomes()["sleep"]["quality"]]


def ptm_helped_choices() -> list[tuple[str, str]]:
    return [(q["key"], q["label"]) for q in outcomes()["ptm"]["helped"]]
