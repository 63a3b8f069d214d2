"""Hypothesis strategies: random, valid pump scenarios as dicts (the TOML document's shape).

``scenarios()`` draws a scenario dict that ``openidds.pump.parse_scenario`` accepts (instants
are aware ``datetime`` values, as ``tomllib`` gives them). It is valid by construction where
that can be decided without replaying the pump:

* fills stay within the capacity (``residual_left_ml + volume_ml``), a first fill (in time)
  has no residual and no ``aspirated_ml``;
* plain rates lie inside the model's [min, max] (with a margin, so that no 1e-9 tolerance
  decides), flex programs have at most the model's steps, in increasing order;
* boluses, PTM and priming boluses stay below the model's maximum bolus rate;
* a ``dose`` (program, flex step, bolus, PTM) names a drug that the generator's own
  mixture tracking says is in the reservoir at that instant, with an amount that turns into
  a rate/volume inside the limits;
* a ``bridge_bolus`` only follows a fill made while the generator believes a program was in
  force (see :func:`scenarios` for the one case the tracking misses; tests then
  ``assume(False)`` on the ``ScenarioError``).

With ``minute_grid=True`` every instant and duration is a whole number of minutes after the
start (and the priming bolus always has an explicit duration), so that a fixed one-minute
step hits every input discontinuity (used by the brute-force reference comparison).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

MODELS = ("synchromed2-20", "synchromed2-40", "prometra2-20", "prometra2-40")
TIMEZONES = ("UTC", "Europe/Berlin", "America/New_York")

# DST transitions (UTC instants) of the zones above, 2025-2027: scenarios sometimes start
# a few days before one so that flex steps and daily rows cross it.
DST_TRANSITIONS: dict[str, tuple[datetime, ...]] = {
    "Europe/Berlin": tuple(
        datetime(y, m, d, 1, tzinfo=UTC)
        for (y, m, d) in (
            (2025, 3, 30),
            (2025, 10, 26),
            (2026, 3, 29),
            (2026, 10, 25),
            (2027, 3, 28),
            (2027, 10, 31),
        )
    ),
    "America/New_York": (
        datetime(2025, 3, 9, 7, tzinfo=UTC),
        datetime(2025, 11, 2, 6, tzinfo=UTC),
        datetime(2026, 3, 8, 7, tzinfo=UTC),
        datetime(2026, 11, 1, 6, tzinfo=UTC),
        datetime(2027, 3, 14, 7, tzinfo=UTC),
        datetime(2027, 11, 7, 6, tzinfo=UTC),
    ),
}

# Drug id -> (unit written in the file, factor to mg/mL, concentrations in that unit).
DRUGS: dict[str, tuple[str, float, tuple[float, ...]]] = {
    "morphine": ("mg/mL", 1.0, (1.0, 2.0, 5.0, 10.0, 20.0, 25.0, 50.0)),
    "hydromorphone": ("mg/mL", 1.0, (1.0, 2.0, 10.0)),
    "baclofen": ("mcg/mL", 1e-3, (500.0, 1000.0, 2000.0)),
    "ziconotide": ("mcg/mL", 1e-3, (25.0, 100.0)),
    "bupivacaine": ("mg/mL", 1.0, (2.5, 5.0, 7.5)),
    "clonidine": ("ug/mL", 1e-3, (100.0, 500.0)),
}

_CATALOG_PATH = Path(__file__).resolve().parents[2] / "src/openidds/pump/data/catalog.toml"


@dataclass(frozen=True)
class Limits:
    """The catalog numbers the generator needs (read from the catalog data file)."""

    model: str
    capacity_ml: float
    min_rate: float
    max_rate: float
    max_bolus_rate: float
    priming_rate: float
    max_flex_steps: int
    fluid_path_ml: float
    low_reservoir_alarm_ml: float


def _load_limits() -> dict[str, Limits]:
    data = tomllib.loads(_CATALOG_PATH.read_text(encoding="utf-8"))
    out: dict[str, Limits] = {}
    for model in MODELS:
        p = {k: v["value"] for k, v in data["models"][model].items() if isinstance(v, dict)}
        out[model] = Limits(
            model=model,
            capacity_ml=float(p["capacity_ml"]),
            min_rate=float(p["min_rate_ml_per_day"]),
            max_rate=float(p["max_rate_ml_per_day"]),
            max_bolus_rate=float(p["max_bolus_rate_ml_per_day"]),
            priming_rate=float(p["priming_bolus_rate_ml_per_day"]),
            max_flex_steps=int(p["max_flex_steps"]),
            fluid_path_ml=float(p["fluid_path_ml"]),
            low_reservoir_alarm_ml=float(p["low_reservoir_alarm_ml"]),
        )
    return out


LIMITS = _load_limits()


# ---------------------------------------------------------------------------------------
# Small pieces


def _iso_duration(seconds: int) -> str:
    """An ISO 8601 duration for a whole number of seconds (``PT0S``, ``P1DT2H3M4S``)."""
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    out = "P"
    if days:
        out += f"{days}D"
    time_part = ""
    if hours:
        time_part += f"{hours}H"
    if minutes:
        time_part += f"{minutes}M"
    if secs or (not days and not time_part):
        time_part += f"{secs}S"
    if time_part:
        out += "T" + time_part
    return out


def _seconds_of(duration: str) -> int:
    """Seconds of a duration written by :func:`_iso_duration`."""
    total = 0
    for number, unit in re.findall(r"(\d+)([DHMS])", duration):
        total += int(number) * {"D": 86_400, "H": 3_600, "M": 60, "S": 1}[unit]
    return total


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def _fmt(x: float) -> str:
    return repr(float(x))


@dataclass
class _Mixture:
    """The generator's own view of the reservoir mixture (concentrations change at fills)."""

    filled: bool = False
    conc: dict[str, float] = field(default_factory=dict)  # mg/mL

    def present(self) -> list[str]:
        return sorted(d for d, c in self.conc.items() if c > 0)


