"""Builders of scenario dicts with a [patient] table for the dose-check tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 3, 2, 8, tzinfo=UTC)


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def scenario(
    *events: dict[str, Any],
    model: str = "synchromed2-40",
    tolerance: str | None = "tolerant",
    indication: str = "noncancer_pain",
    path: str = "primed",
    days: float = 30,
    **pump: Any,
) -> dict[str, Any]:
    patient: dict[str, Any] = {"indication": indication}
    if tolerance is not None:
        patient["opioid_tolerance"] = tolerance
    return {
        "scenario": {"name": "t", "start": START, "end": at(24 * days), "timezone": "UTC"},
        "patient": patient,
        "pump": {"model": model, "fluid_path_initial": path, **pump},
        "event": [{**e, "at": at(e["at"])} for e in events],
    }


def fill(h: float, volume: float, drugs: dict[str, str], **kw: Any) -> dict[str, Any]:
    return {
        "at": h,
        "kind": "fill",
        "volume_ml": volume,
        "drugs": drugs,
        "stability_days": 30,
        **kw,
    }


def program(h: float, drug: str, dose: str, **kw: Any) -> dict[str, Any]:
    return {"at": h, "kind": "program", "mode": "continuous", "dose": {drug: dose}, **kw}


def codes(findings: list[Any], *, blocking: bool = True) -> list[str]:
    return [f.code for f in findings if f.blocks or not blocking]
