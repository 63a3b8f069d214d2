"""The portal's data file (``data/patient_info.toml``): alarm sounds, replacement lead
time, the wallet card's texts and the portal's own rules, each with its source."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).resolve().parent / "data" / "patient_info.toml"


@functools.cache
def data() -> dict[str, Any]:
    with DATA_FILE.open("rb") as handle:
        return tomllib.load(handle)


@dataclass(frozen=True)
class AlarmSound:
    name: str
    critical: bool
    sound: str
    means: str
    todo: str
    card: str


@dataclass(frozen=True)
class AlarmInfo:
    """What the pump's alarms sound like and what to do (``sounds`` empty: unconfirmed)."""

    confirmed: bool
    source: str
    sounds: tuple[AlarmSound, ...]
    text: str = ""


def alarms_for(pump_model: str) -> AlarmInfo:
    entries: dict[str, Any] = data()["alarms"]
    for name, entry in entries.items():
        if name != "default" and pump_model in entry["models"]:
            return AlarmInfo(
                confirmed=bool(entry["confirmed"]),
                source=str(entry["source"]),
                sounds=tuple(AlarmSound(**s) for s in entry["sounds"]),
            )
    default = entries["default"]
    return AlarmInfo(
        confirmed=False, source=str(default["source"]), sounds=(), text=str(default["text"])
    )


def invitation_valid_days() -> int:
    return int(data()["policy"]["invitation_valid_days"])


def invitation_code_length() -> int:
    return int(data()["policy"]["invitation_code_length"])


def reminder_days_before() -> tuple[int, ...]:
    return tuple(int(d) for d in data()["policy"]["reminder_days_before"])


def replacement_lead_days() -> int:
    return int(data()["replacement"]["lead_days_before_eos"])


def replacement_source() -> str:
    return str(data()["replacement"]["source"])


def card_text(name: str) -> str:
    return str(data()["card"][name])


def mri_text(mri: str) -> tuple[str, str]:
    """The catalog's wallet-card MRI text split into (conditions, sources)."""
    conditions, _, sources = mri.partition(" Sources: ")
    check = ""
    marker = sources.find("Check the current")
    if marker >= 0:
        check = sources[marker:].strip()
        sources = sources[:marker].rstrip(" .;")
    conditions = conditions.strip()
    if check:
        conditions = f"{conditions} {check}"
    return conditions, sources.strip()
