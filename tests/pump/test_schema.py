"""src/openidds/pump/data/result.schema.json: the JSON Schema of the spec's Result.

The schema must accept every result the twin produces (library and the installed CLI) and
reject results that break the spec's shape.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from openidds.pump import ALARM_KINDS, RESULT_FORMAT, load_scenario, simulate

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.toml"))

FILL = {"at": 0, "kind": "fill", "volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}}
BASAL = {"at": 0, "kind": "program", "mode": "continuous", "rate_ml_per_day": 1.0}
SHORT_BATTERY = {"days_to_eri_at_zero_flow": 10.0, "days_per_ml": 0.5, "eos_after_eri_days": 2.0}


@pytest.fixture(scope="module")
def validator(result_schema) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(result_schema)


def errors(validator, data: dict[str, Any]) -> list[str]:
    return [e.message for e in validator.iter_errors(data)]


def test_schema_is_valid_draft_2020_12(result_schema):
    assert result_schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(result_schema)


def test_schema_matches_the_library_constants(result_schema):
    assert result_schema["properties"]["format"] == {"const": RESULT_FORMAT}
    alarm_kinds = result_schema["properties"]["alarms"]["items"]["properties"]["kind"]["enum"]
    assert alarm_kinds == list(ALARM_KINDS)


def every_feature(scenario) -> list[dict[str, Any]]:
    """Scenarios that between them produce every alarm kind, null forecasts, both PTM
    outcomes, two drugs, flex programs and an empty daily table."""
    ptm = {
        "at": 1,
        "kind": "ptm_settings",
        "volume_ml": 0.1,
        "duration": "PT10M",
        "lockout": "PT1H",
        "max_per_24h": 3,
    }
    refill = {
        "at": 120,
        "kind": "fill",
        "volume_ml": 30,
        "aspirated_ml": 1.0,
        "residual_left_ml": 2.0,
        "drugs": {"baclofen": "2 mg/mL"},
    }
    flex = {
        "at": 0,
        "kind": "program",
        "mode": "flex",
        "period": "week",
        "steps": [
            {"start": "Mon 08:00", "rate_ml_per_day": 2.0},
            {"start": "Fri 20:00", "rate_ml_per_day": 1.0},
        ],
    }
    return [
        # low, empty, refill discrepancy, stall, drug change, PTM granted and denied
        scenario(
            FILL,
            {**BASAL, "rate_ml_per_day": 4.0},
            ptm,
            {"at": 2, "kind": "ptm_request"},
            {"at": 2.5, "kind": "ptm_request"},
            {"at": 3, "kind": "mri", "duration": "PT1H"},
            refill,
            {"at": 121, "kind": "bridge_bolus"},
            end=240,
        ),
        # ERI and EOS, past EOS: forecast nulls
        scenario(FILL, BASAL, end=240, battery=SHORT_BATTERY),
        # stopped: nulls; no PTM ever (not_enabled)
        scenario(
            FILL,
            BASAL,
            {"at": 5, "kind": "stop"},
            {"at": 6, "kind": "ptm_request"},
            end=48,
            timezone="America/New_York",
        ),
        # weekly flex, primed path, bolus and priming
        scenario(
            FILL,
            flex,
            {"at": 3, "kind": "bolus", "volume_ml": 0.2, "duration": "PT1H"},
            {"at": 4, "kind": "priming_bolus"},
            end=336,
            fluid_path_initial="primed",
            timezone="Europe/Berlin",
        ),
        # zero-length replay
        scenario(FILL, end=0),
        # no events at all
        scenario(end=24),
    ]


def test_library_results_validate(scenario, validator):
    kinds: set[str] = set()
    for sc in every_feature(scenario):
        data = simulate(sc).to_dict()
        assert errors(validator, data) == []
        kinds |= {a["kind"] for a in data["alarms"]}
    assert kinds == set(ALARM_KINDS)  # every alarm kind was produced and validated


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_results_validate(path, validator):
    assert errors(validator, simulate(load_scenario(path)).to_dict()) == []


def test_cli_json_validates(tmp_path, openidds_cli, validator):
    path = tmp_path / "s.toml"
    path.write_text(
        """
[scenario]
name = "schema check"
start = 2026-01-01T00:00:00Z
end = 2026-01-15T00:00:00Z

[pump]
model = "synchromed2-20"

[[event]]
at = 2026-01-01T00:00:00Z
kind = "fill"
volume_ml = 10.0
drugs = { ziconotide = "25 mcg/mL" }

