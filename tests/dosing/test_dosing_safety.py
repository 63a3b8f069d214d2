"""Dose safety v2 (issue 9): hand-computed tests of every new rule, each with the dangerous
program it must catch and the safe program next to it that it must let through."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import at, codes, fill, program, scenario

from openidds.dosing import Finding, check, load_library

M, H, B, Z, C = "morphine", "hydromorphone", "baclofen", "ziconotide", "clonidine"
LIB = load_library()


def only(findings: list[Finding], code: str) -> Finding:
    found = [f for f in findings if f.code == code]
    assert len(found) == 1, [(f.code, f.message) for f in findings]
    return found[0]


def baclofen(*events: dict[str, Any], **kw: Any) -> dict[str, Any]:
    kw.setdefault("indication", "spasticity_spinal")
    return scenario(fill(2, 40, {B: "2 mg/mL"}), program(2, B, "0.4 mg/day"), *events, **kw)


# -- withdrawal ----------------------------------------------------------------------------


def test_stop_without_restart_names_the_withdrawal() -> None:
    f = only(check(baclofen({"at": 100, "kind": "stop"})), "withdrawal_pump_stopped")
    assert f.severity == "soft"
    assert "high fever" in f.message
    assert "rebound spasticity" in f.message
    assert f.event_index == 2
    # restarted within 6 h: nothing
    ok = check(baclofen({"at": 100, "kind": "stop"}, program(105, B, "0.4 mg/day")))
    assert not codes(ok)


def test_stop_restarted_after_more_than_six_hours() -> None:
    f = only(
        check(baclofen({"at": 100, "kind": "stop"}, program(110, B, "0.4 mg/day"))),
        "withdrawal_interruption",
    )
    assert (f.value, f.limit, f.unit) == (pytest.approx(10.0), 6.0, "h")


def test_stop_of_a_drug_without_withdrawal_risk_is_no_finding() -> None:
    sc = scenario(
        fill(2, 40, {Z: "25 mcg/mL"}), program(2, Z, "1.2 mcg/day"), {"at": 100, "kind": "stop"}
    )
    assert "withdrawal_pump_stopped" not in codes(check(sc), blocking=False)


def test_mri_stall_longer_than_the_interruption_limit() -> None:
    mri = {"at": 100, "kind": "mri", "duration": "PT1H", "recovery": "PT8H"}
    f = only(check(baclofen(mri)), "withdrawal_interruption")
    assert f.value == pytest.approx(9.0)
    short = {"at": 100, "kind": "mri", "duration": "PT1H", "recovery": "PT2H"}
    assert not codes(check(baclofen(short)))


def test_reservoir_low_and_empty_before_the_end_of_the_records() -> None:
    # 40 mL at 2 mg/mL, 0.4 mg/day = 0.2 mL/day: the 2 mL alarm after 190 days, empty at 200
    sc = baclofen(days=195)
    f = only(check(sc), "withdrawal_reservoir_low")
    assert "2026-09-08" in f.message  # 2026-03-02 10:00 + 190 days
    assert "withdrawal_reservoir_empty" not in codes(check(sc))
    assert {"withdrawal_reservoir_low", "withdrawal_reservoir_empty"} <= set(
        codes(check(baclofen(days=205)))
    )
    assert not codes(check(baclofen(days=185)))


def test_low_alarm_below_the_minimum_for_a_withdrawal_drug() -> None:
    f = only(check(baclofen(low_reservoir_alarm_ml=1.0)), "low_reservoir_alarm_below_minimum")
    assert (f.value, f.limit) == (1.0, 2.0)
    assert not codes(check(baclofen(low_reservoir_alarm_ml=2.0)))


def test_drug_dropped_from_an_admixture() -> None:
    first = fill(2, 40, {M: "10 mg/mL", C: "0.5 mg/mL"})
    refill = fill(482, 40, {M: "10 mg/mL"}, aspirated_ml=30.0)
    sc = scenario(first, program(2, M, "5 mg/day"), refill, program(482, M, "5 mg/day"))
    f = only(check(sc), "withdrawal_drug_dropped")
    assert (f.drug, f.severity) == (C, "soft")
    assert "rebound hypertension" in f.message


def test_battery_at_eri_without_replacement() -> None:
    # B0 = 100 days at zero flow, started 98.5 days before start: ERI 1.5 days after start
    battery = {"started": at(-24 * 98.5), "days_to_eri_at_zero_flow": 100.0, "days_per_ml": 0.0}
    f = only(check(baclofen(battery=battery)), "withdrawal_battery")
    assert "elective replacement" in f.message


# -- decreases and the decimal pattern -----------------------------------------------------


@pytest.mark.parametrize(
    ("after", "severity"),
    [("0.32 mg/day", None), ("0.3 mg/day", "soft"), ("0.2 mg/day", None), ("0.19 mg/day", "hard")],
)
def test_baclofen_decrease_limits(after: str, severity: str | None) -> None:
    # 0.4 -> 0.32 is -20 % (the label's limit, passes); -25 % soft; -50 % soft; -52.5 % hard
    sc = baclofen(program(100, B, after))
    found = [f.severity for f in check(sc) if f.code == "dose_decrease_too_large"]
    if after == "0.2 mg/day":
        assert found == ["soft"]  # exactly -50 % is the hard limit itself: soft
    else:
        assert found == ([severity] if severity else [])


def test_decimal_pattern_both_ways_and_not_for_ziconotide() -> None:
    f = only(check(baclofen(program(100, B, "0.04 mg/day"))), "dose_decimal_pattern")
    assert (f.severity, f.value, f.limit) == ("hard", pytest.approx(0.04), pytest.approx(0.4))
    # within the 5 % tolerance: 0.4 / 10.4 is still the pattern, 0.4 / 11 is not
    assert "dose_decimal_pattern" in codes(check(baclofen(program(100, B, "0.0385 mg/day"))))
    assert "dose_decimal_pattern" not in codes(check(baclofen(program(100, B, "0.0363 mg/day"))))
    up = scenario(
        fill(2, 40, {M: "10 mg/mL"}), program(2, M, "1 mg/day"), program(100, M, "10 mg/day")
    )
    assert only(check(up), "dose_decimal_pattern").severity == "hard"
    zic = scenario(
        fill(2, 40, {Z: "25 mcg/mL"}), program(2, Z, "12 mcg/day"), program(100, Z, "1.2 mcg/day")
    )
    assert not codes(check(zic))  # the label allows any decrease of ziconotide


# -- titration from the start --------------------------------------------------------------


def test_first_increase_is_judged_from_the_start() -> None:
    new = {"path": "no-drug", "tolerance": "naive"}
    prime = {"at": 2.5, "kind": "priming_bolus"}
    sc = scenario(
        fill(2, 40, {M: "1 mg/mL"}),
        prime,
        program(3, M, "0.3 mg/day"),
        program(5, M, "0.35 mg/day"),
        **new,
    )
    f = only(check(sc), "dose_increase_too_soon")
    assert (f.value, f.limit) == (pytest.approx(2.0), 72.0)
    assert "after its start" in f.message
    z = scenario(
        fill(2, 20, {Z: "25 mcg/mL"}),
        {"at": 2.5, "kind": "priming_bolus"},
        program(3, Z, "1.2 mcg/day"),
        program(39, Z, "1.6 mcg/day"),
        model="synchromed2-20",
        path="no-drug",
    )
    f = only(check(z), "dose_increase_too_soon")
    assert (f.value, f.severity) == (pytest.approx(36.0), "soft")


def test_restart_after_a_stop_counts_as_a_start() -> None:
    sc = baclofen(
        {"at": 100, "kind": "stop"}, program(104, B, "0.4 mg/day"), program(110, B, "0.44 mg/day")
    )
    f = only(check(sc), "dose_increase_too_soon")
    assert f.value == pytest.approx(6.0)


# -- opioid switches -----------------------------------------------------------------------


def switch(new_dose: str) -> dict[str, Any]:
    # morphine 5 mg/day -> hydromorphone 2 mg/mL; 40 - 0.5 x 12.4 days = 33.8 mL expected
    return scenario(
        fill(2, 40, {M: "10 mg/mL"}),
        program(2, M, "5 mg/day"),
        fill(300, 40, {H: "2 mg/mL"}, aspirated_ml=33.8),
        {"at": 300, "kind": "bridge_bolus"},
        program(300, H, new_dose),
        days=20,
    )


def test_one_to_one_morphine_to_hydromorphone_is_hard() -> None:
    f = only(check(switch("5 mg/day")), "opioid_switch_above_equianalgesic")
    # 5 mg hydromorphone x 6 (the table's most potent ratio) = 30 mg morphine: 6 x 5 mg/day
    assert (f.severity, f.value, f.limit) == ("hard", pytest.approx(6.0), 2.0)


@pytest.mark.parametrize(
    ("dose", "code", "severity"),
    [
        ("0.75 mg/day", None, None),  # 5 / 5 x 0.75: the table's default with a 25 % cut
        ("0.5 mg/day", None, None),  # a 50 % cut
        ("1 mg/day", "opioid_switch_above_equianalgesic", "soft"),  # no reduction
        ("0.2 mg/day", "opioid_switch_below_equianalgesic", "soft"),  # 20 % < 50 % x (1 - 0.5)
    ],
)
def test_switch_ranges(dose: str, code: str | None, severity: str | None) -> None:
    found = [f for f in check(switch(dose)) if f.code.startswith("opioid_switch")]
    assert [(f.code, f.severity) for f in found] == ([(code, severity)] if code else [])


# -- boluses -------------------------------------------------------------------------------


def ptm(dose: str, h: float = 3, **kw: Any) -> dict[str, Any]:
    return {
        "at": h,
        "kind": "ptm_settings",
        "dose": {M: dose},
        "duration": "PT1H",
        "lockout": "PT6H",
        "max_per_24h": 2,
        **kw,
    }


@pytest.mark.parametrize(
    ("dose", "severity"), [("0.5 mg", None), ("1.26 mg", "soft"), ("5 mg", "hard")]
)
def test_ptm_bolus_against_the_daily_dose(dose: str, severity: str | None) -> None:
    # basal 5 mg/day: 10 % passes, 25.2 % is soft, the whole daily dose is hard
    sc = scenario(fill(2, 40, {M: "10 mg/mL"}), program(2, M, "5 mg/day"), ptm(dose))
    found = [f.severity for f in check(sc) if f.code == "ptm_bolus_above_daily_fraction"]
    assert found == ([severity] if severity else [])


def test_ptm_bolus_tenfold_and_titration() -> None:
    base = (fill(2, 40, {M: "10 mg/mL"}), program(2, M, "10 mg/day"), ptm("0.1 mg"))
    f = only(check(scenario(*base, ptm("1 mg", h=100))), "dose_decimal_pattern")
    assert f.severity == "hard"
    g = only(check(scenario(*base, ptm("0.15 mg", h=100))), "ptm_bolus_increase_too_large")
    assert (g.value, g.limit) == (pytest.approx(0.05), pytest.approx(0.02))
    assert not codes(check(scenario(*base, ptm("0.12 mg", h=100))))


def test_single_bolus_limit_includes_ziconotide() -> None:
    zb = {"at": 50, "kind": "bolus", "dose": {Z: "6 mcg"}, "duration": "PT1H"}
    sc = scenario(fill(2, 40, {Z: "25 mcg/mL"}), program(2, Z, "2.4 mcg/day"), zb)
    f = only(check(sc), "bolus_above_max")
    assert (f.severity, f.value, f.limit) == ("soft", pytest.approx(0.006), 0.005)


def test_stacked_clinician_opioid_boluses_in_a_naive_patient() -> None:
    def bolus(h: float) -> dict[str, Any]:
        return {"at": h, "kind": "bolus", "dose": {M: "0.2 mg"}, "duration": "PT1H"}

    events = (fill(2, 40, {M: "1 mg/mL"}), bolus(3), bolus(9))
    f = only(check(scenario(*events, tolerance="naive")), "bolus_stacked_opioid_naive")
    assert (f.value, f.limit) == (pytest.approx(6.0), 24.0)
    assert "bolus_stacked_opioid_naive" not in codes(check(scenario(*events)))
    apart = (fill(2, 40, {M: "1 mg/mL"}), bolus(3), bolus(30))
    assert "bolus_stacked_opioid_naive" not in codes(check(scenario(*apart, tolerance="naive")))


# -- priming and bridge --------------------------------------------------------------------


def new_pump(*events: dict[str, Any]) -> dict[str, Any]:
    return scenario(
        fill(2, 20, {M: "2 mg/mL"}),
        *events,
        model="synchromed2-20",
        path="no-drug",
        tolerance="naive",
    )


def test_priming_volume_against_the_drug_free_path() -> None:
    ok = new_pump({"at": 3, "kind": "priming_bolus"}, program(3, M, "0.4 mg/day"))
    assert not codes(ok_findings := check(ok)), ok_findings
    # 0.25 mL path + 10 % = 0.275 mL allowed; 0.3 mL puts 0.05 mL (0.1 mg) into the patient
    big = new_pump(
        {"at": 3, "kind": "priming_bolus", "volume_ml": 0.3}, program(3, M, "0.4 mg/day")
    )
    f = only(check(big), "priming_volume_above_path")
    assert (f.severity, f.value, f.limit) == ("hard", 0.3, pytest.approx(0.275))
    assert "0.1 mg" in f.message
    twice = new_pump(
        {"at": 3, "kind": "priming_bolus"},
        program(3, M, "0.4 mg/day"),
        {"at": 4, "kind": "priming_bolus"},
    )
    assert "priming_bolus_on_primed_path" in codes(check(twice))


def test_new_pump_never_primed() -> None:
    f = only(check(new_pump(program(3, M, "0.4 mg/day"))), "path_not_primed")
    # 0.25 mL drug-free at 0.2 mL/day: 30 h before the drug reaches the patient
    assert f.value == pytest.approx(30.0)


def test_bridge_bolus_not_needed() -> None:
    base = (fill(2, 40, {M: "10 mg/mL"}), program(2, M, "5 mg/day"))
    refill = fill(482, 40, {M: "10 mg/mL"}, aspirated_ml=30.0)
    f = only(
        check(scenario(*base, refill, {"at": 482, "kind": "bridge_bolus"})),
        "bridge_bolus_not_needed",
    )
    assert "changed no drug or concentration" in f.message
    change = fill(482, 40, {M: "20 mg/mL"}, aspirated_ml=30.0)
    bridged = (change, {"at": 482, "kind": "bridge_bolus"}, program(482, M, "5 mg/day"))
    assert "bridge_bolus_not_needed" not in codes(check(scenario(*base, *bridged)))
    again = scenario(*base, *bridged, {"at": 483, "kind": "bridge_bolus"})
    assert "already given" in only(check(again), "bridge_bolus_not_needed").message


# -- reconciliation ------------------------------------------------------------------------


def test_refill_needs_an_aspirated_volume() -> None:
    base = (fill(2, 40, {M: "10 mg/mL"}), program(2, M, "5 mg/day"))
    f = only(check(scenario(*base, fill(482, 40, {M: "10 mg/mL"}))), "refill_not_reconciled")
    assert f.limit == pytest.approx(30.0)
    # "nothing could be aspirated" is 0 mL: a discrepancy instead
    zero = check(scenario(*base, fill(482, 40, {M: "10 mg/mL"}, aspirated_ml=0.0)))
    assert "refill_discrepancy" in codes(zero)
    assert "refill_not_reconciled" not in codes(zero)


def test_refill_near_empty_asks_for_the_needle_position() -> None:
    # 40 mL at 0.5 mL/day for 77 days: 1.5 mL expected, below the 2 mL alarm
    sc = scenario(
        fill(2, 40, {M: "10 mg/mL"}),
        program(2, M, "5 mg/day"),
        fill(2 + 24 * 77, 40, {M: "10 mg/mL"}, aspirated_ml=1.5),
        days=80,
    )
    assert "refill_near_empty" in codes(check(sc))


def test_discrepancy_threshold_scales_with_the_volume_pumped() -> None:
    # 40 mL pump, 1 mL/day for 30 days: 30 mL pumped, 14.5 % = 4.35 mL > the 2 mL floor
    def refill(aspirated: float) -> dict[str, Any]:
        return scenario(
            fill(2, 40, {M: "10 mg/mL"}),
            program(2, M, "10 mg/day"),
            fill(2 + 24 * 30, 40, {M: "10 mg/mL"}, aspirated_ml=aspirated),
            days=35,
        )

    assert "refill_discrepancy" not in codes(check(refill(10 + 4.3)))
    f = only(check(refill(10 + 4.4)), "refill_discrepancy")
    assert f.limit == pytest.approx(4.35)
    # a low rate keeps the 2 mL floor: 0.1 mL/day for 30 days is 3 mL pumped, 0.435 mL
    low = scenario(
        fill(2, 40, {M: "10 mg/mL"}),
        program(2, M, "1 mg/day"),
        fill(2 + 24 * 30, 40, {M: "10 mg/mL"}, aspirated_ml=37 + 2.1),
        days=35,
    )
    assert only(check(low), "refill_discrepancy").limit == 2.0


# -- stability judged on what happened -----------------------------------------------------


def test_fill_kept_beyond_its_stability() -> None:
    # hydromorphone 90 days; the next refill comes after 100
    sc = scenario(
        fill(2, 40, {H: "10 mg/mL"}, stability_days=90),
        program(2, H, "2 mg/day"),
        fill(2 + 24 * 100, 40, {H: "10 mg/mL"}, aspirated_ml=20.0, stability_days=90),
        days=110,
    )
    f = only(check(sc), "fill_kept_beyond_stability")
    assert (f.value, f.limit, f.event_index) == (pytest.approx(100.0), 90.0, 2)


def test_finding_does_not_depend_on_the_end_date() -> None:
    def zic(days: float) -> list[tuple[str, str]]:
        sc = scenario(
            fill(2, 20, {Z: "100 mcg/mL"}),
            program(2, Z, "2.4 mcg/day"),
            model="synchromed2-20",
            days=days,
        )
        return sorted((f.code, f.severity) for f in check(sc) if f.code != "off_label")

    assert zic(10) == zic(60)


def test_undiluted_100_mcg_ziconotide_has_84_days() -> None:
    sc = scenario(fill(2, 20, {Z: "100 mcg/mL"}, stability_days=84), program(2, Z, "2.4 mcg/day"))
    assert "refill_beyond_stability" not in codes(check(sc))


def test_ziconotide_first_fill_of_a_new_pump_undiluted() -> None:
    def first(conc: str) -> list[str]:
        return codes(
            check(
                scenario(
                    fill(2, 20, {Z: conc}, stability_days=14),
                    {"at": 2.5, "kind": "priming_bolus"},
                    program(3, Z, "1.2 mcg/day"),
                    model="synchromed2-20",
                    path="no-drug",
                )
            )
        )

    assert "ziconotide_first_fill_not_undiluted" in first("5 mcg/mL")
    assert "ziconotide_first_fill_not_undiluted" not in first("25 mcg/mL")


# -- wrong drug or concentration -----------------------------------------------------------


def test_fill_differs_from_the_last_without_a_program_change() -> None:
    base = (fill(2, 40, {M: "10 mg/mL"}), program(2, M, "5 mg/day"))
    wrong = scenario(*base, fill(482, 40, {H: "10 mg/mL"}, aspirated_ml=30.0))
    f = only(check(wrong), "fill_differs_from_last")
    assert "hydromorphone 10 mg/mL" in f.message
    assert "morphine 10 mg/mL" in f.message
    same = scenario(*base, fill(482, 40, {M: "10 mg/mL"}, aspirated_ml=30.0))
    assert not codes(check(same))


# -- fail closed ---------------------------------------------------------------------------


def test_no_tolerance_is_judged_as_naive_and_said() -> None:
    sc = scenario(fill(2, 40, {M: "1 mg/mL"}), program(2, M, "2 mg/day"), tolerance=None)
    found = check(sc)
    assert only(found, "patient_not_stated").severity == "soft"
    f = only(found, "starting_dose_above_range")
    assert "not stated (judged as opioid-naive)" in f.message
    ptm_naive = check(
        scenario(
            fill(2, 40, {M: "1 mg/mL"}), program(2, M, "0.5 mg/day"), ptm("0.05 mg"), tolerance=None
        )
    )
    assert "ptm_opioid_naive" in codes(ptm_naive)


def test_library_limits_by_origin_and_age() -> None:
    spinal = baclofen(program(100, B, "0.45 mg/day"))  # a +12.5 % step
    assert not codes(check(spinal))
    big = scenario(
        fill(2, 40, {B: "2 mg/mL"}), program(2, B, "1.2 mg/day"), indication="spasticity_spinal"
    )
    assert "daily_dose_above_max" not in codes(check(big), blocking=False)
    cerebral = scenario(
        fill(2, 40, {B: "2 mg/mL"}), program(2, B, "1.5 mg/day"), indication="spasticity_cerebral"
    )
    assert only(check(cerebral), "daily_dose_above_max").severity == "hard"
    child = scenario(
        fill(2, 40, {B: "2 mg/mL"}), program(2, B, "1.3 mg/day"), indication="spasticity_spinal"
    )
    child["patient"]["age_years"] = 9
    f = only(check(child), "daily_dose_above_max")
    assert (f.severity, f.limit) == ("hard", 1.2)