@st.composite
def _rate(draw: st.DrawFn, lim: Limits) -> float:
    """A basal rate safely inside [min, max], mostly clinical (< 2 mL/day)."""
    lo, hi = lim.min_rate * 1.001, lim.max_rate * 0.999
    return draw(
        st.one_of(
            _floats(lo, min(2.0, hi)),
            _floats(lo, min(2.0, hi)),
            _floats(lo, hi),
            st.sampled_from([lo, 0.1, 0.25, 0.5, 1.0, hi]),
        )
    )


@st.composite
def _rate_or_dose(draw: st.DrawFn, lim: Limits, mix: _Mixture, allow_dose: bool) -> dict[str, Any]:
    rate = draw(_rate(lim))
    drugs = mix.present()
    if allow_dose and drugs and draw(st.integers(0, 2)) == 0:
        drug = draw(st.sampled_from(drugs))
        mg_per_day = rate * mix.conc[drug]
        unit = draw(st.sampled_from(["mg/day", "mcg/day", "mg/h"]))
        value = {"mg/day": mg_per_day, "mcg/day": mg_per_day * 1e3, "mg/h": mg_per_day / 24}[unit]
        return {"dose": {drug: f"{_fmt(value)} {unit}"}}
    return {"rate_ml_per_day": rate}


