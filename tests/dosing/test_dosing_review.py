"""Review of issue 3: defects found in the first version, each with hand-computed numbers."""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import START, fill, program, scenario

from openidds import cli_dosing
from openidds.dosing import Finding, check
from openidds.pump import parse_scenario, simulate

M = "morphine"
CASES = Path(__file__).parent / "cases"


def only(findings: list[Finding], code: str) -> Finding:
    found = [f for f in findings if f.code == code]
    assert len(found) == 1, [f.message for f in findings]
    return found[0]


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="openidds")
    parser.add_argument("--catalog")
    cli_dosing.register(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


def ptm(h: float, lockout: str, max_per_24h: int, **dose: Any) -> dict[str, Any]:
    return {
        "at": h,
        "kind": "ptm_settings",
        "duration": "PT10M",
        "lockout": lockout,
        "max_per_24h": max_per_24h,
        **dose,
    }


# -- PTM: every bolus the settings allow in 24 h ------------------------------------------


def test_ptm_counts_every_bolus_the_lockout_allows_in_24_h() -> None:
    # lockout 5 h: boluses at 0, 5, 10, 15, 20 h all fall in one 24 h window -> 5, not 4.8.
    # 25.1 mg/day basal + 5 x 1 mg = 30.1 mg/day > hard 30 (4.8 x 1 would give 29.9, soft).
    sc = scenario(
        fill(2, 40, {M: "20 mg/mL"}),
        program(2, M, "25.1 mg/day"),
        ptm(2, "PT5H", 10, dose={M: "1 mg"}),
    )
    f = only(check(sc), "ptm_daily_dose_above_max")
    assert (f.severity, f.value, f.limit) == ("hard", pytest.approx(30.1), 30.0)
    assert "5 × 1 mg" in f.message


def test_ptm_count_agrees_with_the_twin_granting_rule() -> None:
    # The twin grants a request every 5 h: in (t - 24 h, t] at t = 20 h: 0, 5, 10, 15, 20 h.
    events = [
        {"at": 0, "kind": "fill", "volume_ml": 40.0, "drugs": {M: "20 mg/mL"}},
        {"at": 0, "kind": "program", "mode": "continuous", "rate_ml_per_day": 0.5},
        ptm(0, "PT5H", 10, volume_ml=0.05),
        *({"at": 5 * k, "kind": "ptm_request"} for k in range(5)),
    ]
    result = simulate(parse_scenario(scenario(*events, days=2)))
    granted = [o for o in result.events if o.granted]
    assert len(granted) == 5
    # and the check counts the same 5: 10 mg/day + 5 x 0.05 mL x 20 mg/mL = 15 mg/day (no
    # finding); a 6th would make it 16 (soft)
    assert not [f for f in check(scenario(*events, days=2)) if f.code.startswith("ptm_")]


def test_ptm_rejudged_when_a_refill_changes_the_concentration() -> None:
    # PTM 0.1 mL x 12 (lockout 2 h). Before: 0.5 mL/day x 10 = 5 + 12 x 1 = 17 mg/day.
    # Refill at 20 mg/mL, same rate, no program: 10 + 12 x 0.1 x 20 = 34 mg/day > hard 30.
    sc = scenario(
        fill(2, 20, {M: "10 mg/mL"}),
        program(2, M, "5 mg/day"),
        ptm(3, "PT2H", 12, volume_ml=0.1),
        fill(240, 20, {M: "20 mg/mL"}, aspirated_ml=15.0),
        {"at": 240, "kind": "bridge_bolus"},
    )
    f = only(check(sc), "ptm_daily_dose_above_max")
    assert (f.event_index, f.severity, f.value, f.limit) == (3, "hard", pytest.approx(34.0), 30)


def test_ptm_dose_is_a_volume_fixed_at_the_settings_as_in_the_twin() -> None:
    # PTM "1 mg" at 10 mg/mL is 0.1 mL, fixed at the event (spec §3; the twin's PtmState).
    # After a refill at 20 mg/mL each bolus gives 0.1 x 20 = 2 mg:
    # 0.5 mL/day x 20 = 10 + 12 x 2 = 34 mg/day > hard 30 (not 10 + 12 x 1 = 22)
    sc = scenario(
        fill(2, 20, {M: "10 mg/mL"}),
        program(2, M, "5 mg/day"),
        ptm(3, "PT2H", 12, dose={M: "1 mg"}),
        fill(240, 20, {M: "20 mg/mL"}, aspirated_ml=15.0),
        {"at": 240, "kind": "bridge_bolus"},
    )
    f = only(check(sc), "ptm_daily_dose_above_max")
    assert (f.event_index, f.severity, f.value) == (3, "hard", pytest.approx(34.0))
    assert "12 × 2 mg" in f.message
    granted = simulate(parse_scenario(scenario(*sc_events(sc), {"at": 250, "kind": "ptm_request"})))
    outcome = next(o for o in granted.events if o.granted)
    assert outcome.volume_ml == pytest.approx(0.1)


def sc_events(sc: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**e, "at": (e["at"] - START).total_seconds() / 3600} for e in sc["event"]]


