"""Scenario builders for the benchmarks (dicts of the scenario TOML shape)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def ten_year_scenario(timezone: str = "Europe/Berlin") -> dict[str, Any]:
    """Ten years of a morphine pump: a refill every 60 days, a 4-step daily flex program,
    and 4 PTM requests a day (some denied by the lockout)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=3652)
    events: list[dict[str, Any]] = [
        {"at": start, "kind": "fill", "volume_ml": 40.0, "drugs": {"morphine": "10 mg/mL"}},
        {
            "at": start,
            "kind": "program",
            "mode": "flex",
            "period": "day",
            "steps": [
                {"start": "00:00", "rate_ml_per_day": 0.4},
                {"start": "07:00", "rate_ml_per_day": 0.6},
                {"start": "13:00", "rate_ml_per_day": 0.5},
                {"start": "20:00", "rate_ml_per_day": 0.45},
            ],
        },
        {
            "at": start,
            "kind": "ptm_settings",
            "volume_ml": 0.01,
            "duration": "PT10M",
            "lockout": "PT3H",
            "max_per_24h": 3,
        },
    ]
    day = 1
    while day < 3652:
        at = start + timedelta(days=day)
        if day % 60 == 0:
            events.append(
                {
                    "at": at + timedelta(hours=9),
                    "kind": "fill",
                    "volume_ml": 38.0,
                    "aspirated_ml": 8.0,
                    "drugs": {"morphine": "10 mg/mL"},
                }
            )
        for hour in (8, 10, 15, 21):
            events.append({"at": at + timedelta(hours=hour), "kind": "ptm_request"})
        day += 1
    return {
        "scenario": {"name": "Ten years", "start": start, "end": end, "timezone": timezone},
        "pump": {"model": "synchromed2-40"},
        "event": events,
    }
