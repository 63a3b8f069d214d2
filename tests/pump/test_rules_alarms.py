"""Spec semantics 8 (reservoir alarms), 9 (refill discrepancy, accounting) and 14 (tolerance),
computed by hand. Times are hours after 2026-01-01T00:00Z."""

from __future__ import annotations

import pytest

from openidds.pump import simulate

approx = pytest.approx


def fill(at: float, volume: float, conc: str = "10 mg/mL", **extra: object) -> dict:
    return {"at": at, "kind": "fill", "volume_ml": volume, "drugs": {"morphine": conc}, **extra}


def rate(at: float, ml_per_day: float) -> dict:
    return {"at": at, "kind": "program", "mode": "continuous", "rate_ml_per_day": ml_per_day}


def assert_conserved(res) -> None:
    """filled = reservoir + fluid path + delivered + aspirated + unaccounted, per drug (mg)."""
    t, e = res.totals, res.end_state
    for drug in res.drugs:
        assert t.filled_mg[drug] == approx(
            e.reservoir_mg[drug]
            + e.fluid_path_mg[drug]
            + t.delivered_mg[drug]
            + t.aspirated_mg[drug]
            + t.unaccounted_mg[drug],
            abs=1e-9,
        )


# -- 8. low and empty reservoir -------------------------------------------------------------


def test_low_and_empty_crossings(scenario):
    # 10 mL at 1 mL/day: low (2 mL) after (10 - 2) / 1 = 8 days, empty after 10 days.
    res = simulate(scenario(fill(0, 10), rate(0, 1.0), end=264)).to_dict()
    assert res["alarms"] == [
        {"at": "2026-01-09T00:00:00Z", "kind": "low_reservoir"},
        {"at": "2026-01-11T00:00:00Z", "kind": "empty_reservoir"},
    ]
    # From empty on nothing moves: day 11 pumps 0.
    assert res["totals"]["pumped_ml"] == approx(10.0, abs=1e-9)
    assert res["daily"][10]["pumped_ml"] == 0.0
    assert res["end_state"]["reservoir_ml"] == 0.0
    assert res["end_state"]["reservoir_mg"] == {"morphine": 0.0}


def test_scenario_low_reservoir_threshold(scenario):
    # Threshold 4 mL: (10 - 4) / 1 = 6 days.
    res = simulate(scenario(fill(0, 10), rate(0, 1.0), end=168, low_reservoir_alarm_ml=4.0))
    assert res.to_dict()["alarms"] == [{"at": "2026-01-07T00:00:00Z", "kind": "low_reservoir"}]


@pytest.mark.parametrize(
    ("volume", "alarm"),
    [
        (1.5, True),
        (2.0, True),  # at the threshold
        (2.0 * (1 + 0.5e-9), True),  # within the relative tolerance 1e-9
        (2.0 * (1 + 2e-9), False),  # beyond it
        (2.5, False),
    ],
)
def test_low_alarm_at_a_fill_that_leaves_it_at_or_below_the_threshold(scenario, volume, alarm):
    res = simulate(scenario(fill(6, volume), end=24)).to_dict()  # no program: nothing moves
    expected = [{"at": "2026-01-01T06:00:00Z", "kind": "low_reservoir"}] if alarm else []
    assert res["alarms"] == expected


def test_low_alarm_at_a_refill_and_no_second_one_at_the_crossing(scenario):
    # 20 mL at 1 mL/day; day 11 refill: aspirate the 10 mL, add 1.5 mL -> low at the fill;
    # then empty after 1.5 days (2026-01-12T12:00Z).
    refill = fill(240, 1.5, aspirated_ml=10.0)
    res = simulate(scenario(fill(0, 20), rate(0, 1.0), refill, end=288)).to_dict()
    assert res["alarms"] == [
        {"at": "2026-01-11T00:00:00Z", "kind": "low_reservoir"},
        {"at": "2026-01-12T12:00:00Z", "kind": "empty_reservoir"},
    ]