def test_ptm_opioid_naive_when_a_refill_adds_an_opioid() -> None:
    # PTM on with bupivacaine only (allowed), then a refill adds morphine: contraindicated.
    sc = scenario(
        fill(2, 20, {"bupivacaine": "2 mg/mL"}),
        program(2, "bupivacaine", "1 mg/day"),
        ptm(3, "PT4H", 6, volume_ml=0.02),
        fill(240, 20, {"bupivacaine": "2 mg/mL", M: "0.5 mg/mL"}),
        {"at": 240, "kind": "bridge_bolus"},
        program(240, M, "0.25 mg/day"),
        tolerance="naive",
    )
    f = only(check(sc), "ptm_opioid_naive")
    assert (f.event_index, f.severity, f.drug) == (3, "hard", M)


# -- starting dose of a drug added at a refill -----------------------------------------------


def test_starting_dose_of_a_drug_added_at_a_refill() -> None:
    # morphine 5 mg/day at 10 mg/mL = 0.5 mL/day; clonidine added at 0.5 mg/mL:
    # 0.5 x 0.5 = 0.25 mg/day, above the starting range 0.02-0.1 mg/day
    sc = scenario(
        fill(2, 20, {M: "10 mg/mL"}),
        program(2, M, "5 mg/day"),
        fill(240, 20, {M: "10 mg/mL", "clonidine": "0.5 mg/mL"}),
        {"at": 240, "kind": "bridge_bolus"},
        program(240, M, "5 mg/day"),
    )
    f = only(check(sc), "starting_dose_above_range")
    assert (f.drug, f.value, f.limit, f.severity) == ("clonidine", pytest.approx(0.25), 0.1, "soft")


def test_no_starting_dose_for_a_drug_continued_from_before_the_scenario() -> None:
    sc = scenario(fill(2, 20, {"clonidine": "0.5 mg/mL"}), program(2, "clonidine", "0.25 mg/day"))
    assert "starting_dose_above_range" not in [f.code for f in check(sc)]


# -- ziconotide first fill of a pump that never held it --------------------------------------


def test_ziconotide_first_fill_of_a_pump_that_held_another_drug() -> None:
    # A pump that held morphine is ziconotide-naive: first refill within 14 days. 2 mcg/day of
    # 25 mcg/mL is 0.08 mL/day: 20 mL last far beyond 14 days; stability_days = 30 > 14.
    sc = scenario(
        fill(2, 20, {M: "10 mg/mL"}),
        program(2, M, "5 mg/day"),
        fill(240, 20, {"ziconotide": "25 mcg/mL"}, stability_days=30),
        {"at": 240, "kind": "bridge_bolus"},
        program(240, "ziconotide", "2 mcg/day"),
        days=60,
    )
    f = only(check(sc), "refill_beyond_stability")
    assert f.limit == 14
    assert "first ziconotide refill" in f.message
    assert (START + timedelta(hours=240, days=14)).strftime("%Y-%m-%d %H:%M") in f.message


# -- clinician bolus: a daily dose in mg/day -----------------------------------------------


def test_bolus_finding_is_a_daily_dose_in_mg_per_day() -> None:
    # clonidine 0.2 mg/day basal + 15 mg bolus = 15.2 mg/day: 15.2 x the hard 1 mg/day
    findings = check(CASES / "errors" / "e22-clonidine-bolus-15mg.toml")
    for code in ("dose_implausible_unit", "daily_dose_above_max"):
        f = only(findings, code)
        assert (f.unit, f.value, f.limit) == ("mg/day", pytest.approx(15.2), 1.0)
        assert "1000 mcg/day (1 mg/day)" in f.message


# -- messages: mcg for mcg drugs, numbers that differ from the limit -------------------------


def test_messages_show_mcg_first_for_mcg_drugs() -> None:
    sc = scenario(fill(2, 40, {"ziconotide": "25 mcg/mL"}), program(2, "ziconotide", "25 mcg/day"))
    f = only(check(sc), "daily_dose_above_max")
    assert f.message.startswith("ziconotide 25 mcg/day (0.025 mg/day) is above the hard maximum")
    assert "19.2 mcg/day (0.0192 mg/day)" in f.message
    assert (f.value, f.limit, f.unit) == (pytest.approx(0.025), 0.0192, "mg/day")


