"""Every error the spec names (semantics 1, 3, 5, 6, 9, 11, 12, 14): the ScenarioError names
the event (0-based index in the file and its instant) and the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openidds.pump import ScenarioError, load_scenario, simulate

approx = pytest.approx

START = datetime(2026, 1, 1, tzinfo=UTC)
FILL = {"at": 0, "kind": "fill", "volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}}
BASAL = {"at": 0, "kind": "program", "mode": "continuous", "rate_ml_per_day": 1.0}


def hours(h: float) -> datetime:
    return START + timedelta(hours=h)


def error_of(sc: dict) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        simulate(sc)
    return info.value


def where(err: ScenarioError) -> tuple[int | None, datetime | None, str | None]:
    return err.event_index, err.at, err.field


def rate(at: float, ml_per_day: float) -> dict:
    return {"at": at, "kind": "program", "mode": "continuous", "rate_ml_per_day": ml_per_day}


def flex(at: float, n: int, ml_per_day: float = 0.5) -> dict:
    steps = [{"start": f"{h:02d}:00", "rate_ml_per_day": ml_per_day} for h in range(n)]
    return {"at": at, "kind": "program", "mode": "flex", "period": "day", "steps": steps}


# -- 12. the error names the event and the field; nothing is half-applied ---------------------


def test_error_text_names_index_time_and_field(scenario):
    err = error_of(scenario(FILL, rate(5, 0.047), end=24))
    assert where(err) == (1, hours(5), "rate_ml_per_day")
    assert "event 1 (2026-01-01T05:00:00Z)" in str(err)
    assert "rate_ml_per_day" in str(err)
    assert isinstance(err, ValueError)


def test_error_index_is_the_file_position_not_the_time_order(scenario):
    # The third table of the file is the earliest in time.
    sc = scenario(
        rate(12, 1.0),
        FILL,
        {"at": 0.5, "kind": "program", "mode": "continuous", "dose": {"baclofen": "100 mcg/day"}},
        end=24,
    )
    assert where(error_of(sc)) == (2, hours(0.5), "dose.baclofen")


def test_an_error_late_in_the_replay_gives_no_result(scenario):
    sc = scenario(FILL, BASAL, rate(200, 30.0), end=240)
    assert where(error_of(sc)) == (2, hours(200), "rate_ml_per_day")


# -- 1. events outside [start, end] ---------------------------------------------------------


@pytest.mark.parametrize("at", [-1 / 3600, 240 + 1 / 3600])
def test_event_outside_start_end_is_an_error(scenario, at):
    err = error_of(scenario(FILL, {**BASAL, "at": at}, end=240))
    assert where(err) == (1, hours(at), "at")


def test_events_at_start_and_end_are_accepted(scenario):
    res = simulate(scenario(FILL, {**BASAL, "at": 240}, end=240))
    assert len(res.events) == 2


# -- 3. dose of a drug that is not in the reservoir -----------------------------------------


def test_program_dose_before_any_fill(scenario):
    program = {"at": 0, "kind": "program", "mode": "continuous", "dose": {"morphine": "5 mg/day"}}
    assert where(error_of(scenario(program, end=24))) == (0, START, "dose.morphine")


def test_flex_step_dose_of_another_drug(scenario):
    program = flex(1, 2)
    program["steps"][1] = {"start": "12:00", "dose": {"baclofen": "100 mcg/day"}}
    err = error_of(scenario(FILL, program, end=24))
    assert where(err) == (1, hours(1), "steps[1].dose.baclofen")


def test_bolus_dose_of_another_drug(scenario):
    bolus = {"at": 2, "kind": "bolus", "dose": {"clonidine": "50 mcg"}, "duration": "PT1H"}
    assert where(error_of(scenario(FILL, bolus, end=24))) == (1, hours(2), "dose.clonidine")


def test_ptm_dose_of_another_drug(scenario):
    ptm = {
        "at": 2,
        "kind": "ptm_settings",
        "dose": {"clonidine": "50 mcg"},
        "duration": "PT10M",
        "lockout": "PT1H",
        "max_per_24h": 3,
    }
    assert where(error_of(scenario(FILL, ptm, end=24))) == (1, hours(2), "dose.clonidine")


def test_dose_of_a_drug_that_was_replaced(scenario):
    # Morphine fully replaced by baclofen (no residual): a morphine dose is now an error.
    change = {
        "at": 24,
        "kind": "fill",
        "volume_ml": 20,
        "drugs": {"baclofen": "2 mg/mL"},
        "aspirated_ml": 19.0,
    }
    program = {"at": 25, "kind": "program", "mode": "continuous", "dose": {"morphine": "5 mg/day"}}
    assert where(error_of(scenario(FILL, BASAL, change, program, end=48))) == (
        3,
        hours(25),
        "dose.morphine",
    )


# -- 9 and 11. fills ---------------------------------------------------------------------------


def test_first_fill_above_capacity(scenario):
    err = error_of(scenario({**FILL, "volume_ml": 40.5}, end=24))
    assert where(err) == (0, START, "volume_ml")


def test_residual_plus_volume_above_capacity(scenario):
    # 20 mL at 1 mL/day for 2 days: 18 mL; 3 mL left in + 38 mL = 41 mL > 40 mL.
    refill = {**FILL, "at": 48, "volume_ml": 38, "aspirated_ml": 15.0, "residual_left_ml": 3.0}
    err = error_of(scenario(FILL, BASAL, refill, end=72))
    assert err.event_index == 2
    assert err.at == hours(48)
    assert err.field in ("volume_ml", "residual_left_ml")


@pytest.mark.parametrize(
    ("volume", "ok"),
    [(40.0, True), (40.0 * (1 + 0.5e-9), True), (40.0 * (1 + 2e-9), False)],
)
def test_capacity_tolerance(scenario, volume, ok):
    sc = scenario({**FILL, "volume_ml": volume}, end=24)
    if ok:
        assert simulate(sc).to_dict()["end_state"]["reservoir_ml"] == approx(40.0, abs=1e-6)
    else:
        assert where(error_of(sc)) == (0, START, "volume_ml")


def test_residual_on_a_first_fill(scenario):
    err = error_of(scenario({**FILL, "at": 3, "residual_left_ml": 1.0}, end=24))
    assert where(err) == (0, hours(3), "residual_left_ml")


# -- 11 and 14. rates --------------------------------------------------------------------------


def test_rate_below_the_minimum(scenario):
    # synchromed2-40 minimum 0.048 mL/day.
    assert where(error_of(scenario(FILL, rate(1, 0.047), end=24))) == (
        1,
        hours(1),
        "rate_ml_per_day",
    )


def test_rate_at_the_minimum_and_maximum(scenario):
    res = simulate(scenario(FILL, rate(0, 0.048), end=24))
    assert res.to_dict()["totals"]["pumped_ml"] == approx(0.048, abs=1e-9)
    res = simulate(scenario(FILL, rate(0, 24.0), end=12))
    assert res.to_dict()["totals"]["pumped_ml"] == approx(12.0, abs=1e-9)


@pytest.mark.parametrize(
    ("ml_per_day", "ok"),
    [
        (0.048 * (1 - 0.5e-9), True),  # below 0.048 by 5e-10 relative: tolerated
        (0.048 * (1 - 2e-9), False),
        (24.0 * (1 + 0.5e-9), True),
        (24.0 * (1 + 2e-9), False),
    ],
)
def test_rate_limit_tolerance(scenario, ml_per_day, ok):
    sc = scenario(FILL, rate(2, ml_per_day), end=12)  # 10 h: at most 10 mL of the 20 mL
    if ok:
        pumped = simulate(sc).to_dict()["totals"]["pumped_ml"]
        assert pumped == approx(10 / 24 * ml_per_day, abs=1e-9)
    else:
        assert where(error_of(sc)) == (1, hours(2), "rate_ml_per_day")


def test_rate_above_the_maximum(scenario):
    assert where(error_of(scenario(FILL, rate(1, 24.1), end=24))) == (
        1,
        hours(1),
        "rate_ml_per_day",
    )


def test_ziconotide_minimum_dose_is_exactly_the_minimum_rate(scenario):
    # 1.2 mcg/day / 25 mcg/mL = 0.048 mL/day: must pass (tolerance 1e-9); 10 days = 0.48 mL.
    fill = {"at": 0, "kind": "fill", "volume_ml": 20, "drugs": {"ziconotide": "25 mcg/mL"}}
    dose = {"at": 0, "kind": "program", "mode": "continuous", "dose": {"ziconotide": "1.2 mcg/day"}}
    res = simulate(scenario(fill, dose, end=240)).to_dict()
    assert res["totals"]["pumped_ml"] == approx(10 * 1.2 / 25, abs=1e-9)
    # 1.1 mcg/day = 0.044 mL/day is below the minimum.
    low = {**dose, "at": 1, "dose": {"ziconotide": "1.1 mcg/day"}}
    assert where(error_of(scenario(fill, low, end=24))) == (1, hours(1), "dose.ziconotide")


def test_flex_step_rate_outside_the_range(scenario):
    program = flex(1, 3)
    program["steps"][2]["rate_ml_per_day"] = 0.04
    err = error_of(scenario(FILL, program, end=24))
    assert where(err) == (1, hours(1), "steps[2].rate_ml_per_day")


def test_too_many_flex_steps(scenario):
    # synchromed2-40 allows 10 steps (catalog); 11 is an error.
    assert simulate(scenario(FILL, flex(0, 10), end=24)).to_dict()["totals"]["pumped_ml"] == approx(
        0.5, abs=1e-9
    )
    assert where(error_of(scenario(FILL, flex(1, 11), end=24))) == (1, hours(1), "steps")


def test_too_many_flex_steps_on_prometra(scenario):
    # prometra2-40 allows 4 steps (catalog).
    simulate(scenario(FILL, flex(0, 4, 0.5), end=24, model="prometra2-40"))
    err = error_of(scenario(FILL, flex(2, 5, 0.5), end=24, model="prometra2-40"))
    assert where(err) == (1, hours(2), "steps")


# -- 5. bolus rate -------------------------------------------------------------------------


def test_bolus_above_the_maximum_bolus_rate(scenario):
    bolus = {"at": 1, "kind": "bolus", "volume_ml": 1.01, "duration": "PT1H"}  # 24.24 mL/day
    assert where(error_of(scenario(FILL, bolus, end=24))) == (1, hours(1), "duration")


def test_ptm_bolus_above_the_maximum_bolus_rate(scenario):
    ptm = {
        "at": 1,
        "kind": "ptm_settings",
        "volume_ml": 0.5,
        "duration": "PT10M",
        "lockout": "PT1H",
        "max_per_24h": 3,
    }  # 0.5 mL / (10/1440) day = 72 mL/day
    assert where(error_of(scenario(FILL, ptm, end=24))) == (1, hours(1), "duration")


# -- 6. bridge bolus at zero rate ------------------------------------------------------------


def test_bridge_bolus_at_zero_rate(scenario):
    err = error_of(scenario(FILL, {"at": 1, "kind": "bridge_bolus"}, end=24))
    assert where(err) == (1, hours(1), "kind")


# -- unknown kinds, fields and header errors -------------------------------------------------


def test_unknown_event_kind(scenario):
    err = error_of(scenario(FILL, {"at": 2, "kind": "refill"}, end=24))
    assert where(err) == (1, hours(2), "kind")


def test_missing_kind(scenario):
    err = error_of(scenario(FILL, {"at": 2}, end=24))
    assert (err.event_index, err.field) == (1, "kind")


def test_missing_at(scenario):
    err = error_of(scenario(FILL, {"kind": "stop"}, end=24))
    assert (err.event_index, err.field) == (1, "at")


def test_unknown_event_field(scenario):
    err = error_of(scenario(FILL, {**BASAL, "at": 2, "rate": 1.0}, end=24))
    assert where(err) == (1, hours(2), "rate")


def test_event_instant_without_offset(scenario):
    err = error_of(scenario(FILL, {**BASAL, "at": datetime(2026, 1, 1, 2)}, end=24))  # noqa: DTZ001
    assert (err.event_index, err.field) == (1, "at")


@pytest.mark.parametrize("field", ["start", "end"])
def test_missing_header_instant(scenario, field):
    sc = scenario(FILL, end=24)
    del sc["scenario"][field]
    err = error_of(sc)
    assert (err.event_index, err.field) == (None, f"scenario.{field}")


def test_unknown_pump_model(scenario):
    err = error_of(scenario(FILL, end=24, model="synchromed3"))
    assert (err.event_index, err.field) == (None, "pump.model")


def test_unknown_timezone(scenario):
    err = error_of(scenario(FILL, end=24, timezone="Mars/Olympus"))
    assert (err.event_index, err.field) == (None, "scenario.timezone")


def test_invalid_toml_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[scenario\nstart = 2026-01-01T00:00:00Z\n", encoding="utf-8")
    with pytest.raises(ScenarioError):
        load_scenario(path)