def test_low_alarm_is_raised_again_after_a_refill_above_the_threshold(scenario):
    # 10 mL at 1 mL/day: low at day 8 (192 h). Refill at 216 h (1 mL left): aspirate 1, add 10.
    # Low again 8 days later, at 216 + 192 = 408 h = 2026-01-18T00:00Z.
    refill = fill(216, 10, aspirated_ml=1.0)
    res = simulate(scenario(fill(0, 10), rate(0, 1.0), refill, end=420)).to_dict()
    assert res["alarms"] == [
        {"at": "2026-01-09T00:00:00Z", "kind": "low_reservoir"},
        {"at": "2026-01-18T00:00:00Z", "kind": "low_reservoir"},
    ]


def test_empty_pump_moves_again_after_a_fill(scenario):
    # Empty at 240 h; refilled at 264 h with 10 mL; 1 mL/day again on 2026-01-12.
    refill = fill(264, 10, aspirated_ml=0.0)
    res = simulate(scenario(fill(0, 10), rate(0, 1.0), refill, end=288)).to_dict()
    assert [row["pumped_ml"] for row in res["daily"][9:]] == approx([1.0, 0.0, 1.0], abs=1e-9)
    assert res["events"][2]["expected_ml"] == 0.0
    assert res["events"][2]["discrepancy_ml"] == 0.0  # aspirated 0 from an empty pump
    assert res["end_state"]["reservoir_ml"] == approx(10 - 1.0, abs=1e-9)
    assert [a["kind"] for a in res["alarms"]] == ["low_reservoir", "empty_reservoir"]


# -- 9. refill discrepancy -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("aspirated", "residual", "discrepancy", "alarm"),
    [
        (10.0, 0.0, 0.0, False),
        (8.0, 0.0, 8.0 - 10, False),  # |-2.0| is not above 2.0
        (7.9, 0.0, 7.9 - 10, True),  # -2.1
        (12.0, 0.0, 12.0 - 10, False),
        (12.1, 0.0, 12.1 - 10, True),
        (12.000000001, 0.0, 2.000000001, False),  # above 2 by 5e-10 relative: tolerated
        (12.00000001, 0.0, 2.00000001, True),  # above 2 by 5e-9 relative
        (5.0, 3.0, 5.0 + 3.0 - 10, False),  # the residual counts: -2.0
        (4.9, 3.0, 4.9 + 3.0 - 10, True),  # -2.1
        (0.0, 0.0, 0.0 - 10, True),  # nothing aspirated from a pump that should hold 10 mL
    ],
)
def test_refill_discrepancy(scenario, aspirated, residual, discrepancy, alarm):
    # 20 mL at 1 mL/day for 10 days: the twin expects 10 mL at the refill (40 mL pump: 2 mL).
    refill = fill(240, 20, aspirated_ml=aspirated, residual_left_ml=residual)
    res = simulate(scenario(fill(0, 20), rate(0, 1.0), refill, end=240)).to_dict()
    event = res["events"][2]
    assert event["kind"] == "fill"
    assert event["expected_ml"] == approx(20 - 10 * 1.0, abs=1e-9)
    assert event["discrepancy_ml"] == approx(discrepancy, abs=1e-9)
    expected_alarms = (
        [{"at": "2026-01-11T00:00:00Z", "kind": "refill_discrepancy"}] if alarm else []
    )
    assert res["alarms"] == expected_alarms
    # The measurement is the truth: the reservoir now holds residual + volume.
    assert res["end_state"]["reservoir_ml"] == approx(residual + 20, abs=1e-9)


def test_refill_discrepancy_threshold_of_a_20_ml_pump(scenario):
    # synchromed2-20 uses 1.0 mL: aspirating 8.5 of the expected 10 mL (-1.5) alarms there...
    refill = fill(240, 10, aspirated_ml=8.5)
    res = simulate(scenario(fill(0, 20), rate(0, 1.0), refill, end=240, model="synchromed2-20"))
    assert [a["kind"] for a in res.to_dict()["alarms"]] == ["refill_discrepancy"]
    # ... but not on the 40 mL pump (2.0 mL) ...
    res = simulate(scenario(fill(0, 20), rate(0, 1.0), refill, end=240))
    assert res.to_dict()["alarms"] == []
    # ... and a scenario threshold of 1.0 mL on the 40 mL pump alarms again.
    res = simulate(scenario(fill(0, 20), rate(0, 1.0), refill, end=240, refill_discrepancy_ml=1.0))
    assert [a["kind"] for a in res.to_dict()["alarms"]] == ["refill_discrepancy"]


