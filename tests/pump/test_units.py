"""Quantity strings and ISO 8601 durations, through the public API (a scenario and its result).

Spec: "Accept mg, mcg (also ug, µg), g for amounts; mL for volume; /day, /h for time.
Durations are ISO 8601." Amounts are reported in mg.
"""

from __future__ import annotations

import pytest

from openidds.pump import ScenarioError, simulate

approx = pytest.approx

MICRO_SIGN = "\u00b5g"  # µg, MICRO SIGN
GREEK_MU = "\u03bcg"  # μg, GREEK SMALL LETTER MU


def fill(conc: object, volume: float = 10) -> dict:
    return {"at": 0, "kind": "fill", "volume_ml": volume, "drugs": {"morphine": conc}}


def conc_mg_per_ml(scenario, text: object) -> float:
    # 10 mL filled; nothing moves: reservoir_mg / 10 mL is the concentration.
    res = simulate(scenario(fill(text), end=0)).to_dict()
    return res["end_state"]["reservoir_mg"]["morphine"] / 10


def daily_dose_mg(scenario, text: object) -> float:
    # At 1 mg/mL the rate in mL/day equals the dose in mg/day; pumped in one day.
    program = {"at": 0, "kind": "program", "mode": "continuous", "dose": {"morphine": text}}
    res = simulate(scenario(fill("1 mg/mL", 20), program, end=24)).to_dict()
    return res["totals"]["pumped_ml"]


def amount_mg(scenario, text: object) -> float:
    # At 1 mg/mL a bolus of X mg moves X mL (over 2 h, below the 24 mL/day bolus limit).
    bolus = {"at": 0, "kind": "bolus", "dose": {"morphine": text}, "duration": "PT2H"}
    res = simulate(scenario(fill("1 mg/mL", 20), bolus, end=24)).to_dict()
    return res["totals"]["pumped_ml"]


@pytest.mark.parametrize(
    ("text", "mg_per_ml"),
    [
        ("10 mg/mL", 10.0),
        ("25 mcg/mL", 25e-3),
        ("25 ug/mL", 25e-3),
        (f"25 {MICRO_SIGN}/mL", 25e-3),
        (f"25 {GREEK_MU}/mL", 25e-3),
        ("0.05 g/mL", 50.0),
        ("2.5 mg/mL", 2.5),
        ("10mg/mL", 10.0),
    ],
)
def test_concentrations(scenario, text, mg_per_ml):
    assert conc_mg_per_ml(scenario, text) == approx(mg_per_ml, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "mg_per_day"),
    [
        ("5 mg/day", 5.0),
        ("0.2 mg/h", 0.2 * 24),  # 4.8 mg/day
        ("500 mcg/day", 0.5),
        ("500 ug/day", 0.5),
        (f"500 {MICRO_SIGN}/day", 0.5),
        (f"500 {GREEK_MU}/day", 0.5),
        ("10 mcg/h", 10e-3 * 24),  # 0.24 mg/day
        ("0.005 g/day", 5.0),
    ],
)
def test_daily_doses(scenario, text, mg_per_day):
    assert daily_dose_mg(scenario, text) == approx(mg_per_day, abs=1e-9)


@pytest.mark.parametrize(
    ("text", "mg"),
    [
        ("0.2 mg", 0.2),
        ("500 mcg", 0.5),
        ("500 ug", 0.5),
        (f"500 {MICRO_SIGN}", 0.5),
        (f"500 {GREEK_MU}", 0.5),
        ("0.001 g", 1.0),
    ],
)
def test_amounts(scenario, text, mg):
    assert amount_mg(scenario, text) == approx(mg, abs=1e-9)


@pytest.mark.parametrize(
    "text",
    [
        "10 mg",  # an amount, not a concentration
        "10 mg/L",
        "10 kg/mL",
        "10 mg/day",
        "10 mg/mL/day",
        "ten mg/mL",
        "mg/mL",
        "10",
        "",
        "-5 mg/mL",
        "1e999 mg/mL",
        10,
        10.0,
    ],
)
def test_bad_concentrations(scenario, text):
    with pytest.raises(ScenarioError) as info:
        simulate(scenario(fill(text), end=0))
    assert (info.value.event_index, info.value.field) == (0, "drugs.morphine")