@st.composite
def _volume_duration(
    draw: st.DrawFn, lim: Limits, minute_grid: bool, max_minutes: int = 240, coarse: int = 1
) -> tuple[float, int]:
    """A bolus volume (mL) and duration (s) whose rate is below the maximum bolus rate."""
    minutes = coarse * draw(st.integers(1, max(1, max_minutes // coarse)))
    seconds = minutes * 60
    if not minute_grid and draw(st.booleans()):
        seconds += draw(st.integers(-59, 59))
    top = lim.max_bolus_rate * seconds / 86_400 * 0.999
    volume = draw(_floats(min(0.001, top), min(top, 1.5)))
    return volume, seconds


@st.composite
def _bolus_fields(
    draw: st.DrawFn,
    lim: Limits,
    mix: _Mixture,
    minute_grid: bool,
    allow_dose: bool,
    coarse: int = 1,
) -> dict[str, Any]:
    volume, seconds = draw(_volume_duration(lim, minute_grid, coarse=coarse))
    out: dict[str, Any] = {"duration": _iso_duration(seconds)}
    drugs = mix.present()
    if allow_dose and drugs and draw(st.booleans()):
        drug = draw(st.sampled_from(drugs))
        mg = volume * mix.conc[drug]
        if draw(st.booleans()):
            out["dose"] = {drug: f"{_fmt(mg)} mg"}
        else:
            out["dose"] = {drug: f"{_fmt(mg * 1e3)} mcg"}
    else:
        out["volume_ml"] = volume
    return out


@st.composite
def _flex_fields(
    draw: st.DrawFn, lim: Limits, mix: _Mixture, allow_dose: bool, minute_grid: bool
) -> dict[str, Any]:
    period = draw(st.sampled_from(["day", "week"]))
    n = draw(st.integers(1, lim.max_flex_steps))
    # Minutes within the period; DST-relevant wall times (01:xx, 02:xx) are favoured.
    span = 1_440 if period == "day" else 7 * 1_440
    favoured = [60, 90, 120, 150, 179, 180, 0, 30]
    if period == "week":
        favoured = [d * 1_440 + m for d in range(7) for m in (0, 90, 150, 480)]
    # Duplicates are dropped (no unique-list filter: it makes Hypothesis retry and abort).
    starts = sorted(
        set(
            draw(
                st.lists(
                    st.one_of(st.integers(0, span - 1), st.sampled_from(favoured)),
                    min_size=n,
                    max_size=n,
                )
            )
        )
    )
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    steps = []
    for m in starts:
        day, minute = divmod(m, 1_440)
        hhmm = f"{minute // 60:02d}:{minute % 60:02d}"
        start = hhmm if period == "day" else f"{days[day]} {hhmm}"
        steps.append({"start": start, **draw(_rate_or_dose(lim, mix, allow_dose))})
    return {"mode": "flex", "period": period, "steps": steps}


# ---------------------------------------------------------------------------------------
# The scenario


@dataclass
class _Item:
    t: int  # seconds after start
    seq: int  # generation order: file order among events at one instant
    kind: str
    fields: dict[str, Any] = field(default_factory=dict)


KINDS = (
    "fill",
    "program",
    "stop",
    "bolus",
    "priming_bolus",
    "bridge_bolus",
    "ptm_settings",
    "ptm_request",
    "mri",
)


@st.composite
def scenarios(
    draw: st.DrawFn,
    *,
    max_days: int = 60,
    min_days: int = 1,
    max_events: int = 18,
    minute_grid: bool = False,
    battery: bool = True,
    allow_dose: bool = True,
    allow_bridge: bool = True,
    shuffle: bool = True,
    models: tuple[str, ...] = MODELS,
    timezones: tuple[str, ...] = TIMEZONES,
    explicit_priming_duration: bool | None = None,
    coarse_minutes: int | None = None,
) -> dict[str, Any]:
    """A random scenario dict (see the module docstring).

    ``explicit_priming_duration`` (default: ``minute_grid``): every priming bolus gets a
    ``duration`` (the default one, volume / priming rate, is rarely a whole step).
    ``coarse_minutes``: every instant and duration a multiple of that many minutes (implies
    ``minute_grid``), so that events often coincide with each other and with the ends of
    windows, stalls and lockouts.
    ``battery``: sometimes add a ``[pump.battery]`` table short enough that ERI and EOS fall
    inside the replay. ``shuffle``: write events at distinct instants in a random file order
    (the spec applies events in time order; at one instant, in file order).

    The generator cannot foresee one replay-dependent case: a program given while a priming
    or bridge bolus runs is pending (not in force), so a fill then sees a zero basal rate
    after a ``stop`` and a later ``bridge_bolus`` is an error. Tests ``assume(False)`` then.
    """
    coarse = coarse_minutes or 1
    if coarse_minutes:
        minute_grid = True

    def snap(minutes: int) -> int:
        return coarse * round(minutes / coarse)

    model = draw(st.sampled_from(models))
    lim = LIMITS[model]
    tz = draw(st.sampled_from(timezones))
    days = draw(st.integers(min_days, max_days))
    span_s = days * 86_400
    if minute_grid:
        if draw(st.booleans()):
            span_s -= 60 * draw(st.integers(0, 1_439))
        span_s = max(span_s, 3_600)
    elif draw(st.booleans()):
        span_s -= draw(st.integers(0, 86_399))
        span_s = max(span_s, 3_600)

    # Start: any minute (or second) in 2025-2027, or a few days before a DST change.
    if tz in DST_TRANSITIONS and draw(st.integers(0, 2)) == 0:
        transition = draw(st.sampled_from(DST_TRANSITIONS[tz]))
        start = transition - timedelta(minutes=draw(st.integers(0, min(days, 6) * 1_440)))
    else:
        start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(
            minutes=draw(st.integers(0, 3 * 365 * 1_440))
        )
    if not minute_grid and draw(st.integers(0, 3)) == 0:
        start += timedelta(seconds=draw(st.integers(1, 59)))
    end = start + timedelta(seconds=span_s)

    pump: dict[str, Any] = {"model": model}
    path = lim.fluid_path_ml
    if draw(st.booleans()):
        path = draw(st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0]) | _floats(0.01, 1.5))
        pump["fluid_path_ml"] = path
    if draw(st.booleans()):
        pump["fluid_path_initial"] = draw(st.sampled_from(["no-drug", "primed"]))
    if draw(st.integers(0, 3)) == 0:
        pump["low_reservoir_alarm_ml"] = draw(st.sampled_from([0.0, 1.0, 4.0]) | _floats(0, 8))
    if draw(st.integers(0, 4)) == 0:
        pump["refill_discrepancy_ml"] = draw(_floats(0.1, 5.0))
    if draw(st.integers(0, 5)) == 0:
        pump["accuracy"] = draw(_floats(0.0, 0.3))
    if battery and draw(st.integers(0, 3)) == 0:
        # Left at the start: short enough that ERI (and often EOS) fall inside the replay.
        # A battery started earlier has its earlier days and pumping added to B0, so that
        # ERI is never before the start (when it is, its instant is the twin's estimate).
        k = draw(st.sampled_from([0.0, 0.4]) | _floats(0.0, 3.0))
        left = draw(_floats(0.5, days * 1.2))
        bt: dict[str, Any] = {
            "days_per_ml": k,
            "eos_after_eri_days": draw(st.sampled_from([0.0, 1.0]) | _floats(0.0, days)),
        }
        choice = draw(st.integers(0, 2))
        earlier_days, before_ml = 0.0, 0.0
        if choice == 1:
            bt["started"] = start
        elif choice == 2:
            earlier_days = draw(st.integers(0, 30 * 24)) / 24
            bt["started"] = start - timedelta(days=earlier_days)
            if draw(st.booleans()):
                before_ml = draw(_floats(0.0, 20.0))
                bt["pumped_ml_before_start"] = before_ml
        bt["days_to_eri_at_zero_flow"] = left + earlier_days + k * before_ml
        pump["battery"] = bt

    # Pass 1: a skeleton of (instant, kind), with some typical clinical groups.
    def instant() -> int:
        if minute_grid:
            return 60 * coarse * draw(st.integers(0, span_s // 60 // coarse))
        return draw(
            st.one_of(
                st.integers(0, span_s),
                st.integers(0, span_s // 60).map(lambda m: m * 60),
            )
        )

    items: list[_Item] = []
    seq = 0

    def add(t: int, kind: str, **fields: Any) -> None:
        nonlocal seq
        if 0 <= t <= span_s:
            items.append(_Item(t, seq, kind, dict(fields)))
            seq += 1

    opener = draw(st.sampled_from(["implant", "implant", "fill_program", "fill_only", "none"]))
    t0 = 0 if draw(st.booleans()) else instant() // 8 // 60 * 60
    if opener == "implant":
        add(t0, "fill")
        add(t0, "priming_bolus")
        add(t0, "program")
    elif opener == "fill_program":
        add(t0, "fill")
        add(t0, "program")
    elif opener == "fill_only":
        add(t0, "fill")

    n_slots = draw(st.integers(0, max_events))
    for _ in range(n_slots):
        kind = draw(
            st.sampled_from(
                [
                    "fill",
                    "refill_bridge",
                    "program",
                    "program",
                    "stop",
                    "bolus",
                    "priming_bolus",
                    "bridge_bolus",
                    "ptm_settings",
                    "ptm_burst",
                    "ptm_request",
                    "mri",
                    "mri_pair",
                    "empty_soon",
                ]
            )
        )
        t = instant()
        if kind == "refill_bridge":
            add(t, "fill")
            if draw(st.booleans()):
                add(t, "program")
                add(t, "bridge_bolus")
            else:
                add(t, "bridge_bolus")
                add(t, "program")
        elif kind == "ptm_burst":
            add(t, "ptm_settings")
            tt = t
            for _ in range(draw(st.integers(1, 8))):
                tt += 60 * snap(draw(st.sampled_from([0, 1, 15, 30, 60, 180, 240, 600, 1_440])))
                if not minute_grid and draw(st.booleans()):
                    tt += draw(st.integers(0, 59))
                add(tt, "ptm_request")
        elif kind == "mri_pair":
            add(t, "mri")
            add(t + 60 * snap(draw(st.integers(0, 180))), "mri")
        elif kind == "empty_soon":
            # A small refill and a fast program: the reservoir runs dry in the replay.
            add(t, "fill", small=True)
            add(t, "program", fast=True)
        else:
            add(t, kind)

    # Pass 2: in replay order, fill in the fields that depend on the state.
    items.sort(key=lambda it: (it.t, it.seq))
    mix = _Mixture()
    # When the last program given takes effect (None: no program in force, e.g. after a
    # stop). A program given during a priming bolus is pending until the bolus ends; one
    # given during a bridge bolus until an instant the generator does not compute (inf).
    in_force_from: float | None = None
    priming_until = -1.0
    bridge_running = False
    rate_at_fill_positive = False
    any_fill = False
    events: list[tuple[int, int, dict[str, Any]]] = []
    for it in items:
        ev: dict[str, Any] = {"kind": it.kind}
        if it.kind == "fill":
            first = not mix.filled
            drugs = draw(
                st.lists(st.sampled_from(sorted(DRUGS)), min_size=1, max_size=2, unique=True)
            )
            if not first and mix.present() and draw(st.booleans()):
                drugs = mix.present()[:2]  # usually a refill with the same drug(s)
            new: dict[str, float] = {}
            written: dict[str, str] = {}
            for d in drugs:
                unit, factor, options = DRUGS[d]
                value = draw(st.sampled_from(options))
                new[d] = value * factor
                written[d] = f"{_fmt(value)} {unit}"
            residual = 0.0
            if not first and draw(st.integers(0, 2)) == 0:
                residual = draw(st.sampled_from([0.5, 1.0, 2.0]) | _floats(0.0, 3.0))
            room = lim.capacity_ml - residual
            if it.fields.get("small"):
                volume = draw(_floats(0.5, 3.0))
            else:
                volume = draw(
                    st.one_of(_floats(0.5, room), st.sampled_from([room, min(room, 10.0)]))
                )
            ev.update(volume_ml=volume, drugs=written)
            if residual or draw(st.integers(0, 3)) == 0:
                ev["residual_left_ml"] = residual
            if not first and draw(st.booleans()):
                ev["aspirated_ml"] = draw(st.sampled_from([0.0]) | _floats(0.0, lim.capacity_ml))
            if draw(st.integers(0, 3)) == 0:
                ev["stability_days"] = draw(st.integers(1, 180))
            total = residual + volume
            old = mix.conc if not first else {}
            mix.conc = {
                d: (residual * old.get(d, 0.0) + volume * new.get(d, 0.0)) / total
                for d in set(old) | set(new)
            }
            mix.filled = True
            any_fill = True
            rate_at_fill_positive = in_force_from is not None and in_force_from <= it.t
        elif it.kind == "program":
            if it.fields.get("fast"):
                ev.update(mode="continuous", rate_ml_per_day=lim.max_rate * 0.999)
            elif draw(st.integers(0, 2)) == 0:
                ev.update(draw(_flex_fields(lim, mix, allow_dose, minute_grid)))
            else:
                ev.update(mode="continuous", **draw(_rate_or_dose(lim, mix, allow_dose)))
            if in_force_from is None or in_force_from > it.t:
                if priming_until > it.t:
                    in_force_from = priming_until
                elif bridge_running:
                    in_force_from = float("inf")
                else:
                    in_force_from = it.t
        elif it.kind == "stop":
            in_force_from = None
            priming_until = -1.0
            bridge_running = False
        elif it.kind == "bolus":
            ev.update(draw(_bolus_fields(lim, mix, minute_grid, allow_dose, coarse)))
        elif it.kind == "priming_bolus":
            choice = draw(st.integers(0, 3))
            explicit = (
                minute_grid if explicit_priming_duration is None else explicit_priming_duration
            )
            if explicit and choice in (0, 1):
                choice += 2  # the default duration is rarely a whole number of minutes
            if choice == 1:
                top = lim.capacity_ml / 10
                ev["volume_ml"] = draw(_floats(0.01, top))
            elif choice >= 2:
                volume, seconds = draw(
                    _volume_duration(lim, minute_grid, max_minutes=120, coarse=coarse)
                )
                ev["duration"] = _iso_duration(seconds)
                if choice == 3 or path <= 0:
                    ev["volume_ml"] = volume
                elif path > lim.max_bolus_rate * seconds / 86_400 * 0.999:
                    ev["volume_ml"] = volume  # the default (path) volume is too fast
            volume = ev.get("volume_ml", path)
            if "duration" in ev:
                seconds = _seconds_of(ev["duration"])
            else:
                seconds = volume / lim.priming_rate * 86_400
            if volume > 0 and seconds > 0:
                priming_until = it.t + seconds
                bridge_running = False
        elif it.kind == "bridge_bolus":
            if not (allow_bridge and any_fill and rate_at_fill_positive):
                continue
            priming_until = -1.0
            bridge_running = path > 0
        elif it.kind == "ptm_settings":
            if draw(st.integers(0, 6)) == 0:
                ev["enabled"] = False
            else:
                ev.update(draw(_bolus_fields(lim, mix, minute_grid, allow_dose, coarse)))
                lock = snap(draw(st.sampled_from([0, 15, 60, 180, 240]) | st.integers(0, 720))) * 60
                if not minute_grid and draw(st.booleans()):
                    lock += draw(st.integers(0, 59))
                ev["lockout"] = _iso_duration(lock)
                ev["max_per_24h"] = draw(st.integers(1, 12))
                if draw(st.integers(0, 5)) == 0:
                    ev["enabled"] = draw(st.booleans())
        elif it.kind == "mri":
            dur = 60 * snap(draw(st.sampled_from([0, 20, 45, 90]) | st.integers(1, 240)))
            ev["duration"] = _iso_duration(dur)
            if draw(st.booleans()):
                rec = 60 * snap(draw(st.sampled_from([0, 120, 1_440]) | st.integers(0, 1_440)))
                ev["recovery"] = _iso_duration(rec)
        events.append((it.t, it.seq, ev))

    # File order: events at one instant keep their order; distinct instants may be shuffled.
    instants = sorted({t for t, _, _ in events})
    rank = {t: i for i, t in enumerate(instants)}
    if shuffle and draw(st.booleans()):
        perm = draw(st.permutations(instants))
        rank = {t: i for i, t in enumerate(perm)}
    events.sort(key=lambda e: (rank[e[0]], e[1]))

    offset = None
    if draw(st.integers(0, 4)) == 0:
        offset = timezone(timedelta(hours=draw(st.sampled_from([-5, 1, 2, 9]))))

    def at(seconds: int) -> datetime:
        moment = start + timedelta(seconds=seconds)
        return moment.astimezone(offset) if offset is not None else moment

    return {
        "scenario": {
            "name": "random",
            "start": start,
            "end": end,
            "timezone": tz,
        },
        "pump": pump,
        "event": [{"at": at(t), **ev} for t, _, ev in events],
    }


def describe(data: dict[str, Any]) -> str:
    """A compact text form of a scenario dict, for ``hypothesis.note``."""
    lines = [f"scenario {data['scenario']}", f"pump {data['pump']}"]
    for i, ev in enumerate(data["event"]):
        at = ev["at"].astimezone(UTC).isoformat()
        rest = {k: v for k, v in ev.items() if k not in ("at", "kind")}
        lines.append(f"  [{i}] {at} {ev['kind']} {rest}")
    return "\n".join(lines)
