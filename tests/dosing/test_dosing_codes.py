"""Hand-computed tests, one or more per finding code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from helpers import START, at, codes, fill, program, scenario

from openidds.dosing import CODES, Finding, check, check_report, load_library
from openidds.pump import ScenarioError, simulate

M = "morphine"


def only(findings: list[Finding], code: str) -> Finding:
    found = [f for f in findings if f.code == code]
    assert len(found) == 1, [f.message for f in findings]
    return found[0]


def test_issue_example_message_and_numbers() -> None:
    f = only(
        check(scenario(fill(2, 40, {M: "20 mg/mL"}), program(2, M, "40 mg/day"))),
        "daily_dose_above_max",
    )
    assert (f.severity, f.drug, f.value, f.limit, f.unit) == ("hard", M, 40.0, 30.0, "mg/day")
    assert f.message == (
        "morphine 40 mg/day is above the hard maximum daily dose of 30 mg/day "
        "(library policy: 1.5 x the label's caution threshold)"
    )
    assert "empr.com/infumorph" in f.source
    assert f.event_index == 1
    assert f.at == at(2)


def test_report_records_library_id_and_version() -> None:
    report = check_report(scenario(fill(2, 40, {M: "10 mg/mL"}), program(2, M, "5 mg/day")))
    assert (report.library_id, report.library_version) == ("openidds-drug-library", "2")
    assert report.to_dict()["format"] == "openidds.findings/1"
    assert not report.blocks


def test_drug_not_in_library() -> None:
    f = only(check(scenario(fill(2, 40, {"oxycodone": "10 mg/mL"}))), "drug_not_in_library")
    assert f.severity == "hard"
    assert f.drug == "oxycodone"


@pytest.mark.parametrize(
    ("conc", "severity"),
    # issue 9: Infumorph 25 mg/mL is a labelled strength (no finding); above it is compounded
    [("20 mg/mL", None), ("21 mg/mL", None), ("25 mg/mL", None), ("25.5 mg/mL", "hard")],
)
def test_concentration_soft_and_hard(conc: str, severity: str | None) -> None:
    found = [
        f for f in check(scenario(fill(2, 40, {M: conc}))) if f.code == "concentration_above_max"
    ]
    assert [f.severity for f in found] == ([severity] if severity else [])


def test_daily_dose_soft_at_boundary() -> None:
    # the Infumorph label's "caution above 20 mg/day" is the soft limit (issue 9)
    sc = scenario(fill(2, 40, {M: "20 mg/mL"}), program(2, M, "20 mg/day"))
    assert "daily_dose_above_max" not in codes(check(sc))
    sc = scenario(fill(2, 40, {M: "20 mg/mL"}), program(2, M, "20.01 mg/day"))
    assert only(check(sc), "daily_dose_above_max").severity == "soft"
    # a tolerant cancer patient at 24 mg/day: soft (a reason), not hard
    sc = scenario(
        fill(2, 40, {M: "25 mg/mL"}), program(2, M, "24 mg/day"), indication="cancer_pain"
    )
    assert only(check(sc), "daily_dose_above_max").severity == "soft"
    sc = scenario(fill(2, 40, {M: "25 mg/mL"}), program(2, M, "30.01 mg/day"))
    assert only(check(sc), "daily_dose_above_max").severity == "hard"


def test_admixture_every_drug_judged() -> None:
    # morphine 7.5 mg/day at 5 mg/mL is 1.5 mL/day; bupivacaine 20 mg/mL x 1.5 = 30 mg/day
    sc = scenario(
        fill(2, 40, {M: "5 mg/mL", "bupivacaine": "20 mg/mL"}), program(2, M, "7.5 mg/day")
    )
    f = only(check(sc), "daily_dose_above_max")
    assert (f.drug, f.value, f.limit, f.severity) == (
        "bupivacaine",
        pytest.approx(30.0),
        20.0,
        "hard",
    )


def test_ziconotide_hard_maximum_by_region() -> None:
    sc = scenario(fill(2, 40, {"ziconotide": "25 mcg/mL"}), program(2, "ziconotide", "20 mcg/day"))
    us = only(check(sc, region="US"), "daily_dose_above_max")
    assert us.severity == "hard"
    assert us.limit == pytest.approx(0.0192)
    assert "ziconotide 20 mcg/day (0.02 mg/day) is above" in us.message
    # the EU label allows 21.6 mcg/day: 20 mcg/day there is no finding (issue 9), 22 is hard
    assert "daily_dose_above_max" not in codes(check(sc, region="EU"), blocking=False)
    sc = scenario(fill(2, 40, {"ziconotide": "25 mcg/mL"}), program(2, "ziconotide", "22 mcg/day"))
    eu = only(check(sc, region="EU"), "daily_dose_above_max")
    assert eu.severity == "hard"
    assert eu.limit == pytest.approx(0.0216)


def test_dose_implausible_unit_at_ten_times_hard() -> None:
    lib = load_library()
    hard = lib.drugs["baclofen"].daily_dose_max.hard
    sc = scenario(
        fill(2, 40, {"baclofen": "2 mg/mL"}),
        program(2, "baclofen", f"{10 * hard} mg/day"),
        indication="spasticity_spinal",
    )
    f = only(check(sc), "dose_implausible_unit")
    assert f.severity == "hard"
    assert "unit mistake" in f.message
    sc = scenario(
        fill(2, 40, {"baclofen": "2 mg/mL"}),
        program(2, "baclofen", "19 mg/day"),
        indication="spasticity_spinal",
    )
    assert "dose_implausible_unit" not in codes(check(sc))


def test_ptm_daily_dose_counts_lockout() -> None:
    # lockout 4 h allows min(10, 24/4 = 6) boluses: 15 + 6 x 1 = 21 mg/day > soft 20
    ptm = {
        "at": 2,
        "kind": "ptm_settings",
        "dose": {M: "1 mg"},
        "duration": "PT10M",
        "lockout": "PT4H",
        "max_per_24h": 10,
    }
    f = only(
        check(scenario(fill(2, 40, {M: "20 mg/mL"}), program(2, M, "15 mg/day"), ptm)),
        "ptm_daily_dose_above_max",
    )
    assert (f.value, f.severity) == (pytest.approx(21.0), "soft")


def test_ptm_opioid_naive_only_for_naive_and_opioids() -> None:
    ptm = {
        "at": 2,
        "kind": "ptm_settings",
        "dose": {M: "0.05 mg"},
        "duration": "PT10M",
        "lockout": "PT6H",
        "max_per_24h": 2,
    }
    events = (fill(2, 40, {M: "1 mg/mL"}), program(2, M, "0.4 mg/day"), ptm)
    assert only(check(scenario(*events, tolerance="naive")), "ptm_opioid_naive").severity == "hard"
    assert "ptm_opioid_naive" not in codes(check(scenario(*events)))
    unknown = check(scenario(*events, tolerance=None))
    assert "patient_not_stated" in codes(unknown, blocking=False)
    zic = {
        "at": 2,
        "kind": "ptm_settings",
        "dose": {"ziconotide": "0.5 mcg"},
        "duration": "PT10M",
        "lockout": "PT6H",
        "max_per_24h": 2,
    }
    sc = scenario(
        fill(2, 40, {"ziconotide": "25 mcg/mL"}),
        program(2, "ziconotide", "2 mcg/day"),
        zic,
        tolerance="naive",
    )
    assert "ptm_opioid_naive" not in codes(check(sc))


def test_starting_dose() -> None:
    # Infumorph label: opioid-naive 0.2-1 mg/day (soft above); the guideline's 0.5 is info
    sc = scenario(fill(2, 40, {M: "2 mg/mL"}), program(2, M, "1.1 mg/day"), tolerance="naive")
    f = only(check(sc), "starting_dose_above_range")
    assert (f.value, f.limit, f.severity) == (pytest.approx(1.1), 1.0, "soft")
    sc = scenario(fill(2, 40, {M: "2 mg/mL"}), program(2, M, "0.6 mg/day"), tolerance="naive")
    assert not codes(check(sc))
    f = only(check(sc), "starting_dose_above_guideline")
    assert (f.value, f.limit, f.severity) == (pytest.approx(0.6), 0.5, "info")
    sc = scenario(fill(2, 40, {M: "2 mg/mL"}), program(2, M, "0.5 mg/day"), tolerance="naive")
    assert not codes(check(sc), blocking=False)
    # baclofen: twice the largest screening bolus (2 x 0.1 mg) in a new implant
    sc = scenario(
        fill(2, 20, {"baclofen": "0.5 mg/mL"}),
        program(3, "baclofen", "0.25 mg/day"),
        model="synchromed2-20",
        path="no-drug",
        indication="spasticity_spinal",
    )
    assert only(check(sc), "starting_dose_above_range").limit == pytest.approx(0.2)


def test_increase_fraction_and_interval() -> None:
    base = (fill(2, 40, {M: "10 mg/mL"}), program(2, M, "5 mg/day"))
    ok = check(scenario(*base, program(74, M, "6 mg/day")))
    assert not codes(ok)
    big = only(check(scenario(*base, program(74, M, "6.1 mg/day"))), "dose_increase_too_large")
    assert big.value == pytest.approx(1.1)
    assert big.limit == pytest.approx(1.0)
    soon = check(scenario(*base, program(74, M, "5.5 mg/day"), program(100, M, "6 mg/day")))
    f = only(soon, "dose_increase_too_soon")
    assert (f.value, f.limit, f.severity) == (pytest.approx(26.0), 72.0, "soft")


def test_ziconotide_hard_increase_and_interval() -> None:
    base = (fill(2, 40, {"ziconotide": "25 mcg/mL"}), program(2, "ziconotide", "2.4 mcg/day"))
    f = only(
        check(scenario(*base, program(200, "ziconotide", "5 mcg/day"))), "dose_increase_too_large"
    )
    assert f.severity == "hard"
    assert f.limit == pytest.approx(0.0024)
    f2 = check(
        scenario(
            *base,
            program(200, "ziconotide", "2.9 mcg/day"),
            program(210, "ziconotide", "3.4 mcg/day"),
        )
    )
    assert only(f2, "dose_increase_too_soon").severity == "hard"


def test_baclofen_phase_limits() -> None:
    b = "baclofen"
    base = (fill(2, 40, {b: "2 mg/mL"}), program(2, b, "0.5 mg/day"))
    # titration (no refill at this program): spinal +30 %
    assert not codes(
        check(scenario(*base, program(50, b, "0.65 mg/day"), indication="spasticity_spinal"))
    )
    assert "dose_increase_too_large" in codes(
        check(scenario(*base, program(50, b, "0.66 mg/day"), indication="spasticity_spinal"))
    )
    # refill visit: spinal +40 %, cerebral +20 %
    refill = fill(500, 40, {b: "2 mg/mL"}, aspirated_ml=34.8)
    assert not codes(
        check(
            scenario(*base, refill, program(501, b, "0.7 mg/day"), indication="spasticity_spinal")
        )
    )
    assert "dose_increase_too_large" in codes(
        check(
            scenario(*base, refill, program(501, b, "0.7 mg/day"), indication="spasticity_cerebral")
        )
    )


def test_rate_out_of_device_range() -> None:
    sc = scenario(fill(2, 40, {"ziconotide": "25 mcg/mL"}), program(2, "ziconotide", "0.5 mcg/day"))
    f = only(check(sc), "rate_out_of_device_range")
    assert (f.value, f.limit, f.unit) == (pytest.approx(0.02), 0.048, "mL/day")


def test_overfill_is_a_finding_not_an_invalid_file() -> None:
    sc = scenario(fill(2, 25, {M: "10 mg/mL"}), model="synchromed2-20")
    with pytest.raises(ScenarioError):
        simulate(sc)
    f = only(check(sc), "overfill")
    assert (f.value, f.limit) == (25.0, 20.0)


def test_priming_bolus_on_primed_path() -> None:
    prime = {"at": 3, "kind": "priming_bolus"}
    sc = scenario(
        fill(2, 20, {M: "2 mg/mL"}),
        prime,
        program(3, M, "0.4 mg/day"),
        model="synchromed2-20",
        path="no-drug",
        tolerance="naive",
    )
    assert "priming_bolus_on_primed_path" not in codes(check(sc))
    sc = scenario(fill(2, 20, {M: "2 mg/mL"}), prime, model="synchromed2-20", path="primed")
    f = only(check(sc), "priming_bolus_on_primed_path")
    assert f.value == pytest.approx(0.25)
    assert "0.5 mg" in f.message


def test_concentration_change_numbers_agree_with_the_twin() -> None:
    # 10 -> 20 mg/mL, 6 mg/day re-entered: 0.25 mL of 10 mg/mL at 0.3 mL/day = 3 mg/day for 20 h
    sc = scenario(
        fill(2, 40, {M: "10 mg/mL"}),
        program(2, M, "6 mg/day"),
        fill(482, 40, {M: "20 mg/mL"}),
        program(482, M, "6 mg/day"),
    )
    f = only(check(sc), "concentration_change_without_bridge")
    assert (f.value, f.limit) == (pytest.approx(3.0), pytest.approx(6.0))
    assert "20 h" in f.message
    twin = simulate(sc).delivered_mg_between(at(482), at(502))
    assert twin[M] == pytest.approx(f.value * 20 / 24)


def test_program_not_updated() -> None:
    sc = scenario(
        fill(2, 40, {M: "10 mg/mL"}),
        program(2, M, "5 mg/day"),
        fill(482, 40, {M: "20 mg/mL"}),
        {"at": 482, "kind": "bridge_bolus"},
    )
    f = only(check(sc), "program_not_updated_after_concentration_change")
    assert "10 mg/day" in f.message
    # within 10 %: nothing
    sc = scenario(
        fill(2, 40, {M: "10 mg/mL"}),
        program(2, M, "5 mg/day"),
        fill(482, 40, {M: "10.9 mg/mL"}, aspirated_ml=30.0),
    )
    # within 10 %: only that the fill differs from the last one with no program change
    assert codes(check(sc)) == ["fill_differs_from_last"]


def test_refill_discrepancy_uses_the_twin_expected_volume() -> None:
    # 40 mL - 0.5 mL/day x 20 days = 30 mL expected; aspirated 27.9 -> -2.1 mL beyond 2.0
    sc = scenario(
        fill(2, 40, {M: "10 mg/mL"}),
        program(2, M, "5 mg/day"),
        fill(482, 40, {M: "10 mg/mL"}, aspirated_ml=27.9),
    )
    f = only(check(sc), "refill_discrepancy")
    assert (f.value, f.limit) == (pytest.approx(-2.1), 2.0)
    sc["event"][2]["aspirated_ml"] = 28.0
    assert not codes(check(sc))


def test_refill_beyond_stability_says_by_when() -> None:
    sc = scenario(
        fill(2, 40, {"hydromorphone": "5 mg/mL"}, stability_days=None),
        program(2, "hydromorphone", "1 mg/day"),
    )
    del sc["event"][0]["stability_days"]
    f = only(check(sc), "refill_beyond_stability")
    assert f.limit == 90.0
    assert (START + timedelta(hours=2, days=90)).strftime("%Y-%m-%d") in f.message
    sc["event"][0]["stability_days"] = 90
    assert not codes(check(sc))


def test_off_label_is_info() -> None:
    sc = scenario(
        fill(2, 40, {"hydromorphone": "5 mg/mL"}), program(2, "hydromorphone", "1 mg/day")
    )
    f = only(check(sc), "off_label")
    assert f.severity == "info"
    assert not f.blocks


def test_override_soft_only_with_reason() -> None:
    prog = program(
        2, M, "22 mg/day", override=[{"code": "daily_dose_above_max", "reason": "tolerant, MDT"}]
    )
    f = only(check(scenario(fill(2, 40, {M: "20 mg/mL"}), prog)), "daily_dose_above_max")
    assert f.overridden
    assert f.override_reason == "tolerant, MDT"
    assert not f.blocks
    prog["dose"] = {M: "31 mg/day"}
    f = only(check(scenario(fill(2, 40, {M: "20 mg/mL"}), prog)), "daily_dose_above_max")
    assert f.severity == "hard"
    assert not f.overridden
    assert f.blocks


def test_invalid_override_and_patient_are_scenario_errors() -> None:
    with pytest.raises(ScenarioError, match="override"):
        check(scenario(fill(2, 40, {M: "10 mg/mL"}, override="yes")))
    bad = scenario(fill(2, 40, {M: "10 mg/mL"}))
    bad["patient"]["opioid_tolerance"] = "sometimes"
    with pytest.raises(ScenarioError, match="opioid_tolerance"):
        check(bad)


def test_every_code_documented() -> None:
    text = (__import__("pathlib").Path(__file__).parents[2] / "docs" / "dose-checks.md").read_text()
    for code in CODES:
        assert f"`{code}`" in text, code
