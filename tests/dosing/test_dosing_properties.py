"""Properties: no dose above a hard maximum passes; overrides never hide a hard finding;
the checks' concentrations agree with the twin's reservoir."""

from __future__ import annotations

import pytest
from helpers import at, fill, scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openidds.dosing import check, load_library
from openidds.pump import simulate

LIB = load_library()
DRUGS = sorted(LIB.drugs)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def programs(draw: st.DrawFn) -> tuple[str, float, float]:
    drug = draw(st.sampled_from(DRUGS))
    limits = LIB.drugs[drug]
    conc = draw(st.floats(0.05, 1.0)) * limits.concentration_max.soft
    rate = draw(st.floats(0.05, 20.0))
    return drug, conc, rate


@SETTINGS
@given(programs(), st.sampled_from(["US", "EU"]))
def test_no_dose_above_a_hard_maximum_passes(p: tuple[str, float, float], region: str) -> None:
    drug, conc, rate = p
    sc = scenario(
        fill(2, 40, {drug: f"{conc!r} mg/mL"}),
        {"at": 2, "kind": "program", "mode": "continuous", "rate_ml_per_day": rate},
        indication="spasticity_spinal" if drug == "baclofen" else "cancer_pain",
    )
    findings = check(sc, region=region)
    daily = conc * rate
    if daily > LIB.drugs[drug].daily_dose_max.hard_for(region) * (1 + 1e-6):
        hard = [f for f in findings if f.code == "daily_dose_above_max" and f.severity == "hard"]
        assert hard
        assert hard[0].value == pytest.approx(daily)
        assert any(f.blocks for f in findings)


@SETTINGS
@given(
    programs(),
    st.lists(
        st.sampled_from(
            sorted(
                {
                    "daily_dose_above_max",
                    "dose_implausible_unit",
                    "rate_out_of_device_range",
                    "concentration_above_max",
                    "overfill",
                }
            )
        ),
        max_size=5,
    ),
    st.text(min_size=1, max_size=20),
)
def test_overrides_never_hide_a_hard_finding(
    p: tuple[str, float, float], override_codes: list[str], reason: str
) -> None:
    drug, conc, rate = p
    overrides = [{"code": c, "reason": reason} for c in override_codes]
    events = (
        fill(2, 40, {drug: f"{conc!r} mg/mL"}, override=overrides),
        {
            "at": 2,
            "kind": "program",
            "mode": "continuous",
            "rate_ml_per_day": rate,
            "override": overrides,
        },
    )
    plain = check(scenario(*events[:1], events[1] | {"override": []}))
    with_overrides = check(scenario(*events))
    hard = sorted((f.code, f.event_index) for f in plain if f.severity == "hard")
    assert hard == sorted((f.code, f.event_index) for f in with_overrides if f.severity == "hard")
    assert all(f.blocks for f in with_overrides if f.severity == "hard")
    assert not any(f.overridden for f in with_overrides if f.severity != "soft")


@SETTINGS
@given(st.floats(1.0, 20.0), st.floats(1.0, 20.0), st.floats(0.0, 10.0), st.floats(0.2, 1.0))
def test_concentration_change_agrees_with_twin_reservoir(
    c1: float, c2: float, residual: float, rate: float
) -> None:
    m = "morphine"
    sc = scenario(
        fill(2, 30, {m: f"{c1!r} mg/mL"}),
        {"at": 2, "kind": "program", "mode": "continuous", "rate_ml_per_day": rate},
        fill(242, 30, {m: f"{c2!r} mg/mL"}, residual_left_ml=residual),
        {"at": 242, "kind": "bridge_bolus"},
        {"at": 242, "kind": "program", "mode": "continuous", "rate_ml_per_day": rate},
    )
    result = simulate(sc)
    twin_conc = result.reservoir_mg_at(at(243))[m] / result.reservoir_ml_at(at(243))
    mixed = (residual * c1 + 30 * c2) / (residual + 30)
    assert twin_conc == pytest.approx(mixed)
    changed = abs(mixed - c1) > 0.1 * c1 * (1 + 1e-9)
    found = [f for f in check(sc) if f.code == "program_not_updated_after_concentration_change"]
    assert not found  # a program follows at the visit
    findings = check(sc)
    inc = [f for f in findings if f.code == "dose_increase_too_large"]
    if inc:
        assert changed
        assert inc[0].value == pytest.approx(rate * (mixed - c1))