def test_concentration_change_messages_in_mcg() -> None:
    no_bridge = only(
        check(CASES / "errors" / "e51-baclofen-no-bridge.toml"),
        "concentration_change_without_bridge",
    )
    assert "500 mcg/mL (0.5 mg/mL) to 2000 mcg/mL (2 mg/mL)" in no_bridge.message
    assert "receives 100 mcg/day (0.1 mg/day) instead of 400 mcg/day" in no_bridge.message
    not_updated = only(
        check(CASES / "errors" / "e53-ziconotide-program-not-updated.toml"),
        "program_not_updated_after_concentration_change",
    )
    assert "ziconotide 25 mcg/mL (0.025 mg/mL) → 100 mcg/mL (0.1 mg/mL)" in not_updated.message


def test_value_just_above_a_limit_does_not_print_as_the_limit() -> None:
    # 1.5002 mL/day x 20 mg/mL = 30.004 mg/day: 4 significant digits would print "30"
    sc = scenario(
        fill(2, 40, {M: "20 mg/mL"}),
        {"at": 2, "kind": "program", "mode": "continuous", "rate_ml_per_day": 1.5002},
        days=20,
    )
    f = only(check(sc), "daily_dose_above_max")
    assert f.message.startswith("morphine 30.004 mg/day is above the hard maximum")


def test_no_bridge_states_the_peak_the_twin_computes() -> None:
    # 20 -> 10 mg/mL, program 6 mg/day: 0.3 -> 0.6 mL/day. The 0.25 mL of 20 mg/mL fluid in
    # the path leaves at 0.6 mL/day: 12 mg/day for 0.25 / 0.6 days = 10 h.
    sc = scenario(
        fill(2, 20, {M: "20 mg/mL"}),
        program(2, M, "6 mg/day"),
        fill(240, 20, {M: "10 mg/mL"}),
        program(240, M, "6 mg/day"),
    )
    f = only(check(sc), "concentration_change_without_bridge")
    assert (f.value, f.limit) == (pytest.approx(12.0), pytest.approx(6.0))
    assert "receives 12 mg/day instead of 6 mg/day" in f.message
    assert "about 10 h" in f.message


# -- diff ------------------------------------------------------------------------------------


def test_diff_reports_device_limit_findings_instead_of_an_invalid_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = str(CASES / "valid" / "v02-morphine-sm20-20mgml.toml")
    after = str(CASES / "errors" / "e46-overfill-sm20.toml")
    assert run("diff", before, after) == 1
    out = capsys.readouterr().out
    assert "overfill" in out


def test_diff_shows_mcg_for_mcg_drugs(capsys: pytest.CaptureFixture[str]) -> None:
    before = str(CASES / "valid" / "v25-ziconotide-maintenance.toml")
    after = str(CASES / "errors" / "e12-ziconotide-25mcgday-us.toml")
    run("diff", before, after)
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("ziconotide daily dose"))
    # 0.24 mL/day x 25 mcg/mL = 6 mcg/day; 1 mL/day x 25 = 25 mcg/day
    assert "6 mcg/day (0.006 mg/day)" in row
    assert "25 mcg/day (0.025 mg/day)" in row


def test_diff_ptm_row_counts_whole_boluses(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # basal 0.5 mL/day x 20 mg/mL = 10 mg/day; PTM 0.05 mL, lockout 5 h, max 10: 5 boluses a
    # day -> 10 + 5 x 0.05 x 20 = 15 mg/day (4.8 boluses would print 14.8)
    path = tmp_path / "a.toml"
    path.write_text(
        """
[scenario]
name = "ptm"
start = 2026-03-02T08:00:00Z
end = 2026-03-12T08:00:00Z

[pump]
model = "synchromed2-40"
fluid_path_initial = "primed"

[[event]]
at = 2026-03-02T10:00:00Z
kind = "fill"
volume_ml = 40.0
drugs = { morphine = "20 mg/mL" }

[[event]]
at = 2026-03-02T10:00:00Z
kind = "program"
mode = "continuous"
rate_ml_per_day = 0.5

[[event]]
at = 2026-03-02T10:00:00Z
kind = "ptm_settings"
volume_ml = 0.05
duration = "PT10M"
lockout = "PT5H"
max_per_24h = 10
"""
    )
    run("diff", str(path), str(path))
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("morphine with max PTM"))
    assert "15 mg/day" in row


# -- library: the PTM is never allowed with an opioid in an opioid-naive patient ----------


def test_library_copy_cannot_allow_ptm_opioid_for_naive_patients() -> None:
    import tomllib

    from openidds.dosing import LibraryError, parse_library

    bundled = Path(cli_dosing.__file__).parent / "dosing" / "data" / "drug_library.toml"
    data = tomllib.loads(bundled.read_text())
    data["drugs"]["morphine"]["ptm_allowed_opioid_naive"]["value"] = True
    with pytest.raises(LibraryError, match=r"drugs\.morphine\.ptm_allowed_opioid_naive"):
        parse_library(data)
