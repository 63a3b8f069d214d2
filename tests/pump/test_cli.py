"""The installed ``openidds`` console script, run as a subprocess (see conftest.openidds_command:
``python3 dev.py test`` runs with .venv, where the script exists; otherwise
``python -m openidds.cli``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from openidds.pump import load_scenario, simulate

SCENARIO = """\
[scenario]
name = "Morphine, 40 mL pump"
start = 2026-01-01T00:00:00Z
end = 2026-01-21T00:00:00Z
timezone = "Europe/Berlin"

[pump]
model = "synchromed2-40"
{pump_extra}

[[event]]
at = 2026-01-01T00:00:00Z
kind = "fill"
volume_ml = 20.0
drugs = {{ morphine = "10 mg/mL" }}

[[event]]
at = 2026-01-01T00:00:00Z
kind = "program"
mode = "continuous"
rate_ml_per_day = 1.0

[[event]]
at = 2026-01-01T00:00:00Z
kind = "ptm_settings"
volume_ml = 0.1
duration = "PT10M"
lockout = "PT1H"
max_per_24h = 3

[[event]]
at = 2026-01-02T08:00:00Z
kind = "ptm_request"

[[event]]
at = 2026-01-02T08:30:00Z
kind = "ptm_request"
{events_extra}
"""


def write(tmp_path: Path, pump_extra: str = "", events_extra: str = "") -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(
        SCENARIO.format(pump_extra=pump_extra, events_extra=events_extra), encoding="utf-8"
    )
    return path


def test_simulate_prints_a_readable_summary(tmp_path, openidds_cli):
    # 20 mL at 1 mL/day + one 0.1 mL PTM bolus: 2 mL reached after 17.9 days.
    proc = openidds_cli("simulate", write(tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Morphine, 40 mL pump" in out
    for heading in ("Alarms", "Daily doses", "Forecast"):
        assert heading in out
    assert "low_reservoir" in out
    assert "morphine" in out
    assert "2026-01-01" in out
    assert "denied (lockout)" in out
    assert proc.stderr == ""


def test_simulate_json_equals_the_library_result(tmp_path, openidds_cli, result_schema):
    import jsonschema

    path = write(tmp_path)
    proc = openidds_cli("simulate", path, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    jsonschema.Draft202012Validator(result_schema).validate(data)
    assert data == simulate(load_scenario(path)).to_dict()
    # The user-visible numbers: 20 - 20 x 1.0 - 0.1 = -0.1 -> empty before end.
    assert data["events"][3]["granted"] is True
    assert data["events"][4]["reason"] == "lockout"
    assert [a["kind"] for a in data["alarms"]] == ["low_reservoir", "empty_reservoir"]


def test_plot_png(tmp_path, openidds_cli):
    out = tmp_path / "out.png"
    proc = openidds_cli("simulate", write(tmp_path), "--plot", out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Forecast" in proc.stdout


def test_plot_html_is_self_contained(tmp_path, openidds_cli):
    out = tmp_path / "out.html"
    proc = openidds_cli("simulate", write(tmp_path), "--plot", out)
    assert proc.returncode == 0, proc.stderr
    html = out.read_text(encoding="utf-8")
    assert "Plotly.newPlot" in html
    assert "plotly" in html.lower()
    # The plotly library is inlined: no script (or stylesheet) loaded from a URL.
    assert re.search(r"<script[^>]*\bsrc\s*=", html, re.IGNORECASE) is None
    assert re.search(r"<link[^>]*\bhref\s*=\s*[\"']?\s*(https?:)?//", html, re.IGNORECASE) is None


def test_plot_with_an_unknown_suffix_fails(tmp_path, openidds_cli):
    proc = openidds_cli("simulate", write(tmp_path), "--plot", tmp_path / "out.svg")
    assert proc.returncode == 2
    assert "out.svg" in proc.stderr


@pytest.mark.parametrize("flags", [[], ["--json"], ["--plot", "PLOT"]])
def test_invalid_file_exits_2_with_event_time_and_field_on_stderr(tmp_path, openidds_cli, flags):
    bad = """
[[event]]
at = 2026-01-05T00:00:00Z
kind = "program"
mode = "continuous"
rate_ml_per_day = 0.047
"""
    plot = tmp_path / "plot.png"
    flags = [str(plot) if f == "PLOT" else f for f in flags]
    proc = openidds_cli("simulate", write(tmp_path, events_extra=bad), *flags)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "event 5" in proc.stderr  # the sixth [[event]] table
    assert "2026-01-05T00:00:00Z" in proc.stderr
    assert "rate_ml_per_day" in proc.stderr
    assert not plot.exists()


def test_error_found_during_the_replay_exits_2(tmp_path, openidds_cli):
    bad = """
[[event]]
at = 2026-01-03T12:00:00+01:00
kind = "bolus"
dose = { baclofen = "50 mcg" }
duration = "PT1H"
"""
    proc = openidds_cli("simulate", write(tmp_path, events_extra=bad), "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "event 5" in proc.stderr
    assert "2026-01-03T11:00:00Z" in proc.stderr
    assert "dose.baclofen" in proc.stderr


def test_not_toml_and_missing_file_exit_2(tmp_path, openidds_cli):
    path = tmp_path / "broken.toml"
    path.write_text("[scenario\n", encoding="utf-8")
    for target in (path, tmp_path / "missing.toml"):
        proc = openidds_cli("simulate", target)
        assert proc.returncode == 2
        assert proc.stdout == ""
        assert proc.stderr.strip() != ""


def test_battery_warning_goes_to_stderr(tmp_path, openidds_cli):
    battery = "[pump.battery]\nstarted = 2024-01-01T00:00:00Z\n"
    proc = openidds_cli("simulate", write(tmp_path, pump_extra=battery), "--json")
    assert proc.returncode == 0
    assert "warning" in proc.stderr
    assert "pumped_ml_before_start" in proc.stderr
    json.loads(proc.stdout)  # stdout is still pure JSON
    given = battery + "pumped_ml_before_start = 300.0\n"
    proc = openidds_cli("simulate", write(tmp_path, pump_extra=given), "--json")
    assert proc.returncode == 0
    assert proc.stderr == ""


def test_pumps_lists_the_six_models(openidds_cli):
    proc = openidds_cli("pumps")
    assert proc.returncode == 0, proc.stderr
    for model in (
        "synchromed2-20",
        "synchromed2-40",
        "prometra2-20",
        "prometra2-40",
        "isomed-8472-20",
        "isomed-8472-35",
    ):
        assert model in proc.stdout


def test_pumps_show_marks_unconfirmed_values(openidds_cli):
    proc = openidds_cli("pumps", "show", "synchromed2-40")
    assert proc.returncode == 0, proc.stderr
    assert "UNCONFIRMED" in proc.stdout
    assert "0.048" in proc.stdout  # min_rate_ml_per_day


def test_pumps_show_unknown_model_exits_2(openidds_cli):
    proc = openidds_cli("pumps", "show", "synchromed3-80")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "synchromed3-80" in proc.stderr
