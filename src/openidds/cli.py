"""The ``openidds`` command line: simulate scenarios, browse the pump catalog, run the web app."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime, tzinfo

from openidds import __version__, cli_dosing
from openidds.pump import (
    Catalog,
    CatalogError,
    ScenarioError,
    SimulationResult,
    load_catalog,
    load_scenario,
    simulate,
)
from openidds.web import cli as web_cli

EXIT_OK = 0
EXIT_INVALID = 2
_DAILY_ROWS_SHOWN = 62


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_OK
    try:
        return int(args.handler(args))
    except CatalogError as exc:
        print(f"openidds: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except BrokenPipeError:
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openidds",
        description="OpenIDDS: an exact digital twin of implanted intrathecal drug pumps, "
        "and dose-error checks of every program change.",
    )
    parser.add_argument("--version", action="version", version=f"openidds {__version__}")
    parser.add_argument(
        "--catalog",
        metavar="FILE",
        help="pump catalog file to use instead of the bundled one (also: $OPENIDDS_PUMP_CATALOG)",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    cli_dosing.register(sub)
    web_cli.register(sub)

    sim = sub.add_parser(
        "simulate",
        help="replay a scenario file and forecast",
        description="Replay a scenario (shared/spec/scenario-v1.md) exactly and print what the "
        "patient received, every alarm and the forecast. Invalid files exit with status 2 and "
        "the reason (event, time, field) on stderr.",
    )
    sim.add_argument("file", help="scenario TOML file")
    sim.add_argument(
        "--json",
        action="store_true",
        help="print the Result of the spec (format openidds.result/1) on stdout",
    )
    sim.add_argument(
        "--plot",
        metavar="OUT",
        help="also draw reservoir volume, daily dose per drug and alarms to "
        "OUT.png or OUT.html (self-contained, works offline)",
    )
    sim.add_argument(
        "--daily",
        action="store_true",
        help=f"print every day (by default long replays show the first "
        f"{_DAILY_ROWS_SHOWN // 2} and last {_DAILY_ROWS_SHOWN // 2} days)",
    )
    sim.set_defaults(handler=_simulate)

    pumps = sub.add_parser(
        "pumps",
        help="list the pump catalog; 'pumps show ID' for one model",
        description="The device catalog: every number with its source; UNCONFIRMED marks "
        "values that no source confirms.",
    )
    pumps_sub = pumps.add_subparsers(title="commands", metavar="COMMAND")
    show = pumps_sub.add_parser("show", help="one model, every parameter with its source")
    show.add_argument("model", help="model id, e.g. synchromed2-40")
    show.set_defaults(handler=_pumps_show)
    pumps.set_defaults(handler=_pumps_list)
    return parser


def _catalog(args: argparse.Namespace) -> Catalog:
    return load_catalog(args.catalog)


# -- simulate ------------------------------------------------------------------------------


def _simulate(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    try:
        scenario = load_scenario(args.file, catalog=catalog)
        result = simulate(scenario)
    except ScenarioError as exc:
        print(f"openidds: {args.file}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    for warning in result.warnings:
        print(f"openidds: warning: {warning}", file=sys.stderr)
    if args.plot:
        from openidds.plotting import write_plot

        try:
            out = write_plot(result, args.plot)
        except (ValueError, OSError) as exc:
            print(f"openidds: {exc}", file=sys.stderr)
            return EXIT_INVALID
        print(f"openidds: plot written to {out}", file=sys.stderr)
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(summary(result, all_days=args.daily))
    return EXIT_OK


def _when(at: datetime | None, tz: tzinfo) -> str:
    if at is None:
        return "—"
    local = at.astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or "")


def _mg(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.3f}"
    return f"{value:.4g}"


def _ml(value: float) -> str:
    return f"{value:.3f}"


def _event_text(result: SimulationResult, index: int) -> str:
    raw = result.scenario.events[index].raw
    outcome = next(o for o in result.events if o.index == index)
    kind = outcome.kind
    if kind == "fill":
        drugs = ", ".join(f"{d} {c}" for d, c in raw["drugs"].items())
        text = f"{raw['volume_ml']:g} mL of {drugs}; expected {_ml(outcome.expected_ml or 0)} mL"
        if outcome.discrepancy_ml is not None:
            text += (
                f", aspirated {raw['aspirated_ml']:g} mL, "
                f"discrepancy {outcome.discrepancy_ml:+.3f} mL"
            )
        if raw.get("residual_left_ml"):
            text += f", {raw['residual_left_ml']:g} mL left in"
        return text
    if kind == "program":
        if raw.get("mode") == "flex":
            return f"flex by {raw.get('period')}, {len(raw.get('steps', []))} steps"
        if "dose" in raw:
            ((drug, dose),) = raw["dose"].items()
            return f"continuous {drug} {dose}"
        return f"continuous {raw['rate_ml_per_day']:g} mL/day"
    if kind == "ptm_request":
        return "granted" if outcome.granted else f"denied ({outcome.reason})"
    if kind in ("bolus", "priming_bolus", "bridge_bolus") and outcome.volume_ml is not None:
        return f"{outcome.volume_ml:.4g} mL"
    if kind == "ptm_settings":
        if raw.get("enabled", True) is False:
            return "PTM disabled"
        return (
            f"{outcome.volume_ml or 0:.4g} mL over {raw.get('duration')}, lockout "
            f"{raw.get('lockout')}, at most {raw.get('max_per_24h')} per 24 h"
        )
    if kind == "mri":
        return f"scan {raw.get('duration')}, recovery {raw.get('recovery', 'PT0S')}"
    return ""


def summary(result: SimulationResult, *, all_days: bool = False) -> str:
    """The human-readable report of a replay."""
    sc = result.scenario
    tz = sc.timezone
    model = sc.pump.model
    lines: list[str] = []
    span_days = (sc.end - sc.start).total_seconds() / 86_400
    lines.append(sc.name or "(unnamed scenario)")
    lines.append(
        f"  {_when(sc.start, tz)} to {_when(sc.end, tz)} ({span_days:g} days), "
        f"pump clock {sc.timezone_name}"
    )
    lines.append(
        f"  Pump: {model.name} [{model.id}], capacity {model.capacity_ml:g} mL, "
        f"fluid path {sc.pump.fluid_path_ml:g} mL ({sc.pump.fluid_path_initial}), "
        f"low-reservoir alarm at {sc.pump.low_reservoir_alarm_ml:g} mL"
    )
    if model.unconfirmed:
        lines.append(
            f"  Catalog values not confirmed by a source: {', '.join(model.unconfirmed)}"
            " (openidds pumps show " + model.id + ")"
        )
    lines.append("")
    lines.append(f"Events ({len(result.events)})")
    for outcome in result.events:
        lines.append(
            f"  #{outcome.index:<3} {_when(outcome.at, tz):<22} {outcome.kind:<14} "
            f"{_event_text(result, outcome.index)}"
        )
    lines.append("")
    lines.append(f"Alarms ({len(result.alarms)})")
    if not result.alarms:
        lines.append("  none")
    for alarm in result.alarms:
        lines.append(f"  {_when(alarm.at, tz):<22} {alarm.kind}")
    lines.append("")
    drugs = list(result.drugs)
    lines.append(f"Daily doses ({sc.timezone_name} calendar days; first and last may be partial)")
    header = f"  {'date':<10}  {'pumped mL':>10}" + "".join(f"  {d + ' mg':>14}" for d in drugs)
    lines.append(header)
    rows = result.daily
    half = _DAILY_ROWS_SHOWN // 2
    shown = rows if all_days or len(rows) <= _DAILY_ROWS_SHOWN else rows[:half] + rows[-half:]
    for i, row in enumerate(shown):
        if not all_days and len(rows) > _DAILY_ROWS_SHOWN and i == half:
            lines.append(f"  … {len(rows) - 2 * half} more days (--daily prints every day)")
        lines.append(
            f"  {row.date.isoformat():<10}  {_ml(row.pumped_ml):>10}"
            + "".join(f"  {_mg(row.delivered_mg[d]):>14}" for d in drugs)
        )
    lines.append("")
    t = result.totals
    lines.append("Totals")
    lines.append(
        f"  pumped {_ml(t.pumped_ml)} mL; delivered "
        + (", ".join(f"{d} {_mg(t.delivered_mg[d])} mg" for d in drugs) or "nothing")
    )
    if abs(t.unaccounted_ml) > 1e-9:
        lines.append(
            f"  unaccounted {t.unaccounted_ml:+.3f} mL ("
            + ", ".join(f"{d} {_mg(t.unaccounted_mg[d])} mg" for d in drugs)
            + "): measured at refills, not what the twin expected"
        )
    e = result.end_state
    lines.append(
        f"  at the end: reservoir {_ml(e.reservoir_ml)} mL"
        + "".join(f", {d} {_mg(e.reservoir_mg[d])} mg" for d in drugs)
    )
    lines.append("")
    f = result.forecast
    lines.append(
        f"Forecast from {_when(sc.end, tz)} (program in force; accuracy "
        f"±{sc.pump.accuracy * 100:g} %"
        + (f", PTM up to {f.ptm_ml_per_day:.4g} mL/day in 'earliest'" if f.ptm_ml_per_day else "")
        + ")"
    )
    lines.append(f"  {'':<22}{'nominal':<23}{'earliest':<23}{'latest':<23}")
    for label, band in (("low-reservoir alarm", f.low_reservoir_alarm), ("empty", f.empty)):
        lines.append(
            f"  {label:<22}{_when(band.nominal, tz):<23}{_when(band.earliest, tz):<23}"
            f"{_when(band.latest, tz):<23}"
        )
    lines.append(f"  {'recommended refill':<22}{_when(f.recommended_refill, tz)}")
    if model.has_battery:
        lines.append(f"  {'battery ERI':<22}{_when(f.eri, tz)}")
        lines.append(f"  {'battery EOS (stops)':<22}{_when(f.eos, tz)}")
    return "\n".join(lines) + "\n"


# -- pumps ---------------------------------------------------------------------------------


def _pumps_list(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    print(f"Pump catalog {catalog.id} version {catalog.version} ({catalog.path})")
    print(f"{'id':<16} {'drive':<14} {'capacity':>9} {'rate range mL/day':>20}  name")
    for model in catalog.models.values():
        rate = f"{model.min_rate_ml_per_day:g}–{model.max_rate_ml_per_day:g}"
        flag = "" if not model.unconfirmed else f"  ({len(model.unconfirmed)} unconfirmed)"
        print(
            f"{model.id:<16} {model.drive:<14} {model.capacity_ml:>6g} mL {rate:>20}  "
            f"{model.name}{flag}"
        )
    print("\n'openidds pumps show ID' lists every value with its source.")
    return EXIT_OK


def _pumps_show(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    try:
        model = catalog.get(args.model)
    except KeyError as exc:
        print(f"openidds: {exc.args[0]}", file=sys.stderr)
        return EXIT_INVALID
    print(f"{model.name} [{model.id}]")
    print(f"  manufacturer: {model.manufacturer}; drive: {model.drive}")
    print(f"  catalog: {catalog.id} version {catalog.version}")
    if model.mri:
        print(f"  MRI: {model.mri}")
    print()
    for name, param in model.params.items():
        value = param.value
        shown = ", ".join(f"{v:g}" for v in value) if isinstance(value, tuple) else f"{value}"
        status = "confirmed" if param.confirmed else "UNCONFIRMED"
        print(f"  {name:<32} {shown:<14} {status}")
        print(f"      source: {param.source}")
        if param.note:
            print(f"      note: {param.note}")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = ["main", "summary"]
