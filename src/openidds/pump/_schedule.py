"""Basal schedules in engine time: a constant rate, or a flex pattern on the pump's clock."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta

from ._clock import Clock

INFINITY = math.inf


@dataclass(frozen=True, slots=True)
class Step:
    """A flex step with its rate already resolved to mL/day."""

    weekday: int | None  # 0 = Monday; None in a daily pattern
    at: time
    rate_ml_per_day: float


@dataclass(frozen=True, slots=True)
class BasalProgram:
    """A basal program: one step (continuous) or a daily/weekly flex pattern."""

    period: str | None  # None (continuous), "day" or "week"
    steps: tuple[Step, ...]

    @staticmethod
    def continuous(rate_ml_per_day: float) -> BasalProgram:
        return BasalProgram(period=None, steps=(Step(None, time(0, 0), rate_ml_per_day),))

    @property
    def is_flex(self) -> bool:
        return self.period is not None

    @property
    def rates(self) -> tuple[float, ...]:
        return tuple(step.rate_ml_per_day for step in self.steps)

    def cursor(self, clock: Clock, t: float) -> RateCursor:
        if self.period is None:
            return ConstantCursor(self.steps[0].rate_ml_per_day)
        return FlexCursor(self, clock, t)


class RateCursor:
    """Walks a schedule forward in time: the rate now and the time of the next change."""

    rate: float
    next_change: float

    def advance(self, t: float) -> None:
        raise NotImplementedError

    def segments(self) -> Iterator[tuple[float, float]]:
        """From the cursor's position: (end of the constant piece, rate), forever."""
        raise NotImplementedError


class ConstantCursor(RateCursor):
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.next_change = INFINITY

    def advance(self, t: float) -> None:
        return None

    def segments(self) -> Iterator[tuple[float, float]]:
        yield INFINITY, self.rate


class FlexCursor(RateCursor):
    """A flex pattern on the wall clock, with DST handled by :meth:`Clock.wall_days`."""

    def __init__(self, program: BasalProgram, clock: Clock, t: float) -> None:
        self._program = program
        self._clock = clock
        self._weekly = program.period == "week"
        day = clock.local_date(t)
        # The rate in force at t: the last transition at or before t (look back a period).
        self.rate = program.steps[-1].rate_ml_per_day
        found = False
        look = day
        for _ in range(9):
            for when, rate in reversed(self._transitions(look)):
                if when <= t:
                    self.rate = rate
                    found = True
                    break
            if found:
                break
            look -= timedelta(days=1)
        self._day = day
        self._pending = [(w, r) for w, r in self._transitions(day) if w > t]
        self._fill()

    def _transitions(self, day: date) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        weekday = day.weekday()
        for step in self._program.steps:
            if self._weekly and step.weekday != weekday:
                continue
            out.append((self._clock.wall_days(day, step.at), step.rate_ml_per_day))
        return out

    def _fill(self) -> None:
        while not self._pending:
            self._day += timedelta(days=1)
            self._pending = self._transitions(self._day)
        self.next_change = self._pending[0][0]

    def advance(self, t: float) -> None:
        """Apply every transition at or before ``t``."""
        while self.next_change <= t:
            self.rate = self._pending.pop(0)[1]
            self._fill()

    def segments(self) -> Iterator[tuple[float, float]]:
        rate = self.rate
        pending = list(self._pending)
        day = self._day
        while True:
            while not pending:
                day += timedelta(days=1)
                pending = self._transitions(day)
            when, next_rate = pending.pop(0)
            yield when, rate
            rate = next_rate


def crossing_time(
    t0: float,
    budget: float,
    pieces: Iterator[tuple[float, float]],
    horizon: float,
) -> float | None:
    """When the running integral of a piecewise-constant rate from ``t0`` reaches ``budget``.

    ``pieces`` yields (end time, rate) of consecutive constant pieces starting at ``t0``.
    Returns ``None`` when it is not reached by ``horizon``.
    """
    if budget <= 0:
        return t0
    t = t0
    for end, rate in pieces:
        if t >= horizon:
            return None
        if end <= t:
            continue
        if rate > 0:
            need = budget / rate
            if t + need <= end:
                result = t + need
                return result if result <= horizon else None
            budget -= rate * (end - t)
        t = end
    return None


def scaled(
    pieces: Iterator[tuple[float, float]], factor: float, add: float
) -> Iterator[tuple[float, float]]:
    """The same pieces with rate × factor + add."""
    for end, rate in pieces:
        yield end, rate * factor + add


def delayed(
    pieces: Iterator[tuple[float, float]], until: float, rate_before: float
) -> Iterator[tuple[float, float]]:
    """A piece of ``rate_before`` up to ``until``, then ``pieces`` from there on."""
    yield until, rate_before
    for end, rate in pieces:
        if end > until:
            yield end, rate


def pattern_rates(steps: Sequence[Step]) -> list[float]:
    return [step.rate_ml_per_day for step in steps]
