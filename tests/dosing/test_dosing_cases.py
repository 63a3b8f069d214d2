"""The catalogue: every seeded error raises its code; every valid program passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from openidds.dosing import check, load_library

CASES = Path(__file__).parent / "cases"
ERRORS = sorted((CASES / "errors").glob("*.toml"))
VALID = sorted((CASES / "valid").glob("*.toml"))


def test_catalogue_size() -> None:
    assert len(ERRORS) >= 40
    assert len(VALID) >= 40


def test_valid_programs_cover_every_drug_and_pump() -> None:
    text = "\n".join(p.read_text() for p in VALID)
    for drug in load_library().drugs:
        assert f"{drug} =" in text, drug
    for model in ("synchromed2-20", "synchromed2-40", "prometra2-20", "prometra2-40"):
        assert f'model = "{model}"' in text, model
    assert "isomed-8472" in text
    for indication in ("cancer_pain", "noncancer_pain", "spasticity_spinal", "spasticity_cerebral"):
        assert indication in text


@pytest.mark.parametrize("path", ERRORS, ids=lambda p: p.stem)
def test_seeded_error_is_caught(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: ")
    expected = first.removeprefix("# expect: ").strip()
    findings = check(path)
    blocking = [f.code for f in findings if f.blocks]
    assert expected in blocking, [f.message for f in findings]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_program_passes(path: Path) -> None:
    findings = check(path)
    assert not [f.message for f in findings if f.blocks]