def test_first_fill_reports_expected_zero_and_no_discrepancy(scenario):
    res = simulate(scenario(fill(0, 20), end=24)).to_dict()
    assert res["events"][0] == {
        "index": 0,
        "at": "2026-01-01T00:00:00Z",
        "kind": "fill",
        "expected_ml": 0.0,
        "discrepancy_ml": None,
    }


def test_refill_without_aspirated_has_no_discrepancy(scenario):
    res = simulate(scenario(fill(0, 20), rate(0, 1.0), fill(240, 20), end=240)).to_dict()
    assert res["events"][2]["expected_ml"] == approx(10.0, abs=1e-9)
    assert res["events"][2]["discrepancy_ml"] is None
    assert res["alarms"] == []
    assert res["totals"]["unaccounted_ml"] == 0.0


def test_more_aspirated_than_expected_is_unaccounted_and_every_mg_is_accounted(scenario):
    # No-drug path 0.25 mL. 20 mL of 10 mg/mL, 1 mL/day. At day 10 the twin expects 10 mL but
    # 12 mL are aspirated (discrepancy +2.0, not above 2.0: no alarm); 20 mL of 10 mg/mL added.
    # unaccounted = expected - residual - aspirated = 10 - 0 - 12 = -2 mL = -20 mg.
    refill = fill(240, 20, aspirated_ml=12.0)
    res = simulate(scenario(fill(0, 20), rate(0, 1.0), refill, end=360))
    out = res.to_dict()
    assert out["events"][2]["discrepancy_ml"] == approx(12 - 10, abs=1e-9)
    assert out["alarms"] == []
    assert out["totals"]["unaccounted_ml"] == approx(10 - 0 - 12, abs=1e-9)
    assert out["totals"]["unaccounted_mg"] == {"morphine": approx(-2 * 10, abs=1e-9)}
    assert out["totals"]["pumped_ml"] == approx(15 * 1.0, abs=1e-9)
    assert out["end_state"]["reservoir_ml"] == approx(20 - 5 * 1.0, abs=1e-9)
    assert out["end_state"]["reservoir_mg"] == {"morphine": approx(15 * 10, abs=1e-9)}
    assert out["totals"]["delivered_mg"] == {"morphine": approx((15 - 0.25) * 10, abs=1e-9)}
    # filled = reservoir + fluid path + delivered + aspirated + unaccounted
    # mL (the drug-free path fluid was never filled): 40 = 15 + 15 + 12 + (-2)
    filled_ml = 20 + 20
    assert filled_ml == approx(
        out["end_state"]["reservoir_ml"]
        + out["totals"]["pumped_ml"]
        + 12
        + out["totals"]["unaccounted_ml"],
        abs=1e-9,
    )
    # mg: 400 = 150 + 2.5 (0.25 mL in the path) + 147.5 + 120 + (-20)
    assert res.end_state.fluid_path_mg["morphine"] == approx(0.25 * 10, abs=1e-9)
    assert res.totals.filled_mg["morphine"] == approx(20 * 10 + 20 * 10, abs=1e-9)
    assert res.totals.aspirated_mg["morphine"] == approx(12 * 10, abs=1e-9)
    assert_conserved(res)


