"""Red team for the checks themselves: on random valid scenarios of the twin's property
tests (every event kind, flex programs across DST, PTM, MRI, batteries, revisions and
replacements added at random), ``check`` never fails with anything but a ScenarioError, and
every finding is well formed."""

from __future__ import annotations

import importlib.util
import math
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from openidds.dosing import CODES, check
from openidds.pump import ScenarioError


def _strategies() -> ModuleType:
    name = "_openidds_pump_tests_strategies"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).parents[1] / "pump" / "strategies.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


strategies = _strategies()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(strategies.scenarios(), st.integers(0, 2**32 - 1), st.sampled_from(["US", "EU"]))
def test_check_never_crashes_and_findings_are_well_formed(
    data: dict[str, Any], seed: int, region: str
) -> None:
    rng = random.Random(seed)
    events = list(data.get("event", []))
    if events and rng.random() < 0.5:
        # a revision, an interrogation or a replacement at the time of a random event
        at = rng.choice(events)["at"]
        kind = rng.choice(["catheter_revision", "interrogation", "pump_replacement"])
        extra: dict[str, Any] = {"at": at, "kind": kind}
        if kind == "catheter_revision":
            extra["drug_free_ml"] = 0.0
        if kind == "interrogation":
            extra["reservoir_ml"] = rng.choice([0.0, 1.0, 5.0])
        events.append(extra)
        data = {**data, "event": events}
    data = {**data, "patient": rng.choice([{}, {"opioid_tolerance": "naive"}])}
    note(strategies.describe(data))
    try:
        findings = check(data, region=region)
    except ScenarioError:
        assume(False)
        return
    for f in findings:
        assert f.code in CODES, f.code
        assert f.severity in ("hard", "soft", "info")
        assert f.message
        assert f.source
        for number in (f.value, f.limit):
            assert number is None or math.isfinite(number), (f.code, number)
