"""``cli_dosing`` (check, diff, convert) and the drug-library loader."""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path

import pytest

from openidds import cli_dosing
from openidds.dosing import (
    LIBRARY_ENV,
    LibraryError,
    check_report,
    convert,
    load_library,
    parse_dose_text,
    parse_library,
)

CASES = Path(__file__).parent / "cases"
BUNDLED = Path(cli_dosing.__file__).parent / "dosing" / "data" / "drug_library.toml"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="openidds")
    parser.add_argument("--catalog")
    cli_dosing.register(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


def test_check_exit_codes_and_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run("check", str(CASES / "valid" / "v01-morphine-sm40-maintenance.toml")) == 0
    assert "OK" in capsys.readouterr().out
    assert run("check", str(CASES / "errors" / "e10-morphine-40mgday.toml"), "--json") == 1
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "openidds.findings/1"
    assert out["library"] == {"id": "openidds-drug-library", "version": "2"}
    first = out["findings"][0]
    assert first["severity"] == "hard"
    assert first["code"] == "daily_dose_above_max"
    assert first["at"] == "2026-03-02T10:00:00Z"
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario]\n")
    assert run("check", str(bad)) == 2
    assert "openidds:" in capsys.readouterr().err


def test_check_overridden_soft_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("check", str(CASES / "valid" / "v44-hydromorphone-overridden-soft.toml")) == 0
    assert "override reason" in capsys.readouterr().out


def test_check_worst_first(capsys: pytest.CaptureFixture[str]) -> None:
    run("check", str(CASES / "errors" / "e20-morphine-300mgday.toml"), "--json")
    ranks = {"hard": 0, "soft": 1, "info": 2}
    found = [ranks[f["severity"]] for f in json.loads(capsys.readouterr().out)["findings"]]
    assert found == sorted(found)


def test_region_option(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(CASES / "errors" / "e12-ziconotide-25mcgday-us.toml")
    assert run("check", path, "--region", "EU", "--json") == 1
    out = json.loads(capsys.readouterr().out)
    assert any(f["severity"] == "hard" for f in out["findings"])  # 25 > EU 21.6 too


def test_clinic_library_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = BUNDLED.read_text().replace('id = "openidds-drug-library"', 'id = "stmary"', 1)
    text = text.replace("soft = 20.0\nhard = 30.0", "soft = 30.0\nhard = 45.0", 1)
    copy = tmp_path / "stmary.toml"
    copy.write_text(text)
    path = str(CASES / "errors" / "e10-morphine-40mgday.toml")
    assert run("check", path, "--library", str(copy), "--json") == 1  # still above soft 30
    out = json.loads(capsys.readouterr().out)
    assert out["library"]["id"] == "stmary"
    assert out["findings"][0]["severity"] == "soft"
    monkeypatch.setenv(LIBRARY_ENV, str(copy))
    assert check_report(path).library_id == "stmary"


def test_library_schema_errors(tmp_path: Path) -> None:
    data = tomllib.loads(BUNDLED.read_text())
    del data["drugs"]["morphine"]["titration"]
    with pytest.raises(LibraryError, match=r"drugs\.morphine: missing tables titration"):
        parse_library(data)
    data = tomllib.loads(BUNDLED.read_text())
    data["drugs"]["morphine"]["daily_dose_max_mg_per_day"]["soft"] = 31.0
    with pytest.raises(LibraryError, match="soft <= hard"):
        parse_library(data)
    bad = tmp_path / "x.toml"
    bad.write_text("not toml [")
    with pytest.raises(LibraryError, match="not valid TOML"):
        load_library(bad)


def test_bundled_library_values() -> None:
    lib = load_library()
    assert set(lib.drugs) == {
        "morphine",
        "hydromorphone",
        "fentanyl",
        "sufentanil",
        "ziconotide",
        "bupivacaine",
        "clonidine",
        "baclofen",
    }
    z = lib.drugs["ziconotide"].daily_dose_max
    assert (z.hard_for("US"), z.hard_for("EU")) == (0.0192, 0.0216)
    assert not any(d.ptm_allowed_opioid_naive for d in lib.drugs.values() if d.is_opioid)


def test_convert(capsys: pytest.CaptureFixture[str]) -> None:
    c = convert(
        load_library(),
        *(lambda v, r, d: (v, d, r, "intrathecal"))(*parse_dose_text("600 mg/day oral morphine")),
    )
    assert (c.default, c.low, c.high) == (2.0, 2.0, 60.0)
    assert run("convert", "600 mg/day oral morphine", "--to", "intrathecal") == 0
    out = capsys.readouterr().out
    assert "range 2 to 60 mg/day" in out
    assert "NOT applied" in out
    assert "WARNING" in out
    assert run("convert", "300 mg/day oral oxycodone", "--to", "intrathecal") == 2


def test_diff(capsys: pytest.CaptureFixture[str]) -> None:
    before = str(CASES / "valid" / "v10-morphine-concentration-change-bridged.toml")
    after = str(CASES / "errors" / "e50-morphine-no-bridge.toml")
    assert run("diff", before, after) == 1
    out = capsys.readouterr().out
    assert "BEFORE" in out
    assert "morphine daily dose" in out
    assert "next refill" in out
    assert "concentration_change_without_bridge" in out