def test_less_aspirated_than_expected_with_a_residual_and_a_new_concentration(scenario):
    # Expected 10 mL at day 10; 6 mL aspirated, 2 mL left in (discrepancy -2.0: no alarm);
    # unaccounted 10 - 2 - 6 = +2 mL = +20 mg (at the old 10 mg/mL). 18 mL of 20 mg/mL added:
    # 20 mL holding 2 x 10 + 18 x 20 = 380 mg (19 mg/mL). 5 more days at 1 mL/day.
    refill = fill(240, 18, conc="20 mg/mL", aspirated_ml=6.0, residual_left_ml=2.0)
    res = simulate(scenario(fill(0, 20), rate(0, 1.0), refill, end=360))
    out = res.to_dict()
    assert out["alarms"] == []
    assert out["totals"]["unaccounted_ml"] == approx(10 - 2 - 6, abs=1e-9)
    assert out["totals"]["unaccounted_mg"] == {"morphine": approx(2 * 10, abs=1e-9)}
    assert out["end_state"]["reservoir_ml"] == approx(20 - 5, abs=1e-9)
    assert out["end_state"]["reservoir_mg"] == {"morphine": approx(15 * 19, abs=1e-9)}
    # Delivered: (10 - 0.25) mL x 10 before the refill; then the 0.25 mL of 10 mg/mL in the
    # path and 4.75 mL of 19 mg/mL.
    delivered = (10 - 0.25) * 10 + 0.25 * 10 + 4.75 * 19  # 190.25 mg
    assert out["totals"]["delivered_mg"] == {"morphine": approx(delivered, abs=1e-9)}
    # 560 mg filled = 285 reservoir + 4.75 path + 190.25 delivered + 60 aspirated + 20
    assert res.end_state.fluid_path_mg["morphine"] == approx(0.25 * 19, abs=1e-9)
    assert res.totals.filled_mg["morphine"] == approx(200 + 18 * 20, abs=1e-9)
    assert res.totals.aspirated_mg["morphine"] == approx(6 * 10, abs=1e-9)
    assert_conserved(res)


def test_every_ml_and_mg_is_accounted_for_in_a_busy_scenario(scenario):
    # New implant (0.25 mL drug-free path), priming, bolus, PTM, drug change with a residual
    # and a bridge, a refill with a large discrepancy, an MRI, running dry and a refill.
    events = [
        fill(0, 20),
        {"at": 0, "kind": "program", "mode": "continuous", "dose": {"morphine": "5 mg/day"}},
        {"at": 0, "kind": "priming_bolus"},
        {"at": 5, "kind": "bolus", "volume_ml": 0.3, "duration": "PT3H"},
        {
            "at": 6,
            "kind": "ptm_settings",
            "volume_ml": 0.1,
            "duration": "PT10M",
            "lockout": "PT1H",
            "max_per_24h": 3,
        },
        {"at": 7, "kind": "ptm_request"},
        {
            "at": 100,
            "kind": "fill",
            "volume_ml": 17,
            "aspirated_ml": 14.0,
            "residual_left_ml": 1.5,
            "drugs": {"baclofen": "2 mg/mL", "clonidine": "0.1 mg/mL"},
        },
        {"at": 100, "kind": "bridge_bolus"},
        {"at": 100, "kind": "program", "mode": "continuous", "rate_ml_per_day": 3.0},
        {"at": 150, "kind": "mri", "duration": "PT2H", "recovery": "PT6H"},
        {
            "at": 300,
            "kind": "fill",
            "volume_ml": 10,
            "aspirated_ml": 0.0,
            "drugs": {"baclofen": "2 mg/mL"},
        },
    ]
    res = simulate(scenario(*events, end=360))
    assert_conserved(res)
    out = res.to_dict()
    assert out["events"][6]["discrepancy_ml"] is not None
    assert {a["kind"] for a in out["alarms"]} >= {
        "low_reservoir",
        "empty_reservoir",
        "motor_stall",
        "motor_stall_recovery",
    }
    # mL: filled (0.25 mL drug-free path fluid put in at implant + three fills)
    #     = reservoir + path + pumped + aspirated + unaccounted
    t, e = res.totals, res.end_state
    assert t.filled_ml == approx(0.25 + 20 + 17 + 10, abs=1e-9)
    assert t.aspirated_ml == approx(14.0 + 0.0, abs=1e-9)
    assert t.filled_ml == approx(
        e.reservoir_ml + e.fluid_path_ml + t.pumped_ml + t.aspirated_ml + t.unaccounted_ml,
        abs=1e-9,
    )
    assert e.fluid_path_ml == approx(0.25, abs=1e-9)