@pytest.mark.parametrize(
    "text", ["5 mg", "5 mg/mL", "5 mg/min", "5 mg/week", "5 mL/day", "5/day", "5", 5.0]
)
def test_bad_daily_doses(scenario, text):
    program = {"at": 0, "kind": "program", "mode": "continuous", "dose": {"morphine": text}}
    with pytest.raises(ScenarioError) as info:
        simulate(scenario(fill("1 mg/mL"), program, end=24))
    assert (info.value.event_index, info.value.field) == (1, "dose.morphine")


@pytest.mark.parametrize("text", ["0.2 mg/mL", "0.2 mg/day", "0.2 mL", "0.2", "0 mg", 0.2])
def test_bad_amounts(scenario, text):
    bolus = {"at": 0, "kind": "bolus", "dose": {"morphine": text}, "duration": "PT2H"}
    with pytest.raises(ScenarioError) as info:
        simulate(scenario(fill("1 mg/mL"), bolus, end=24))
    assert (info.value.event_index, info.value.field) == (1, "dose.morphine")


# -- ISO 8601 durations ---------------------------------------------------------------------


def recovery_at(scenario, duration: object, recovery: object = None) -> str:
    # A scan at 2026-01-01T00:00Z: the motor_stall_recovery alarm is at duration + recovery.
    mri = {"at": 0, "kind": "mri", "duration": duration}
    if recovery is not None:
        mri["recovery"] = recovery
    res = simulate(scenario(fill("1 mg/mL"), mri, end=24 * 30)).to_dict()
    (alarm,) = [a for a in res["alarms"] if a["kind"] == "motor_stall_recovery"]
    return alarm["at"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT30M", "2026-01-01T00:30:00Z"),
        ("PT1H", "2026-01-01T01:00:00Z"),
        ("PT1H30M", "2026-01-01T01:30:00Z"),
        ("PT90S", "2026-01-01T00:01:30Z"),
        ("PT0.5H", "2026-01-01T00:30:00Z"),
        ("P1D", "2026-01-02T00:00:00Z"),
        ("P1DT12H", "2026-01-02T12:00:00Z"),
        ("P1W", "2026-01-08T00:00:00Z"),
        ("PT0S", "2026-01-01T00:00:00Z"),
    ],
)
def test_durations(scenario, text, expected):
    assert recovery_at(scenario, text) == expected


def test_recovery_adds_to_the_scan(scenario):
    assert recovery_at(scenario, "PT45M", "PT2H15M") == "2026-01-01T03:00:00Z"


@pytest.mark.parametrize(
    "text",
    ["30M", "PT", "P", "1 hour", "PT-5M", "P1Y", "P1M", "PT1H30", "", 30, 1.5, "T30M"],
)
def test_bad_durations(scenario, text):
    mri = {"at": 1, "kind": "mri", "duration": text}
    with pytest.raises(ScenarioError) as info:
        simulate(scenario(fill("1 mg/mL"), mri, end=24))
    assert (info.value.event_index, info.value.field) == (1, "duration")


def test_zero_bolus_duration_is_an_error(scenario):
    bolus = {"at": 1, "kind": "bolus", "volume_ml": 0.1, "duration": "PT0S"}
    with pytest.raises(ScenarioError) as info:
        simulate(scenario(fill("1 mg/mL"), bolus, end=24))
    assert (info.value.event_index, info.value.field) == (1, "duration")


# -- plain numbers in *_ml fields ----------------------------------------------------------


@pytest.mark.parametrize("value", ["20 mL", "20", -1.0, True])
def test_ml_fields_are_plain_non_negative_numbers(scenario, value):
    event = {"at": 0, "kind": "fill", "volume_ml": value, "drugs": {"morphine": "1 mg/mL"}}
    with pytest.raises(ScenarioError) as info:
        simulate(scenario(event, end=24))
    assert (info.value.event_index, info.value.field) == (0, "volume_ml")


def test_integer_ml_fields_are_accepted(scenario):
    program = {"at": 0, "kind": "program", "mode": "continuous", "rate_ml_per_day": 1}
    res = simulate(scenario(fill("1 mg/mL", 20), program, end=24)).to_dict()
    assert res["totals"]["pumped_ml"] == approx(1.0, abs=1e-9)
