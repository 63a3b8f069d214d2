"""Issue 9's catalogue: dangerous programs from real intrathecal incidents, each of which
must raise its finding (blocking), and safe realistic programs that must raise none."""

from __future__ import annotations

from pathlib import Path

import pytest

from openidds.dosing import CODES, check

CASES = Path(__file__).parent / "cases"
DANGEROUS = sorted((CASES / "dangerous").glob("*.toml"))
SAFE = sorted((CASES / "safe").glob("*.toml"))


def _header(path: Path) -> tuple[str, str, str | None]:
    lines = path.read_text().splitlines()
    region = (
        lines[2].removeprefix("# region:").strip() if lines[2].startswith("# region:") else None
    )
    return lines[0], lines[1], region


def test_catalogue_size_and_descriptions() -> None:
    assert len(DANGEROUS) >= 60
    assert len(SAFE) >= 30
    for path in [*DANGEROUS, *SAFE]:
        first, second, _ = _header(path)
        assert first.startswith(("# expect: ", "# safe")), path.name
        assert second.startswith("# "), path.name
        assert len(second) > 20, path.name


def test_every_new_code_has_a_dangerous_case() -> None:
    expected = {_header(p)[0].removeprefix("# expect: ") for p in DANGEROUS}
    assert expected <= set(CODES)
    new = {
        "dose_decrease_too_large",
        "dose_decimal_pattern",
        "opioid_switch_above_equianalgesic",
        "opioid_switch_below_equianalgesic",
        "bolus_above_max",
        "bolus_stacked_opioid_naive",
        "ptm_bolus_above_daily_fraction",
        "ptm_bolus_increase_too_large",
        "priming_volume_above_path",
        "path_not_primed",
        "bridge_bolus_not_needed",
        "refill_not_reconciled",
        "refill_near_empty",
        "fill_differs_from_last",
        "fill_kept_beyond_stability",
        "ziconotide_first_fill_not_undiluted",
        "programmed_concentration_mismatch",
        "interrogation_mismatch",
        "mri_drug_in_reservoir",
        "withdrawal_pump_stopped",
        "withdrawal_interruption",
        "withdrawal_reservoir_low",
        "withdrawal_reservoir_empty",
        "withdrawal_drug_dropped",
        "withdrawal_battery",
        "low_reservoir_alarm_below_minimum",
        "patient_not_stated",
    }
    assert new <= expected, sorted(new - expected)


@pytest.mark.parametrize("path", DANGEROUS, ids=lambda p: p.stem)
def test_dangerous_program_is_caught(path: Path) -> None:
    first, _, region = _header(path)
    expected = first.removeprefix("# expect: ").strip()
    findings = check(path, region=region)
    blocking = [f.code for f in findings if f.blocks]
    assert expected in blocking, [(f.code, f.severity, f.message) for f in findings]


@pytest.mark.parametrize("path", SAFE, ids=lambda p: p.stem)
def test_safe_program_passes(path: Path) -> None:
    _, _, region = _header(path)
    findings = check(path, region=region)
    assert not [(f.code, f.message) for f in findings if f.blocks]
