"""Spec semantics 6 (bridge bolus), computed by hand.

Common set-up: primed 0.25 mL path of morphine 10 mg/mL, basal 0.5 mL/day from 2026-01-01.
On day 11 (240 h) the clinician aspirates the expected 20 - 10 x 0.5 = 15 mL and fills 20 mL
of hydromorphone 2 mg/mL, then programs 0.25 mL/day. The bridge bolus runs the old 0.5 mL/day
until 0.25 mL has left the tip: 0.25 / 0.5 = 0.5 day, i.e. until 12:00.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openidds.pump import ScenarioError, simulate

approx = pytest.approx

START = datetime(2026, 1, 1, tzinfo=UTC)
H = 1 / 24
T = 240  # the refill, 2026-01-11T00:00Z


def hours(h: float) -> datetime:
    return START + timedelta(hours=h)


def fill(
    at: float, volume: float, drug: str = "morphine", conc: str = "10 mg/mL", **extra: object
) -> dict:
    return {"at": at, "kind": "fill", "volume_ml": volume, "drugs": {drug: conc}, **extra}


def rate(at: float, ml_per_day: float) -> dict:
    return {"at": at, "kind": "program", "mode": "continuous", "rate_ml_per_day": ml_per_day}


def refill(at: float = T, volume: float = 20, aspirated: float = 15.0) -> dict:
    return fill(at, volume, "hydromorphone", "2 mg/mL", aspirated_ml=aspirated)


BRIDGE = {"at": T, "kind": "bridge_bolus"}


def base(*events: dict) -> list[dict]:
    return [fill(0, 20), rate(0, 0.5), *events]


def last_day(res) -> dict:
    return res.to_dict()["daily"][-1]


def test_bridge_delivers_the_old_fluid_at_the_old_rate(scenario):
    res = simulate(
        scenario(*base(refill(), BRIDGE, rate(T, 0.25)), end=T + 24, fluid_path_initial="primed")
    )
    day = last_day(res)
    assert day["pumped_ml"] == approx(12 * H * 0.5 + 12 * H * 0.25, abs=1e-9)  # 0.375 mL
    assert day["delivered_mg"] == {
        "morphine": approx(0.25 * 10, abs=1e-9),  # the path, at the old regimen
        "hydromorphone": approx(12 * H * 0.25 * 2, abs=1e-9),  # 0.125 mL x 2 mg/mL
    }
    # The new fluid reaches the tip when, and only when, the new program starts (12:00).
    before = res.delivered_mg_between(hours(T), hours(T + 12))
    after = res.delivered_mg_between(hours(T + 12), hours(T + 24))
    assert before == {"morphine": approx(0.25 * 10, abs=1e-9), "hydromorphone": approx(0.0)}
    assert after == {
        "morphine": approx(0.0),
        "hydromorphone": approx(12 * H * 0.25 * 2, abs=1e-9),  # 0.125 mL x 2 mg/mL
    }


def test_without_a_bridge_the_path_is_delivered_at_the_new_rate(scenario):
    # Contrast: program at once; the 0.25 mL of morphine in the path takes the whole day.
    res = simulate(
        scenario(*base(refill(), rate(T, 0.25)), end=T + 24, fluid_path_initial="primed")
    )
    day = last_day(res)
    assert day["pumped_ml"] == approx(0.25, abs=1e-9)
    assert day["delivered_mg"] == {"morphine": approx(0.25 * 10), "hydromorphone": 0.0}


def test_program_before_the_bridge_at_the_same_instant(scenario):
    # fill, program, bridge_bolus at one instant: the rate in force at the fill is still
    # 0.5 mL/day, and the new program (already in force) resumes after the bridge.
    res = simulate(
        scenario(*base(refill(), rate(T, 0.25), BRIDGE), end=T + 24, fluid_path_initial="primed")
    )
    assert last_day(res)["pumped_ml"] == approx(12 * H * 0.5 + 12 * H * 0.25, abs=1e-9)


def test_bridge_rate_is_the_rate_in_force_when_the_fill_was_applied(scenario):
    # program 0.25, then fill, then bridge at one instant (file order): the rate in force at
    # the fill is already 0.25, so the bridge runs 0.25 / 0.25 = 1 day at 0.25 mL/day.
    res = simulate(
        scenario(*base(rate(T, 0.25), refill(), BRIDGE), end=T + 24, fluid_path_initial="primed")
    )
    day = last_day(res)
    assert day["pumped_ml"] == approx(0.25, abs=1e-9)
    assert day["delivered_mg"] == {"morphine": approx(0.25 * 10), "hydromorphone": 0.0}


def test_program_during_the_bridge_takes_effect_at_its_end(scenario):
    # Bridge from 00:00; the new program arrives at 03:00 and starts at 12:00.
    res = simulate(
        scenario(
            *base(refill(), BRIDGE, rate(T + 3, 0.25)), end=T + 24, fluid_path_initial="primed"
        )
    )
    assert last_day(res)["pumped_ml"] == approx(12 * H * 0.5 + 12 * H * 0.25, abs=1e-9)


def test_bridge_pauses_during_a_stall(scenario):
    # Stall 06:00-08:00: the bridge needs 12 h of pumping, so it ends at 14:00.
    mri = {"at": T + 6, "kind": "mri", "duration": "PT2H"}
    res = simulate(
        scenario(
            *base(refill(), BRIDGE, rate(T, 0.25), mri), end=T + 24, fluid_path_initial="primed"
        )
    )
    day = last_day(res)
    assert day["pumped_ml"] == approx(12 * H * 0.5 + 10 * H * 0.25, abs=1e-9)
    assert day["delivered_mg"]["morphine"] == approx(0.25 * 10, abs=1e-9)
    assert day["delivered_mg"]["hydromorphone"] == approx(10 * H * 0.25 * 2, abs=1e-9)
    after = res.delivered_mg_between(hours(T + 14), hours(T + 24))
    assert after["morphine"] == approx(0.0, abs=1e-9)


def test_bridge_pauses_while_the_reservoir_is_empty(scenario):
    # The refill leaves only 0.1 mL: the bridge moves 0.1 mL (0.2 day = 04:48), the reservoir
    # is empty; refill 10 mL at 12:00; the bridge moves its other 0.15 mL (0.3 day = 7.2 h,
    # until 19:12) at 0.5 mL/day, then 0.25 mL/day for 4.8 h.
    second = fill(T + 12, 10, "hydromorphone", "2 mg/mL", aspirated_ml=0.0)
    res = simulate(
        scenario(
            *base(refill(volume=0.1), BRIDGE, rate(T, 0.25), second),
            end=T + 24,
            fluid_path_initial="primed",
        )
    )
    day = last_day(res)
    assert day["pumped_ml"] == approx(0.1 + 0.15 + 4.8 * H * 0.25, abs=1e-9)  # 0.3 mL
    assert day["delivered_mg"]["morphine"] == approx(0.25 * 10, abs=1e-9)
    assert day["delivered_mg"]["hydromorphone"] == approx(0.05 * 2, abs=1e-9)
    alarms = res.to_dict()["alarms"]
    assert alarms == [
        {"at": "2026-01-11T00:00:00Z", "kind": "low_reservoir"},  # the fill leaves 0.1 <= 2
        {"at": "2026-01-11T04:48:00Z", "kind": "empty_reservoir"},
    ]


def test_bridge_with_a_flex_program_uses_the_step_rate_at_the_fill(scenario):
    # Flex 00:00 0.3, 12:00 0.6. Refill at 11:00 on day 2 (step rate 0.3), bridge at 13:00
    # (step rate 0.6 by then): the bridge runs 0.3 mL/day for 0.25 / 0.3 days = 20 h,
    # from 13:00 to 09:00 on day 3; then the flex program resumes.
    program = {
        "at": 0,
        "kind": "program",
        "mode": "flex",
        "period": "day",
        "steps": [
            {"start": "00:00", "rate_ml_per_day": 0.3},
            {"start": "12:00", "rate_ml_per_day": 0.6},
        ],
    }
    day1 = 12 * H * 0.3 + 12 * H * 0.6  # 0.45 mL
    expected_at_refill = 20 - day1 - 11 * H * 0.3
    fill2 = fill(35, 20, aspirated_ml=expected_at_refill, residual_left_ml=0.0)
    bridge = {"at": 37, "kind": "bridge_bolus"}
    res = simulate(
        scenario(fill(0, 20), program, fill2, bridge, end=72, fluid_path_initial="primed")
    )
    out = res.to_dict()
    assert out["events"][2]["discrepancy_ml"] == approx(0.0, abs=1e-9)
    assert [row["pumped_ml"] for row in out["daily"]] == approx(
        [
            day1,
            12 * H * 0.3 + 1 * H * 0.6 + 11 * H * 0.3,  # to 12:00, 12-13 flex, then bridge
            9 * H * 0.3 + 3 * H * 0.3 + 12 * H * 0.6,  # bridge to 09:00, then flex
        ],
        abs=1e-9,
    )


def test_stop_ends_a_bridge_at_once(scenario):
    # Bridge from 00:00 (0.5 mL/day), stop at 06:00 (0.125 mL moved), program 0.25 at 12:00:
    # the bridge does not resume.
    stop = {"at": T + 6, "kind": "stop"}
    res = simulate(
        scenario(
            *base(refill(), BRIDGE, rate(T, 0.25), stop, rate(T + 12, 0.25)),
            end=T + 24,
            fluid_path_initial="primed",
        )
    )
    assert last_day(res)["pumped_ml"] == approx(6 * H * 0.5 + 12 * H * 0.25, abs=1e-9)


def test_bridge_volume_is_the_scenario_fluid_path(scenario):
    # 0.5 mL path: the bridge runs 0.5 / 0.5 = 1 day at the old rate.
    res = simulate(
        scenario(
            *base(refill(), BRIDGE, rate(T, 0.25)),
            end=T + 36,
            fluid_path_initial="primed",
            fluid_path_ml=0.5,
        )
    )
    daily = res.to_dict()["daily"]
    assert daily[-2]["pumped_ml"] == approx(0.5, abs=1e-9)
    assert daily[-1]["pumped_ml"] == approx(12 * H * 0.25, abs=1e-9)


@pytest.mark.parametrize(
    "before",
    [
        pytest.param([fill(0, 20)], id="no program"),
        pytest.param([fill(0, 20), rate(0, 0.5), {"at": 1, "kind": "stop"}], id="stopped"),
    ],
)
def test_bridge_at_zero_rate_is_an_error(scenario, before):
    # The refill's aspirated volume does not matter here (only the discrepancy alarm would).
    events = [*before, fill(T, 20, aspirated_ml=19.0), {"at": T, "kind": "bridge_bolus"}]
    index = len(events) - 1
    with pytest.raises(ScenarioError) as info:
        simulate(scenario(*events, end=T + 24))
    assert (info.value.event_index, info.value.at) == (index, hours(T))
    assert info.value.field == "kind"


def test_bridge_is_an_error_when_the_program_came_after_the_fill(scenario):
    # fill, then program, then bridge at one instant: at the fill the rate was zero.
    events = [fill(0, 20), rate(0, 0.5), {"at": 0, "kind": "bridge_bolus"}]
    with pytest.raises(ScenarioError) as info:
        simulate(scenario(*events, end=24))
    assert (info.value.event_index, info.value.at, info.value.field) == (2, START, "kind")
