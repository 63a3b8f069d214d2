"""Spec semantics 2 (plug-flow fluid path) and 15 (no mixing at priming), computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openidds.pump import simulate

approx = pytest.approx

START = datetime(2026, 1, 1, tzinfo=UTC)


def fill(at: float, volume: float, drugs: dict[str, str] | None = None, **extra: object) -> dict:
    drugs = drugs or {"morphine": "10 mg/mL"}
    return {"at": at, "kind": "fill", "volume_ml": volume, "drugs": drugs, **extra}


def rate(at: float, ml_per_day: float) -> dict:
    return {"at": at, "kind": "program", "mode": "continuous", "rate_ml_per_day": ml_per_day}


def hours(h: float) -> datetime:
    return START + timedelta(hours=h)


def test_new_implant_delivers_the_drug_free_path_first(scenario):
    # Default fluid_path_initial = "no-drug", catalog fluid path 0.25 mL; 1 mL/day of 10 mg/mL.
    res = simulate(scenario(fill(0, 20), rate(0, 1.0), end=48)).to_dict()
    assert res["pump"]["fluid_path_ml"] == 0.25
    daily = [row["delivered_mg"]["morphine"] for row in res["daily"]]
    assert daily == approx([(1.0 - 0.25) * 10, 1.0 * 10], abs=1e-9)  # 7.5 mg, then 10 mg
    assert res["totals"]["pumped_ml"] == approx(2.0, abs=1e-9)
    assert res["totals"]["delivered_mg"]["morphine"] == approx((2.0 - 0.25) * 10, abs=1e-9)
    assert res["end_state"]["reservoir_mg"]["morphine"] == approx((20 - 2.0) * 10, abs=1e-9)


def test_primed_path_holds_the_first_fill(scenario):
    sc = scenario(fill(0, 20), rate(0, 1.0), end=48, fluid_path_initial="primed")
    res = simulate(sc).to_dict()
    daily = [row["delivered_mg"]["morphine"] for row in res["daily"]]
    assert daily == approx([10.0, 10.0], abs=1e-9)  # 1 mL/day x 10 mg/mL from the first mL
    assert res["end_state"]["reservoir_ml"] == approx(20 - 2.0, abs=1e-9)


def test_drug_front_reaches_the_tip_after_the_path_volume(scenario):
    # 0.1 mL/day through a 0.25 mL drug-free path: the drug reaches the tip after
    # 0.25 / 0.1 = 2.5 days (day 3 at 12:00), then 0.1 mL/day x 10 mg/mL = 1 mg/day.
    res = simulate(scenario(fill(0, 20), rate(0, 0.1), end=96))
    daily = [row["delivered_mg"]["morphine"] for row in res.to_dict()["daily"]]
    assert daily == approx([0.0, 0.0, 0.5 * 0.1 * 10, 0.1 * 10], abs=1e-9)
    # The typed result gives the same split at the front (2.5 days).
    assert res.delivered_mg_between(START, hours(60))["morphine"] == approx(0.0, abs=1e-12)
    assert res.delivered_mg_between(hours(60), hours(72))["morphine"] == approx(
        0.5 * 0.1 * 10, abs=1e-9
    )


def test_scenario_fluid_path_volume_overrides_the_catalog(scenario):
    # 0.5 mL drug-free path at 1 mL/day: (1 - 0.5) mL x 10 mg/mL on day 1.
    res = simulate(scenario(fill(0, 20), rate(0, 1.0), end=24, fluid_path_ml=0.5)).to_dict()
    assert res["pump"]["fluid_path_ml"] == 0.5
    assert res["daily"][0]["delivered_mg"]["morphine"] == approx((1.0 - 0.5) * 10, abs=1e-9)


def test_zero_fluid_path_delivers_what_leaves_the_reservoir(scenario):
    res = simulate(scenario(fill(0, 20), rate(0, 1.0), end=24, fluid_path_ml=0.0)).to_dict()
    assert res["daily"][0]["delivered_mg"]["morphine"] == approx(1.0 * 10, abs=1e-9)


def test_old_fluid_in_the_path_is_delivered_first_after_a_drug_change(scenario):
    # Primed 0.25 mL path of morphine 10 mg/mL, 0.5 mL/day for 10 days (5 mL).
    # Day 11 at 00:00: aspirate 15 mL, fill 20 mL of baclofen 2 mg/mL (no residual).
    # Day 11 delivers the 0.25 mL of morphine in the path, then 0.25 mL of baclofen.
    refill = fill(240, 20, {"baclofen": "2 mg/mL"}, aspirated_ml=15.0)
    sc = scenario(fill(0, 20), rate(0, 0.5), refill, end=288, fluid_path_initial="primed")
    res = simulate(sc).to_dict()
    day11, day12 = res["daily"][10], res["daily"][11]
    assert day11["delivered_mg"] == {
        "morphine": approx(0.25 * 10, abs=1e-9),
        "baclofen": approx(0.25 * 2, abs=1e-9),
    }
    assert day12["delivered_mg"] == {"morphine": 0.0, "baclofen": approx(0.5 * 2, abs=1e-9)}
    # Every row names both drugs, 0.0 where none was delivered.
    assert res["daily"][0]["delivered_mg"] == {"morphine": approx(0.5 * 10), "baclofen": 0.0}
    assert res["totals"]["delivered_mg"] == {
        "morphine": approx(10 * 0.5 * 10 + 0.25 * 10, abs=1e-9),  # 52.5 mg
        "baclofen": approx(0.25 * 2 + 0.5 * 2, abs=1e-9),  # 1.5 mg
    }
    assert res["end_state"]["reservoir_mg"] == {
        "morphine": 0.0,
        "baclofen": approx((20 - 2 * 0.5) * 2, abs=1e-9),  # 19 mL x 2 mg/mL
    }


def test_priming_pushes_the_drug_free_path_out_without_mixing(scenario):
    # Spec 15: plug flow, no mixing. New implant, 0.25 mL drug-free path, priming bolus of
    # 0.25 mL over 6 h, then 1 mL/day: the priming delivers exactly the drug-free fluid.
    priming = {"at": 0, "kind": "priming_bolus", "volume_ml": 0.25, "duration": "PT6H"}
    res = simulate(scenario(fill(0, 20), rate(0, 1.0), priming, end=24))
    assert res.delivered_mg_between(START, hours(6))["morphine"] == approx(0.0, abs=1e-12)
    # 18 h at 1 mL/day = 0.75 mL of 10 mg/mL.
    assert res.delivered_mg_between(hours(6), hours(24))["morphine"] == approx(
        18 / 24 * 1.0 * 10, abs=1e-9
    )
    day = res.to_dict()["daily"][0]
    assert day["pumped_ml"] == approx(0.25 + 18 / 24 * 1.0, abs=1e-9)
    assert day["delivered_mg"]["morphine"] == approx(7.5, abs=1e-9)
