"""Scores by hand-computed examples (the arithmetic is written next to each) and hypothesis
properties of the scoring rules (diary/data/bpi.toml, odi.toml)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openidds.web.diary import data, scoring

SEVERITY = scoring.bpi_severity_keys()
INTERFERENCE = scoring.bpi_interference_keys()
SECTIONS = scoring.odi_section_keys()


def test_the_data_files_carry_their_sources():
    for name in ("bpi", "odi", "adl", "outcomes", "recovery", "red_flags", "emergency_numbers"):
        text = (data.DATA / f"{name}.toml").read_text()
        assert "source" in text, name
    assert data.outcomes()["improvement"]["percent_lines"] == [20, 30]
    assert "IMMPACT" in data.outcomes()["improvement"]["source"]
    assert "Fairbank" in data.odi()["source"]
    assert len(SECTIONS) == 10
    assert INTERFERENCE == [
        "general_activity",
        "mood",
        "walking",
        "normal_work",
        "relations",
        "sleep",
        "enjoyment",
    ]


def test_bpi_by_hand():
    answers = {"worst": 8, "least": 3, "average": 6, "now": 5}
    answers |= dict(zip(INTERFERENCE, [7, 6, 5, 4, 3, 2, 1], strict=True))
    score = scoring.score_bpi(answers | {"relief_percent": 40})
    # severity = (8 + 3 + 6 + 5) / 4 = 22 / 4 = 5.5
    assert score.severity == 5.5
    # interference = (7 + 6 + 5 + 4 + 3 + 2 + 1) / 7 = 28 / 7 = 4.0
    assert score.interference == 4.0
    assert score.relief_percent == 40


def test_bpi_interference_needs_four_of_seven():
    base = {"worst": 8, "least": 3, "average": 6, "now": 5}
    four = base | dict(zip(INTERFERENCE[:4], [7, 6, 5, 4], strict=True))
    # (7 + 6 + 5 + 4) / 4 = 22 / 4 = 5.5: four answered is enough
    assert scoring.score_bpi(four).interference == 5.5
    three = base | dict(zip(INTERFERENCE[:3], [7, 6, 5], strict=True))
    assert scoring.score_bpi(three).interference is None
    assert scoring.score_bpi(three).interference_answered == 3


def test_bpi_severity_needs_all_four_items():
    assert scoring.score_bpi({"worst": 8, "least": 3, "average": 6}).severity is None


@pytest.mark.parametrize(
    "answers",
    [{"worst": 11}, {"mood": -1}, {"now": 5.5}, {"now": True}, {"relief_percent": 45}],
)
def test_bpi_refuses_values_off_the_scale(answers):
    with pytest.raises(ValueError, match=r"whole number|steps of"):
        scoring.score_bpi(answers)


def test_odi_by_hand():
    values = [3, 2, 3, 2, 1, 2, 3, 0, 2, 2]
    answers = dict(zip(SECTIONS, values, strict=True))
    score = scoring.score_odi(answers)
    # sum = 20; 20 / (5 x 10) x 100 = 20 / 50 x 100 = 40 %
    assert score.total == 20
    assert score.percent == pytest.approx(40.0)
    assert score.band == "moderate disability"


def test_odi_section_left_out_lowers_the_denominator():
    values = [3, 2, 3, 2, 1, 2, 3, 0, 2, 2]
    answers = dict(zip(SECTIONS, values, strict=True))
    del answers["sex_life"]  # was 0
    score = scoring.score_odi(answers)
    # sum = 20 over 9 sections: 20 / (5 x 9) x 100 = 20 / 45 x 100 = 44.44 %
    assert score.answered == 9
    assert score.percent == pytest.approx(44.444444, abs=1e-5)
    assert score.band == "severe disability"
    # Fairbank and Pynsent's own example: 16 points over 9 sections = 16 / 45 = 35.56 %
    fairbank = dict(zip(SECTIONS[:9], [2, 2, 2, 2, 2, 2, 2, 1, 1], strict=True))
    assert scoring.score_odi(fairbank).percent == pytest.approx(35.5556, abs=1e-4)


def test_odi_gives_no_score_below_eight_sections():
    seven = dict(zip(SECTIONS[:7], [1] * 7, strict=True))
    assert scoring.score_odi(seven).percent is None
    eight = dict(zip(SECTIONS[:8], [1] * 8, strict=True))
    # 8 / (5 x 8) x 100 = 20 %
    assert scoring.score_odi(eight).percent == pytest.approx(20.0)
    assert scoring.score_odi(eight).band == "minimal disability"


def test_improvement_lines_by_hand():
    # baseline 7.0: 20 % better = 7.0 x 0.8 = 5.6; 30 % better = 7.0 x 0.7 = 4.9
    assert scoring.improvement_line(7.0, 20) == pytest.approx(5.6)
    assert scoring.improvement_line(7.0, 30) == pytest.approx(4.9)
    # from 7.0 to 4.2: (7.0 - 4.2) / 7.0 = 0.4 = 40 % better
    assert scoring.improvement_percent(7.0, 4.2) == pytest.approx(40.0)
    assert scoring.improvement_percent(0.0, 3.0) is None


nrs = st.one_of(st.none(), st.integers(0, 10))


@given(
    severity=st.fixed_dictionaries({k: nrs for k in SEVERITY}),
    interference=st.fixed_dictionaries({k: nrs for k in INTERFERENCE}),
)
def test_bpi_scores_stay_on_the_scale(severity, interference):
    score = scoring.score_bpi(severity | interference)
    answered = [v for v in interference.values() if v is not None]
    if len(answered) >= 4:
        assert score.interference is not None
        assert 0 <= score.interference <= 10
        assert score.interference == pytest.approx(sum(answered) / len(answered))
    else:
        assert score.interference is None
    if all(v is not None for v in severity.values()):
        assert score.severity is not None
        assert 0 <= score.severity <= 10
    else:
        assert score.severity is None


@given(st.fixed_dictionaries({k: st.one_of(st.none(), st.integers(0, 5)) for k in SECTIONS}))
def test_odi_with_missing_sections(answers):
    score = scoring.score_odi(answers)
    answered = [v for v in answers.values() if v is not None]
    assert score.answered == len(answered)
    if len(answered) < 8:
        assert score.percent is None
        assert score.band == ""
    else:
        assert score.percent is not None
        assert 0 <= score.percent <= 100
        assert score.percent == pytest.approx(sum(answered) / (5 * len(answered)) * 100)
        assert score.band
