"""Dose-safety rules v2 (issue 9): withdrawal, decreases, opioid switches, boluses, priming,
reconciliation, programming and interrogation (``docs/dose-checks.md``).

The functions take the walking checker (``_check._Checker``) and add findings to it; the
ones named ``on_*`` run at one event during the walk, :func:`withdrawal_rules` after it, on
the twin's replay of the whole scenario."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from openidds.pump import (
    Bolus,
    CatheterRevision,
    Event,
    Fill,
    Interrogation,
    Mri,
    Program,
    PtmSettings,
    PumpReplacement,
)

from ._library import Drug
from ._text import amount, fmt

if TYPE_CHECKING:
    from ._check import _Checker

_TOL = 1e-9
_DAY_S = 86_400.0


def utc(at: datetime) -> str:
    """An instant as the findings print it (UTC, to the minute)."""
    return at.strftime("%Y-%m-%d %H:%M") + " UTC"


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def withdrawal_drugs(ck: _Checker, conc: Mapping[str, float] | None = None) -> list[Drug]:
    """The withdrawal-risk drugs of a mixture (the reservoir's now by default)."""
    out = []
    for d, c in sorted((ck.conc if conc is None else conc).items()):
        drug = ck.lib.get(d)
        if drug is not None and c > 0 and drug.withdrawal_risk:
            out.append(drug)
    return out


def wording(drugs: Sequence[Drug]) -> str:
    return "; ".join(d.withdrawal_wording for d in drugs if d.withdrawal_wording)


def names(drugs: Sequence[Drug]) -> str:
    return ", ".join(d.id for d in drugs)


def decimal_factor(ck: _Checker, before: float, after: float) -> int | None:
    """10 or 100 when one value is the other times 10 or 100 (within the tolerance)."""
    if before <= 0 or after <= 0:
        return None
    tol = ck.lib.safety.decimal_pattern_tolerance.value
    ratio = max(before, after) / min(before, after)
    for factor in (10, 100):
        if abs(ratio / factor - 1) <= tol:
            return factor
    return None


def programmed_concs(event: Event | None) -> dict[str, float]:
    """``programmed_concentration`` of a program, bolus or PTM setting, mg/mL per drug."""
    if isinstance(event, Program | Bolus | PtmSettings):
        return dict(event.programmed_conc_mg_per_ml)
    return {}


# -- programming ---------------------------------------------------------------------------


def programmed_concentration(ck: _Checker, event: Event) -> None:
    """The classic programming error: the pump is told a concentration that is not in it."""
    tol = ck.lib.safety.programmed_concentration_tolerance
    for d, told in sorted(programmed_concs(event).items()):
        drug = ck.lib.get(d)
        real = ck.conc.get(d, 0.0)
        refs = [real]
        if ck.last_fill is not None and d in ck.last_fill.drugs_mg_per_ml:
            refs.append(ck.last_fill.drugs_mg_per_ml[d])
        if any(ref > 0 and abs(told - ref) <= tol.value * ref * (1 + _TOL) for ref in refs):
            continue
        factor = real / told if told > 0 else float("inf")
        effect = (
            f"the patient receives {fmt(factor)} times the intended dose"
            if real > 0
            else "the drug is not in the reservoir"
        )
        ck.add(
            event,
            "programmed_concentration_mismatch",
            "hard",
            d,
            told,
            real,
            "mg/mL",
            f"the pump is told {d} {amount(drug, told, 'mg/mL')} but the reservoir holds "
            f"{amount(drug, real, 'mg/mL')}: it turns the dose into a rate with the wrong "
            f"concentration, so {effect}; enter the concentration that is in the pump",
            tol.source,
        )


# -- fills -----------------------------------------------------------------------------------


def on_fill_before_mix(ck: _Checker, fill: Fill, first_of_device: bool) -> None:
    """Rules of a fill judged against the pump as it was just before it."""
    outcome = ck.outcome(fill.index)
    expected = outcome.expected_ml if outcome is not None else None
    threshold = ck.low_alarm_ml
    if not first_of_device and expected is not None:
        if fill.aspirated_ml is None and expected > 1e-6:
            ck.add(
                fill,
                "refill_not_reconciled",
                "soft",
                None,
                None,
                expected,
                "mL",
                f"no aspirated volume is recorded for this refill, but the pump should hold "
                f"{fmt(expected)} mL: without it a needle outside the reservoir (pocket fill) "
                "or a pump fault cannot be seen; record the volume aspirated, or 0 mL if "
                "nothing could be aspirated",
                ck.model.params["refill_discrepancy_ml"].source,
            )
        if expected <= threshold * (1 + _TOL):
            ck.add(
                fill,
                "refill_near_empty",
                "soft",
                None,
                expected,
                threshold,
                "mL",
                f"the pump should hold only {fmt(expected)} mL (the low-reservoir alarm is at "
                f"{fmt(threshold)} mL): aspiration cannot confirm that the needle is in the "
                "reservoir; confirm the needle position (for example a second needle or "
                "ultrasound) before filling, and state how in the reason",
                "domain-facts 1.8: empty-reservoir refills, needle placement cannot be confirmed "
                "by aspiration (two-needle approach, Cureus 2025)",
            )
    if not first_of_device and ck.last_fill is not None:
        differs_from_last(ck, fill)


def differs_from_last(ck: _Checker, fill: Fill) -> None:
    """A fill whose drugs or concentrations differ from the last fill, with no program at
    the visit: the wrong vial, or a prescription change nobody programmed."""
    last = ck.last_fill
    assert last is not None
    if any(isinstance(e, Program) for e in ck.visit_events(fill)):
        return
    old, new = dict(last.drugs_mg_per_ml), dict(fill.drugs_mg_per_ml)
    same = set(old) == set(new) and all(
        abs(new[d] - old[d]) <= _TOL * max(new[d], old[d]) for d in old
    )
    if same:
        return
    ck.add(
        fill,
        "fill_differs_from_last",
        "soft",
        None,
        None,
        None,
        "",
        f"this fill ({mixture(ck, new)}) differs from the last fill ({mixture(ck, old)}) and "
        "no program change is recorded at this visit: check the drug and the concentration "
        "against the prescription",
        ck.lib.checks.source,
    )


def mixture(ck: _Checker, drugs: Mapping[str, float]) -> str:
    return ", ".join(f"{d} {amount(ck.lib.get(d), c, 'mg/mL')}" for d, c in sorted(drugs.items()))


def on_fill_after_mix(
    ck: _Checker, fill: Fill, old: Mapping[str, float], first_of_device: bool
) -> None:
    """Rules of a fill judged with the new mixture in the reservoir."""
    # a withdrawal-risk drug that was being given is no longer in the fill
    dosed_before = {d for d, v in ck.dose.items() if v > 0 and old.get(d, 0.0) > 0}
    dropped = [
        drug
        for d in sorted(dosed_before)
        if (drug := ck.lib.get(d)) is not None
        and drug.withdrawal_risk
        and fill.drugs_mg_per_ml.get(d, 0.0) <= 0
    ]
    added_opioids = [
        d
        for d, c in fill.drugs_mg_per_ml.items()
        if c > 0 and (drug := ck.lib.get(d)) is not None and drug.is_opioid and old.get(d, 0.0) <= 0
    ]
    for drug in dropped:
        switched = drug.is_opioid and bool(added_opioids)
        ck.add(
            fill,
            "withdrawal_drug_dropped",
            "info" if switched else "soft",
            drug.id,
            None,
            None,
            "",
            f"{drug.id} was being given and is not in this fill"
            + (
                f": a switch to {', '.join(sorted(added_opioids))} (judged with the "
                "equianalgesic table)"
                if switched
                else f": {drug.withdrawal_wording}; taper it, or state why it stops"
            ),
            f"drug library {ck.lib.id} {ck.lib.version}: {drug.id}.withdrawal_risk",
        )
    # the low-reservoir alarm must warn early enough for every withdrawal-risk drug
    for drug in withdrawal_drugs(ck):
        minimum = drug.low_reservoir_alarm_min_ml
        if minimum is None or drug.id in ck.alarm_noted:
            continue
        ck.alarm_noted.add(drug.id)
        if ck.low_alarm_ml < minimum.value * (1 - _TOL):
            ck.add(
                fill,
                "low_reservoir_alarm_below_minimum",
                "soft",
                drug.id,
                ck.low_alarm_ml,
                minimum.value,
                "mL",
                f"the low-reservoir alarm is set at {fmt(ck.low_alarm_ml)} mL, below the "
                f"{fmt(minimum.value)} mL minimum for {drug.id}: the patient may run out before "
                f"the alarm sounds ({drug.withdrawal_wording}); raise the alarm volume",
                minimum.source,
            )
    # ziconotide in a new pump: prime and first fill with undiluted 25 mcg/mL only
    zic = ck.lib.get("ziconotide")
    if (
        first_of_device
        and ck.new_device
        and zic is not None
        and "ziconotide" in fill.drugs_mg_per_ml
    ):
        first_strength = zic.labelled_strengths_mg_per_ml[:1]
        c = fill.drugs_mg_per_ml["ziconotide"]
        alone = len([v for v in fill.drugs_mg_per_ml.values() if v > 0]) == 1
        if not first_strength or not alone or abs(c - first_strength[0]) > _TOL * c:
            want = amount(zic, first_strength[0], "mg/mL") if first_strength else "undiluted"
            ck.add(
                fill,
                "ziconotide_first_fill_not_undiluted",
                "soft",
                "ziconotide",
                c,
                first_strength[0] if first_strength else None,
                "mg/mL",
                "the first fill of a new pump with ziconotide is "
                f"{mixture(ck, fill.drugs_mg_per_ml)}; "
                f"the label asks for undiluted {want} alone (ziconotide is lost by adsorption in a "
                "new pump), then a first refill within 14 days",
                zic.stability.source,
            )


# -- doses: decreases and opioid switches -------------------------------------------------


def decrease(ck: _Checker, event: Event, drug: Drug, before: float, after: float) -> None:
    if before <= 0 or after >= before * (1 - _TOL):
        return
    rule = drug.decrease
    cut = (before - after) / before
    words = f" ({drug.withdrawal_wording})" if drug.withdrawal_risk else ""
    change = f"{amount(drug, before, 'mg/day')} → {amount(drug, after, 'mg/day')}"
    if decimal_pattern(ck, event, drug, before, after, "mg/day", f"{drug.id} falls"):
        return
    if rule is None:
        return
    if rule.hard_fraction is not None and cut > rule.hard_fraction * (1 + _TOL):
        ck.add(
            event,
            "dose_decrease_too_large",
            "hard",
            drug.id,
            cut,
            rule.hard_fraction,
            "fraction",
            f"{drug.id} falls by {fmt(100 * cut)} % in one step ({change}), more than the hard "
            f"limit of {fmt(100 * rule.hard_fraction)} % ({rule.hard_basis}){words}; lower it in "
            "smaller steps",
            rule.source,
        )
    elif rule.soft_fraction is not None and cut > rule.soft_fraction * (1 + _TOL):
        ck.add(
            event,
            "dose_decrease_too_large",
            "soft",
            drug.id,
            cut,
            rule.soft_fraction,
            "fraction",
            f"{drug.id} falls by {fmt(100 * cut)} % in one step ({change}), more than "
            f"{fmt(100 * rule.soft_fraction)} % ({rule.soft_basis}){words}",
            rule.source,
        )


def decimal_pattern(
    ck: _Checker, event: Event, drug: Drug, before: float, after: float, unit: str, what: str
) -> bool:
    """A dose (or a PTM bolus) multiplied or divided by 10 or 100: hard, whatever the
    titration limits say; not for a drug whose label allows any decrease (ziconotide)."""
    factor = decimal_factor(ck, before, after)
    rule = drug.decrease
    if factor is None or (after < before and rule is not None and not rule.decimal_pattern_hard):
        return False
    way = "more" if after > before else "less"
    ck.add(
        event,
        "dose_decimal_pattern",
        "hard",
        drug.id,
        after,
        before,
        unit,
        f"{what}: {amount(drug, before, unit)} → {amount(drug, after, unit)}, exactly {factor} "
        f"times {way}; this is the pattern of a decimal or unit error; check the order",
        ck.lib.safety.decimal_pattern_tolerance.source,
    )
    return True


def morphine_equivalent(ck: _Checker, doses: Mapping[str, float], end: str) -> float:
    """mg/day of intrathecal morphine; ``end`` picks the table's ``low``, ``default`` or
    ``high`` ratio."""
    total = 0.0
    for d, v in doses.items():
        drug = ck.lib.get(d)
        if drug is None or not drug.is_opioid or v <= 0 or drug.equianalgesic is None:
            continue
        total += v * float(getattr(drug.equianalgesic, end))
    return total


def opioid_switch(
    ck: _Checker, event: Event, before: Mapping[str, float], after: Mapping[str, float]
) -> set[str]:
    """Judge a change of opioid; returns the new opioids (their starting dose is not judged:
    the patient is on an opioid already)."""

    def opioid(d: str) -> bool:
        drug = ck.lib.get(d)
        return drug is not None and drug.is_opioid

    old = {d: v for d, v in before.items() if v > 0 and opioid(d)}
    new = {d: v for d, v in after.items() if v > 0 and opioid(d)}
    added = {d for d in new if d not in old}
    if not old or not added:
        return set()
    rule = ck.lib.safety.opioid_switch
    old_mme = morphine_equivalent(ck, old, "default")
    new_mme = morphine_equivalent(ck, new, "default")
    # the cautious ends of the table: the old opioids at their lowest ratio, the new at
    # their highest (the switch looks as large as the table allows)
    old_low = morphine_equivalent(ck, {d: v for d, v in old.items() if d not in new}, "low")
    old_low += morphine_equivalent(ck, {d: v for d, v in old.items() if d in new}, "default")
    new_high = morphine_equivalent(ck, {d: v for d, v in new.items() if d in added}, "high")
    new_high += morphine_equivalent(ck, {d: v for d, v in new.items() if d not in added}, "default")
    if old_mme <= 0:
        return added
    ratio, worst = new_mme / old_mme, new_high / max(old_low, 1e-300)
    expected_hi, expected_lo = 1 - rule.reduction_low, 1 - rule.reduction_high
    ratios = "; ".join(
        f"{d} {fmt(r.low)}–{fmt(r.high)} mg of morphine per mg"
        for d in sorted(set(old) | set(new))
        if (drug := ck.lib.get(d)) is not None
        and (r := drug.equianalgesic) is not None
        and d != "morphine"
    )
    what = (
        f"the switch from {dose_text(ck, old)} to {dose_text(ck, new)} gives "
        f"{fmt(new_mme)} mg/day of intrathecal morphine equivalent for {fmt(old_mme)} mg/day "
        f"before ({fmt(100 * ratio)} %)"
    )
    target = (
        f"a switch should give {fmt(100 * expected_lo)}–{fmt(100 * expected_hi)} % of the old "
        f"equivalent ({rule.basis}; table: {ratios or 'morphine only'})"
    )
    drug_id = sorted(added)[0]
    if worst > rule.hard_factor * (1 + _TOL):
        ck.add(
            event,
            "opioid_switch_above_equianalgesic",
            "hard",
            drug_id,
            worst,
            rule.hard_factor,
            "ratio",
            f"{what}; with the table's most potent ratio it is {fmt(worst)} times the old dose, "
            f"more than {fmt(rule.hard_factor)} times: an opioid overdose; {target}",
            rule.source,
        )
    elif ratio > expected_hi * (1 + 1e-6):
        ck.add(
            event,
            "opioid_switch_above_equianalgesic",
            "soft",
            drug_id,
            ratio,
            expected_hi,
            "ratio",
            f"{what}, without the usual reduction for incomplete cross-tolerance; {target}",
            rule.source,
        )
    else:
        floor = expected_lo
        cuts = [
            drug.decrease.soft_fraction
            for d in old
            if (drug := ck.lib.get(d)) is not None
            and drug.decrease is not None
            and drug.decrease.soft_fraction is not None
        ]
        if cuts:
            floor = expected_lo * (1 - min(cuts))
        if ratio < floor * (1 - 1e-6):
            dropped = [ck.lib.get(d) for d in old]
            words = wording([d for d in dropped if d is not None and d.withdrawal_risk])
            ck.add(
                event,
                "opioid_switch_below_equianalgesic",
                "soft",
                drug_id,
                ratio,
                floor,
                "ratio",
                f"{what}, far below the equianalgesic dose: {words}; {target}",
                rule.source,
            )
    return added


def dose_text(ck: _Checker, doses: Mapping[str, float]) -> str:
    return " + ".join(
        f"{d} {amount(ck.lib.get(d), v, 'mg/day')}" for d, v in sorted(doses.items()) if v > 0
    )


# -- boluses --------------------------------------------------------------------------------


def single_bolus(ck: _Checker, event: Event, amounts: Mapping[str, float], what: str) -> None:
    """Any single bolus (clinician or PTM) against the drug's single-bolus limit."""
    for d, mg in sorted(amounts.items()):
        drug = ck.lib.get(d)
        if drug is None or drug.bolus_max is None or mg <= 0:
            continue
        limit = drug.bolus_max
        if mg > limit.hard * (1 + _TOL):
            severity, value, basis = "hard", limit.hard, limit.hard_basis
        elif mg > limit.soft * (1 + _TOL):
            severity, value, basis = "soft", limit.soft, limit.soft_basis
        else:
            continue
        ck.add(
            event,
            "bolus_above_max",
            severity,  # type: ignore[arg-type]
            d,
            mg,
            value,
            "mg",
            f"{what} of {d} {amount(drug, mg, 'mg', value)} is above the {severity} maximum "
            f"single bolus of {amount(drug, value, 'mg')} ({basis})",
            limit.source,
        )


def clinician_bolus(ck: _Checker, event: Event, amounts: Mapping[str, float]) -> None:
    single_bolus(ck, event, amounts, "a clinician bolus")
    opioids = [
        d for d, mg in amounts.items() if mg > 0 and (drug := ck.lib.get(d)) and drug.is_opioid
    ]
    if not opioids:
        return
    window = ck.lib.safety.clinician_bolus_naive_window_hours
    last = ck.last_clinician_opioid_bolus
    ck.last_clinician_opioid_bolus = event.at
    if last is None or not ck.patient.maybe_naive:
        return
    gap = hours(event.at - last)
    if gap < window.value * (1 - _TOL):
        if ck.patient.opioid_tolerance is None:
            ck.note_patient(event)
        ck.add(
            event,
            "bolus_stacked_opioid_naive",
            "soft",
            sorted(opioids)[0],
            gap,
            window.value,
            "h",
            f"a second clinician bolus of {', '.join(sorted(opioids))} {fmt(gap)} h after the "
            f"last one in a patient who may be opioid-naive: boluses stack inside the "
            f"{fmt(window.value)} h observation window ({window.basis}); respiratory depression",
            window.source,
        )


def ptm_bolus(ck: _Checker, event: PtmSettings, per_dose: Mapping[str, float]) -> None:
    """A PTM bolus against the daily dose, the single-bolus limit and the last PTM bolus."""
    single_bolus(ck, event, per_dose, "a PTM bolus")
    fraction = ck.lib.safety.ptm_bolus_fraction
    for d, mg in sorted(per_dose.items()):
        drug = ck.lib.get(d)
        if drug is None or mg <= 0:
            continue
        daily = ck.dose.get(d, 0.0) if ck.rates is not None else 0.0
        if daily > 0:
            share = mg / daily
            if share >= fraction.hard * (1 - _TOL):
                severity, limit, basis = "hard", fraction.hard, fraction.hard_basis
            elif share > fraction.soft * (1 + _TOL):
                severity, limit, basis = "soft", fraction.soft, fraction.soft_basis
            else:
                severity = ""
            if severity:
                ck.add(
                    event,
                    "ptm_bolus_above_daily_fraction",
                    severity,  # type: ignore[arg-type]
                    d,
                    share,
                    limit,
                    "fraction",
                    f"each PTM bolus gives {d} {amount(drug, mg, 'mg')}, "
                    f"{fmt(100 * share)} % of the daily basal dose of "
                    f"{amount(drug, daily, 'mg/day')} ({basis})",
                    fraction.source,
                )
        before = ck.ptm_mg.get(d, 0.0)
        if before > 0 and mg > before * (1 + _TOL):
            if decimal_pattern(ck, event, drug, before, mg, "mg", f"the PTM bolus of {d}"):
                continue
            limit_mg, text = ck.soft_increase(drug, before, refill_visit=False)
            t = drug.titration
            if t.soft_increase_fraction is not None and not t.phases:
                limit_mg = before * t.soft_increase_fraction
                text = f"+{fmt(100 * t.soft_increase_fraction)} %"
            if limit_mg is not None and mg - before > limit_mg * (1 + _TOL):
                ck.add(
                    event,
                    "ptm_bolus_increase_too_large",
                    "soft",
                    d,
                    mg - before,
                    limit_mg,
                    "mg",
                    f"the PTM bolus of {d} rises from {amount(drug, before, 'mg')} to "
                    f"{amount(drug, mg, 'mg')}, more than the titration limit of {text} "
                    f"({t.soft_basis})",
                    t.source,
                )


# -- priming and bridge -------------------------------------------------------------------


def drug_free_left(ck: _Checker, at: datetime) -> float:
    """mL of drug-free fluid still in the catheter at ``at`` (what has not been pumped out)."""
    if ck.drug_free_ml <= 0:
        return 0.0
    pumped = ck.pumped(ck.drug_free_since, at)
    return max(0.0, ck.drug_free_ml - pumped)


def on_bridge(ck: _Checker, event: Event) -> None:
    fill = ck.last_fill
    if fill is None:
        return
    why = ""
    if ck.bridged_since_fill:
        why = f"a bridge bolus was already given after the fill of {utc(fill.at)}"
    else:
        pumped = ck.pumped(fill.at, event.at)
        if pumped >= ck.path_ml * (1 - 1e-6):
            why = (
                f"{fmt(pumped)} mL has been pumped since the fill of {utc(fill.at)}: the "
                f"catheter ({fmt(ck.path_ml)} mL) already holds the new solution"
            )
        elif not ck.last_fill_changed:
            why = (
                f"the fill of {utc(fill.at)} changed no drug or concentration by more than "
                f"{fmt(100 * ck.lib.checks.concentration_change_fraction)} %"
            )
    ck.bridged_since_fill = True
    if why:
        ck.add(
            event,
            "bridge_bolus_not_needed",
            "soft",
            None,
            None,
            None,
            "",
            f"bridge bolus not needed: {why}; it delays the program in force — check the order",
            ck.lib.checks.source,
        )


def on_revision(ck: _Checker, event: CatheterRevision) -> None:
    path = ck.path_ml if event.fluid_path_ml < 0 else event.fluid_path_ml
    free = path if event.drug_free_ml < 0 else min(event.drug_free_ml, path)
    ck.path_ml = path
    ck.drug_free_ml = free
    ck.drug_free_since = event.at
    if ck.drug_free_ml > 0 and any(c > 0 for c in ck.conc.values()):
        ck.prime_needed.append(event)


def on_replacement(ck: _Checker, event: PumpReplacement) -> None:
    assert event.pump is not None
    ck.model = ck.catalog.get(event.pump.model.id)
    ck.path_ml = event.pump.fluid_path_ml
    ck.drug_free_ml = ck.path_ml
    ck.drug_free_since = event.at
    ck.conc = {}
    ck.rates = None
    ck.ptm = None
    ck.ptm_mg = {}
    ck.last_fill = None
    ck.new_device = True
    ck.device_fills = 0
    ck.interruptions.append((event, withdrawal_drugs(ck, ck.dose_mixture())))


def not_primed(ck: _Checker) -> None:
    """A drug-free catheter (new pump, revision, replacement) with no priming bolus: the drug
    reaches the patient only after the path volume has been pumped at the basal rate."""
    for event in ck.prime_needed:
        after = [e for e in ck.events if e.at >= event.at and e.at - event.at <= ck.window]
        if any(e.kind == "priming_bolus" for e in after if e.index != event.index):
            continue
        left = drug_free_left(ck, event.at)
        if left <= 1e-6:
            continue
        end = event.at + ck.window
        # the basal rate in force once the visit is over (the last hour of its window)
        end = min(end, ck.scenario.end)
        span_h = hours(end - max(end - timedelta(hours=1), event.at))
        rate = ck.pumped(end - timedelta(hours=span_h), end) * 24 / span_h if span_h > 0 else 0.0
        if rate <= 0:
            continue
        wait_h = left / rate * 24
        drugs = withdrawal_drugs(ck)
        words = f" ({wording(drugs)})" if drugs else ""
        ck.add(
            event,
            "path_not_primed",
            "soft",
            None,
            wait_h,
            None,
            "h",
            f"the catheter holds {fmt(left)} mL of drug-free fluid and no priming bolus follows: "
            f"at about {fmt(rate)} mL/day the drug reaches the patient only after about "
            f"{fmt(wait_h)} h{words}; give a priming bolus of {fmt(left)} mL",
            ck.model.params["fluid_path_ml"].source,
        )


# -- interrogation and MRI ------------------------------------------------------------------


def on_interrogation(ck: _Checker, event: Interrogation) -> None:
    outcome = ck.outcome(event.index)
    problems: list[str] = []
    value: float | None = None
    limit: float | None = None
    if outcome is not None and outcome.discrepancy_ml is not None:
        threshold = ck.discrepancy_threshold(event.at)
        if abs(outcome.discrepancy_ml) > threshold * (1 + _TOL):
            reported = (outcome.expected_ml or 0.0) + outcome.discrepancy_ml
            value, limit = outcome.discrepancy_ml, threshold
            problems.append(
                f"the pump reports {fmt(reported)} mL in the reservoir where the records give "
                f"{fmt(outcome.expected_ml or 0.0)} mL (difference {fmt(outcome.discrepancy_ml)} "
                f"mL, more than {fmt(threshold)} mL): over- or under-infusion, a leak, or "
                "records that are incomplete"
            )
    seen = {a.kind for a in ck.result.alarms if a.at <= event.at}
    unknown = sorted(set(event.alarms) - seen)
    if unknown:
        problems.append(
            "the pump logged alarms the records do not explain: "
            + ", ".join(a.replace("_", " ") for a in unknown)
        )
    battery = event.battery
    if battery in ("eri", "eos") and battery not in seen:
        problems.append(
            f"the pump reports its battery at {str(battery).upper()}, earlier than the battery "
            "model forecasts: plan the replacement now"
        )
    if problems:
        drugs = withdrawal_drugs(ck)
        words = f" ({wording(drugs)})" if drugs else ""
        ck.add(
            event,
            "interrogation_mismatch",
            "soft",
            None,
            value,
            limit,
            "mL" if value is not None else "",
            "; ".join(problems) + words + "; reconcile before relying on the forecast",
            ck.model.params["refill_discrepancy_ml"].source,
        )


def on_mri(ck: _Checker, event: Mri) -> None:
    model = ck.model
    needs_empty = model.mri_requires_empty_reservoir
    held = ck.result.reservoir_ml_at(event.at)
    if needs_empty and held > 1e-6:
        param = model.params.get("mri_requires_empty_reservoir")
        ck.add(
            event,
            "mri_drug_in_reservoir",
            "hard",
            None,
            held,
            0.0,
            "mL",
            f"an MRI with {fmt(held)} mL of drug in the {model.id} reservoir: its labeling says "
            "to empty the pump before the scan (the magnet may open the valves; after the scan "
            "no drug is given until the pump is reset); empty the reservoir first and plan "
            "other treatment",
            param.source if param is not None else str(model.params["capacity_ml"].source),
        )
    drugs = withdrawal_drugs(ck)
    stall_h = (event.duration_us + event.recovery_us) / 3.6e9
    stalls = model.mri_stalls_motor
    if not drugs or not stalls or ck.rates is None or ck.stopped:
        return
    limits = [d.max_interruption_hours for d in drugs if d.max_interruption_hours is not None]
    if not limits:
        return
    limit = min(limits, key=lambda v: v.value)
    if stall_h > limit.value * (1 + _TOL):
        ck.add(
            event,
            "withdrawal_interruption",
            "soft",
            drugs[0].id,
            stall_h,
            limit.value,
            "h",
            f"the MRI stops the pump motor for about {fmt(stall_h)} h (scan and recovery), more "
            f"than {fmt(limit.value)} h without {names(drugs)}: {wording(drugs)}; plan how the "
            "drug is given meanwhile",
            limit.source,
        )


# -- after the walk: what the replay shows ---------------------------------------------------


def attach(ck: _Checker, at: datetime) -> Event:
    """The last event at or before ``at`` (the first event if none)."""
    found = ck.events[0]
    for e in ck.events:
        if e.at <= at:
            found = e
    return found


def withdrawal_rules(ck: _Checker) -> None:
    stops_and_gaps(ck)
    reservoir_alarms(ck)
    battery(ck)
    stability_kept(ck)


def stops_and_gaps(ck: _Checker) -> None:
    """A stop (or a replacement) of a withdrawal-risk drug not followed by a program, or
    followed by one only after longer than the drug's tolerated interruption."""
    for event, drugs in ck.interruptions:
        if not drugs:
            continue
        restart = next(
            (
                e
                for e in ck.events
                if e.at >= event.at
                and e.index != event.index
                and isinstance(e, Program)
                and ck.events.index(e) > ck.events.index(event)
            ),
            None,
        )
        limits = [d.max_interruption_hours for d in drugs if d.max_interruption_hours is not None]
        limit = min(limits, key=lambda v: v.value) if limits else None
        mri = [
            e
            for e in ck.events
            if e.kind == "mri" and e.at >= event.at and (restart is None or e.at < restart.at)
        ]
        mri_text = (
            "; an MRI follows while it is stopped: the SynchroMed labeling says not to use "
            "stopped mode for a scan"
            if mri and ck.model.id.startswith("synchromed")
            else ""
        )
        what = "the pump is stopped" if event.kind == "stop" else "the pump is replaced"
        if restart is None:
            ck.add(
                event,
                "withdrawal_pump_stopped",
                "soft",
                drugs[0].id,
                None,
                None,
                "",
                f"{what} and no program restarts {names(drugs)}: {wording(drugs)}{mri_text}; "
                "restart it, or record how the drug is replaced",
                drugs[0].withdrawal_wording and (limit.source if limit else ck.lib.checks.source),
            )
            continue
        gap = hours(restart.at - event.at)
        if limit is not None and gap > limit.value * (1 + _TOL):
            ck.add(
                event,
                "withdrawal_interruption",
                "soft",
                drugs[0].id,
                gap,
                limit.value,
                "h",
                f"{what} for {fmt(gap)} h before a program restarts {names(drugs)}, more than "
                f"{fmt(limit.value)} h: {wording(drugs)}{mri_text}",
                limit.source,
            )


def reservoir_alarms(ck: _Checker) -> None:
    """The replay reaches the low-reservoir alarm or runs empty with a withdrawal-risk drug
    in the pump, before the next recorded refill or the end of the scenario."""
    seen: set[tuple[int, str]] = set()
    fills = [e for e in ck.events if isinstance(e, Fill)]
    for alarm in ck.result.alarms:
        if alarm.kind not in ("low_reservoir", "empty_reservoir"):
            continue
        mixture_then = ck.mixture_at(alarm.at)
        drugs = withdrawal_drugs(ck, mixture_then)
        if not drugs or ck.stopped_at(alarm.at):
            continue
        event = attach(ck, alarm.at)
        code = (
            "withdrawal_reservoir_empty"
            if alarm.kind == "empty_reservoir"
            else ("withdrawal_reservoir_low")
        )
        if (event.index, code) in seen:
            continue
        seen.add((event.index, code))
        nxt = next((f for f in fills if f.at > alarm.at), None)
        when = (
            f"before the next refill on {utc(nxt.at)}"
            if nxt is not None
            else "and no refill is recorded before the end of the records"
        )
        what = (
            "runs empty"
            if alarm.kind == "empty_reservoir"
            else f"reaches the low-reservoir alarm ({fmt(ck.low_alarm_ml)} mL)"
        )
        ck.add(
            event,
            code,
            "soft",
            drugs[0].id,
            None,
            None,
            "",
            f"the reservoir {what} on {utc(alarm.at)} {when}: {wording(drugs)}; "
            "book the refill earlier",
            drugs[0].low_reservoir_alarm_min_ml.source
            if drugs[0].low_reservoir_alarm_min_ml is not None
            else ck.lib.checks.source,
        )


def battery(ck: _Checker) -> None:
    """ERI or EOS reached — within the records, or already before they start — with a
    withdrawal-risk drug in the pump and no replacement after it."""
    forecast = ck.result.forecast
    for kind, when in (("eos", forecast.eos), ("eri", forecast.eri)):
        if when is None or when > ck.scenario.end:
            continue
        if any(isinstance(e, PumpReplacement) and e.at >= when for e in ck.events):
            continue
        at = max(when, ck.scenario.start)
        drugs = withdrawal_drugs(ck, ck.mixture_at(at))
        if not drugs:
            later = [m for when_, m, _s in ck.snapshots if when_ >= at]
            drugs = withdrawal_drugs(ck, later[0]) if later else []
        if not drugs:
            continue
        what = (
            "reached its elective replacement indicator (ERI)"
            if kind == "eri"
            else "reached end of service (EOS) and stopped"
        )
        ck.add(
            attach(ck, at),
            "withdrawal_battery",
            "soft",
            drugs[0].id,
            None,
            None,
            "",
            f"the pump battery {what} on {utc(when)} and no replacement is recorded: "
            f"at end of service the pump stops, and {wording(drugs)}; schedule the replacement",
            ck.model.params["eos_after_eri_days"].source
            if "eos_after_eri_days" in ck.model.params
            else ck.lib.checks.source,
        )
        return


def stability_kept(ck: _Checker) -> None:
    """What happened: a fill stayed in the pump past its stability before the next fill."""
    fills = [e for e in ck.events if isinstance(e, Fill)]
    for fill, days, why, source in ck.fill_limits:
        nxt = next((f for f in fills if f.at > fill.at), None)
        if nxt is None:
            continue
        kept = (nxt.at - fill.at).total_seconds() / _DAY_S
        if kept > days * (1 + _TOL):
            ck.add(
                nxt,
                "fill_kept_beyond_stability",
                "soft",
                None,
                kept,
                days,
                "days",
                f"the fill of {utc(fill.at)} stayed in the pump {fmt(kept)} days, beyond the "
                f"{why} of {fmt(days)} days: the patient may have received degraded drug; "
                "refill on time",
                source,
            )


def ptm_amounts(ck: _Checker, ptm: PtmSettings) -> dict[str, float]:
    return {d: ck.ptm_volume_ml * c for d, c in ck.conc.items() if c > 0}