# -- issue 9: decreases, switches and withdrawal -----------------------------------------

INCREASE_CODES = {"dose_increase_too_large", "dose_increase_too_soon"}
OPIOIDS = sorted(d for d, drug in LIB.drugs.items() if drug.is_opioid)
WITHDRAWAL = sorted(d for d, drug in LIB.drugs.items() if drug.withdrawal_risk)


@SETTINGS
@given(
    st.sampled_from(DRUGS),
    st.floats(0.05, 1.0),
    st.floats(0.0, 0.999),
    st.floats(1.0, 200.0),
)
def test_a_decrease_never_raises_an_increase_finding(
    drug: str, dose_share: float, cut: float, hours: float
) -> None:
    d = LIB.drugs[drug]
    conc = d.concentration_max.soft / 2
    before = dose_share * d.daily_dose_max.soft
    after = before * (1 - cut)
    sc = scenario(
        fill(2, 40, {drug: f"{conc!r} mg/mL"}),
        {"at": 2, "kind": "program", "mode": "continuous", "dose": {drug: f"{before!r} mg/day"}},
        {
            "at": 2 + hours,
            "kind": "program",
            "mode": "continuous",
            "dose": {drug: f"{after!r} mg/day"},
        },
        indication="spasticity_spinal" if drug == "baclofen" else "cancer_pain",
    )
    later = [f for f in check(sc) if f.event_index == 2]
    assert not [f.code for f in later if f.code in INCREASE_CODES]


@SETTINGS
@given(
    st.sampled_from(OPIOIDS),
    st.sampled_from(OPIOIDS),
    st.floats(0.05, 0.9),
    st.floats(0.0, 1.0),
)
def test_a_switch_by_the_table_never_raises_a_hard_finding(
    old: str, new: str, dose_share: float, reduction_share: float
) -> None:
    if old == new:
        return
    rule = LIB.safety.opioid_switch
    reduction = rule.reduction_low + reduction_share * (rule.reduction_high - rule.reduction_low)
    o, n = LIB.drugs[old], LIB.drugs[new]
    assert o.equianalgesic is not None
    assert n.equianalgesic is not None
    old_dose = dose_share * o.daily_dose_max.soft
    new_dose = old_dose * o.equianalgesic.default / n.equianalgesic.default * (1 - reduction)
    conc_old, conc_new = o.concentration_max.soft / 4, n.concentration_max.soft / 4
    sc = scenario(
        fill(2, 40, {old: f"{conc_old!r} mg/mL"}),
        {"at": 2, "kind": "program", "mode": "continuous", "dose": {old: f"{old_dose!r} mg/day"}},
        {"at": 200, "kind": "fill", "volume_ml": 40.0, "drugs": {new: f"{conc_new!r} mg/mL"}},
        {"at": 200, "kind": "bridge_bolus"},
        {"at": 200, "kind": "program", "mode": "continuous", "dose": {new: f"{new_dose!r} mg/day"}},
        days=10,
    )
    switch = [f for f in check(sc) if f.code.startswith("opioid_switch")]
    assert not [f for f in switch if f.severity == "hard"], [f.message for f in switch]


@SETTINGS
@given(st.sampled_from(WITHDRAWAL), st.sampled_from(["bupivacaine", "ziconotide"]))
def test_removing_a_withdrawal_drug_always_raises_a_finding(drug: str, other: str) -> None:
    d = LIB.drugs[drug]
    conc = d.concentration_max.soft / 4
    dose = d.daily_dose_max.soft / 4
    sc = scenario(
        fill(2, 40, {drug: f"{conc!r} mg/mL", other: "0.02 mg/mL"}),
        {"at": 2, "kind": "program", "mode": "continuous", "dose": {drug: f"{dose!r} mg/day"}},
        {"at": 200, "kind": "fill", "volume_ml": 40.0, "drugs": {other: "0.02 mg/mL"}},
        days=10,
        indication="spasticity_spinal" if drug == "baclofen" else "cancer_pain",
    )
    dropped = [f for f in check(sc) if f.code == "withdrawal_drug_dropped" and f.drug == drug]
    assert dropped
    assert dropped[0].blocks
