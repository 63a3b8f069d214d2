"""``openidds check``, ``diff`` and ``convert``: the dose checks on the command line.

Wired into :mod:`openidds.cli` with ``cli_dosing.register(sub)``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from openidds.dosing import (
    FINDINGS_FORMAT,
    ConversionError,
    Finding,
    Library,
    LibraryError,
    Report,
    amount,
    check_report,
    convert,
    load_library,
    parse_dose_text,
    ptm_boluses_per_24h,
    replay,
)
from openidds.pump import CatalogError, PtmSettings, ScenarioError, load_catalog

EXIT_OK = 0
EXIT_BLOCKED = 1
EXIT_INVALID = 2
_MARK = {"hard": "HARD", "soft": "SOFT", "info": "info"}


def register(subparsers: Any) -> None:
    """Add ``check``, ``diff`` and ``convert`` to the ``openidds`` subcommands."""
    chk = subparsers.add_parser(
        "check",
        help="check a scenario's fills, programs, boluses and PTM settings against the "
        "drug library",
        description="Judge every fill, program, bolus, priming/bridge bolus and PTM setting "
        "against the drug library, the pump catalog and the twin's replay. Exit status: 0 "
        "nothing blocks, 1 a hard finding or a soft finding without override remains, 2 the "
        "file (or the library) is invalid.",
    )
    chk.add_argument("file", help="scenario TOML file")
    _common(chk)
    chk.add_argument(
        "--json", action="store_true", help=f"print the findings as {FINDINGS_FORMAT} JSON"
    )
    chk.set_defaults(handler=_check)

    diff = subparsers.add_parser(
        "diff",
        help="show two scenario states side by side: rate, daily dose, PTM, refill, findings",
        description="Compare the state at the end of BEFORE and AFTER (for example a scenario "
        "and the same scenario with a proposed change appended). Exit status as for check, "
        "judged on AFTER.",
    )
    diff.add_argument("before", help="scenario TOML file: the current state")
    diff.add_argument("after", help="scenario TOML file: the proposed state")
    _common(diff)
    diff.set_defaults(handler=_diff)

    conv = subparsers.add_parser(
        "convert",
        help="opioid route conversion, shown as a range (never applied to a program)",
        description="Convert a daily opioid dose between oral, IV, epidural and intrathecal "
        "routes with the drug library's ratio table. The result is a range for a clinician to "
        "choose from and confirm; it is never written into a program.",
    )
    conv.add_argument("dose", help="for example '300 mg/day oral morphine'")
    conv.add_argument(
        "--to", required=True, choices=["oral", "iv", "epidural", "intrathecal"], dest="to"
    )
    conv.add_argument("--library", metavar="FILE", help="drug library file to use")
    conv.set_defaults(handler=_convert)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--library",
        metavar="FILE",
        help="drug library file instead of the bundled one (also: $OPENIDDS_DRUG_LIBRARY)",
    )
    parser.add_argument(
        "--region",
        choices=["US", "EU"],
        help="region whose label limits apply (default: the library's region_default)",
    )


def _library(args: argparse.Namespace) -> Library:
    return load_library(getattr(args, "library", None))


def _catalog_arg(args: argparse.Namespace) -> str | None:
    value = getattr(args, "catalog", None)
    return value if isinstance(value, str) else None


def _report(args: argparse.Namespace, path: str) -> Report:
    return check_report(path, _library(args), args.region, catalog=load_catalog(_catalog_arg(args)))


def _line(f: Finding) -> str:
    mark = _MARK[f.severity]
    if f.overridden:
        mark = "soft, overridden"
    when = f.at.strftime("%Y-%m-%d %H:%M UTC")
    text = f"[{mark}] event {f.event_index} ({when}) {f.code}: {f.message}"
    if f.overridden:
        text += f"\n    override reason: {f.override_reason}"
    return text + f"\n    source: {f.source}"


def _check(args: argparse.Namespace) -> int:
    try:
        report = _report(args, args.file)
    except (ScenarioError, LibraryError, CatalogError, ValueError) as exc:
        print(f"openidds: {args.file}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        out = [f"drug library {report.library_id} version {report.library_version}"]
        findings = report.worst_first()
        out += [_line(f) for f in findings] or ["no findings"]
        hard = sum(f.severity == "hard" for f in findings)
        soft = sum(f.severity == "soft" and not f.overridden for f in findings)
        verdict = "BLOCKED" if report.blocks else "OK"
        out.append(f"{verdict}: {hard} hard, {soft} soft without override, {len(findings)} total")
        sys.stdout.write("\n".join(out) + "\n")
    return EXIT_BLOCKED if report.blocks else EXIT_OK


def _state(args: argparse.Namespace, path: str) -> tuple[dict[str, str], Report]:
    report = _report(args, path)
    library = _library(args)
    # the checks' replay: a file with an overfill or a rate outside the device range is shown
    # with its hard findings, not rejected as invalid
    result = replay(path, load_catalog(_catalog_arg(args)))
    sc = result.scenario
    state: dict[str, str] = {}
    program = result.program_at_end
    reservoir = result.end_state.reservoir_ml
    conc = {
        d: (mg / reservoir if reservoir > 0 else 0.0)
        for d, mg in result.end_state.reservoir_mg.items()
    }
    if program is None:
        state["basal rate"] = "none (stopped or not programmed)"
    else:
        state["basal rate"] = (
            " / ".join(f"{r:.4g}" for r in program.rates)
            + " mL/day"
            + (f" (flex, {program.period})" if program.is_flex else "")
        )
    ptm: PtmSettings | None = None
    for event in sc.ordered_events():
        if isinstance(event, PtmSettings):
            ptm = event
    ptm_ml = 0.0
    if ptm is not None and ptm.enabled:
        # the bolus volume the twin fixed at the settings event (a dose is not recomputed)
        outcome = next(o for o in result.events if o.index == ptm.index)
        volume = outcome.volume_ml
        count = ptm_boluses_per_24h(ptm.lockout_us, ptm.max_per_24h)
        ptm_ml = (volume or 0.0) * count
        state["PTM"] = (
            f"{(volume or 0.0):.4g} mL a bolus, lockout {ptm.lockout_us / 3.6e9:.4g} h, "
            f"at most {ptm.max_per_24h} in 24 h ({count} possible)"
        )
    else:
        state["PTM"] = "off"
    mean_rate = 0.0
    if program is not None:
        period = 1440.0 if program.period != "week" else 7 * 1440.0
        starts = [(st.weekday or 0) * 1440 + st.at.hour * 60 + st.at.minute for st in program.steps]
        for i, step in enumerate(program.steps):
            nxt = starts[i + 1] if i + 1 < len(starts) else starts[0] + period
            mean_rate += step.rate_ml_per_day * (nxt - starts[i]) / period
    for d, c in sorted(conc.items()):
        drug = library.get(d)
        state[f"{d} concentration"] = amount(drug, c, "mg/mL")
        state[f"{d} daily dose"] = (
            f"{amount(drug, mean_rate * c, 'mg/day')} (mean over the program period)"
        )
        state[f"{d} with max PTM"] = amount(drug, (mean_rate + ptm_ml) * c, "mg/day")
    refill = result.forecast.recommended_refill
    state["next refill"] = refill.strftime("%Y-%m-%d %H:%M UTC") if refill else "—"
    blocking = [f for f in report.findings if f.blocks]
    state["findings"] = f"{len(report.findings)} ({len(blocking)} blocking)"
    return state, report


def _diff(args: argparse.Namespace) -> int:
    states = []
    for path in (args.before, args.after):
        try:
            states.append(_state(args, path))
        except (ScenarioError, LibraryError, CatalogError, ValueError) as exc:
            print(f"openidds: {path}: {exc}", file=sys.stderr)
            return EXIT_INVALID
    (before, _), (after, report) = states
    keys = list(dict.fromkeys([*before, *after]))
    width = max(len(k) for k in keys)
    col = max([len(v) for v in before.values()] + [6])
    lines = [f"{'':{width}}  {'BEFORE':{col}}  AFTER"]
    for key in keys:
        old, new = before.get(key, "—"), after.get(key, "—")
        flag = "  *" if old != new else ""
        lines.append(f"{key:{width}}  {old:{col}}  {new}{flag}")
    lines.append("")
    lines.append(f"findings of AFTER (drug library {report.library_id} {report.library_version}):")
    lines += [_line(f) for f in report.worst_first()] or ["no findings"]
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_BLOCKED if report.blocks else EXIT_OK


def _convert(args: argparse.Namespace) -> int:
    try:
        library = _library(args)
        value, route, drug = parse_dose_text(args.dose)
        c = convert(library, value, drug, route, args.to)
    except (ConversionError, LibraryError) as exc:
        print(f"openidds: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(
        f"{c.value_mg_per_day:.4g} mg/day {c.from_route} {c.drug} ≈ {c.default:.4g} mg/day "
        f"{c.to_route} with the default ratio; range {c.low:.4g} to {c.high:.4g} mg/day"
    )
    if not c.confirmed:
        print("UNCONFIRMED: a ratio of this conversion is derived, not stated by a source.")
    if c.to_route == "intrathecal" and (drug_limits := library.drugs.get(c.drug)):
        hard = drug_limits.daily_dose_max.hard
        if c.high > hard:
            print(
                f"WARNING: the top of the range ({c.high:.4g} mg/day) is above the hard maximum "
                f"daily dose of {hard:.4g} mg/day ({drug_limits.daily_dose_max.hard_basis})."
            )
    print(
        "Display only: NOT applied to any program. Ratios vary widely between patients; "
        "a clinician chooses and confirms the dose (start low when moving to intrathecal)."
    )
    print(f"drug library {library.id} version {library.version}; sources:")
    for source in c.sources:
        print(f"  - {source}")
    return EXIT_OK
