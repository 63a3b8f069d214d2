"""Shared test helpers: a builder of scenario dicts (the shape of the TOML document)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

START = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday


def _instant(value: object, start: datetime) -> object:
    """A number is hours after the scenario start; anything else is passed through."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return start + timedelta(hours=value)
    return value


def build_scenario(
    *events: Mapping[str, Any],
    start: datetime | str = START,
    end: float | datetime | str = 240,
    timezone: str = "UTC",
    model: str = "synchromed2-40",
    name: str = "test scenario",
    battery: Mapping[str, Any] | None = None,
    **pump: Any,
) -> dict[str, Any]:
    """A scenario dict. Event ``at`` and ``end`` given as numbers are hours after ``start``
    (``start`` must then be a datetime); ``pump`` keyword arguments go to ``[pump]``."""
    base = start if isinstance(start, datetime) else START
    pump_table: dict[str, Any] = {"model": model, **pump}
    if battery is not None:
        pump_table["battery"] = dict(battery)
    return {
        "scenario": {
            "name": name,
            "start": start,
            "end": _instant(end, base),
            "timezone": timezone,
        },
        "pump": pump_table,
        "event": [{**e, "at": _instant(e["at"], base)} if "at" in e else dict(e) for e in events],
    }


@pytest.fixture
def scenario() -> Callable[..., dict[str, Any]]:
    """``scenario(*events, end=240, timezone="UTC", model="synchromed2-40", **pump)``."""
    return build_scenario


def openidds_command() -> list[str]:
    """The installed console script next to the interpreter running the tests.

    ``python3 dev.py test`` runs pytest with .venv/bin/python, where the project is installed
    (editable) and .venv/bin/openidds exists. Other interpreters (a bare venv with
    PYTHONPATH=src) fall back to ``python -m openidds.cli``.
    """
    script = Path(sys.executable).parent / "openidds"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "openidds.cli"]


def run_openidds(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    import openidds

    env = dict(os.environ)
    # So that the `-m` fallback imports the same package as the tests.
    src = str(Path(openidds.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [*openidds_command(), *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def openidds_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``openidds_cli("simulate", path, "--json")``: run the console script, capture output."""
    return run_openidds


@pytest.fixture(scope="session")
def result_schema() -> dict[str, Any]:
    """The JSON Schema of the spec's Result (src/openidds/pump/data/result.schema.json)."""
    import json
    from importlib import resources

    ref = resources.files("openidds.pump") / "data" / "result.schema.json"
    schema: dict[str, Any] = json.loads(ref.read_text(encoding="utf-8"))
    return schema