[[event]]
at = 2026-01-01T00:00:00Z
kind = "program"
mode = "continuous"
dose = { ziconotide = "1.2 mcg/day" }
""",
        encoding="utf-8",
    )
    proc = openidds_cli("simulate", path, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert errors(validator, data) == []
    assert data["pump"]["capacity_ml"] == 20.0


# -- the schema rejects what the spec does not allow ------------------------------------------


@pytest.fixture
def valid(scenario) -> dict[str, Any]:
    ptm = {
        "at": 1,
        "kind": "ptm_settings",
        "volume_ml": 0.1,
        "duration": "PT10M",
        "lockout": "PT1H",
        "max_per_24h": 3,
    }
    sc = scenario(
        FILL,
        BASAL,
        ptm,
        {"at": 2, "kind": "ptm_request"},
        {"at": 2.5, "kind": "ptm_request"},
        end=240,
    )
    return simulate(sc).to_dict()


def mutated(valid: dict[str, Any], change) -> dict[str, Any]:
    data = copy.deepcopy(valid)
    change(data)
    return data


BREAKAGES = {
    "wrong format": lambda d: d.update(format="openidds.result/2"),
    "extra top-level key": lambda d: d.update(warnings=[]),
    "missing forecast": lambda d: d.pop("forecast"),
    "instant with offset": lambda d: d["scenario"].update(start="2026-01-01T00:00:00+00:00"),
    "instant with fraction": lambda d: d["scenario"].update(end="2026-01-11T00:00:00.5Z"),
    "date as instant": lambda d: d["events"][0].update(at="2026-01-01"),
    "extra scenario key": lambda d: d["scenario"].update(catalog="x"),
    "extra pump key": lambda d: d["pump"].update(accuracy=0.145),
    "unknown alarm kind": lambda d: d["alarms"].append(
        {"at": "2026-01-02T00:00:00Z", "kind": "occlusion"}
    ),
    "alarm without at": lambda d: d["alarms"].append({"kind": "eri"}),
    "unknown event kind": lambda d: d["events"][1].update(kind="refill"),
    "negative index": lambda d: d["events"][1].update(index=-1),
    "fill without expected": lambda d: d["events"][0].pop("expected_ml"),
    "fill without discrepancy": lambda d: d["events"][0].pop("discrepancy_ml"),
    "program with granted": lambda d: d["events"][1].update(granted=True),
    "program with expected": lambda d: d["events"][1].update(expected_ml=1.0),
    "request without reason": lambda d: d["events"][3].pop("reason"),
    "granted with reason": lambda d: d["events"][3].update(reason="lockout"),
    "denied without reason": lambda d: d["events"][4].update(reason=None),
    "unknown reason": lambda d: d["events"][4].update(reason="busy"),
    "extra event key": lambda d: d["events"][1].update(volume_ml=0.1),
    "daily bad date": lambda d: d["daily"][0].update(date="01/01/2026"),
    "daily extra key": lambda d: d["daily"][0].update(rate_ml_per_day=1.0),
    "daily mg not a number": lambda d: d["daily"][0]["delivered_mg"].update(morphine="10"),
    "totals missing unaccounted": lambda d: d["totals"].pop("unaccounted_ml"),
    "totals extra key": lambda d: d["totals"].update(filled_ml=20.0),
    "end_state extra key": lambda d: d["end_state"].update(fluid_path_ml=0.25),
    "band missing latest": lambda d: d["forecast"]["empty"].pop("latest"),
    "band extra key": lambda d: d["forecast"]["empty"].update(p50=None),
    "forecast extra key": lambda d: d["forecast"].update(ptm_ml_per_day=0.0),
    "eri not an instant": lambda d: d["forecast"].update(eri="soon"),
}


def test_the_valid_result_is_valid(valid, validator):
    assert errors(validator, valid) == []
    assert valid["events"][3]["granted"] is True
    assert valid["events"][4]["granted"] is False


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_schema_rejects(valid, validator, name):
    assert errors(validator, mutated(valid, BREAKAGES[name])) != []


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["forecast"].update(eri=None, eos=None, recommended_refill=None),
        lambda d: d["forecast"]["empty"].update(nominal=None, earliest=None, latest=None),
        lambda d: d["totals"].update(unaccounted_ml=-2.0),
        lambda d: d["totals"]["unaccounted_mg"].update(morphine=-20.0),
        lambda d: d.update(daily=[], alarms=[], events=[]),
    ],
    ids=[
        "null instants",
        "null band",
        "negative unaccounted",
        "negative unaccounted mg",
        "empty lists",
    ],
)
def test_schema_accepts_what_the_spec_allows(valid, validator, change):
    assert errors(validator, mutated(valid, change)) == []
