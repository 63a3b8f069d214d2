"""Instants and the pump's wall clock.

The engine counts time in float days since the scenario start. Instants from the file are
kept as integer microseconds since the Unix epoch so that comparisons between input times
(PTM lockout, 24 h window, events at one instant) are exact.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from ._units import MICROSECONDS_PER_DAY, MICROSECONDS_PER_SECOND

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us(at: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact)."""
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICROSECONDS_PER_SECOND + delta.microseconds


def from_epoch_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def iso_utc(at: datetime | None) -> str | None:
    """``2026-03-18T00:00:00Z``: UTC, to the second (rounded to the nearest second)."""
    if at is None:
        return None
    us = epoch_us(at)
    seconds = (us + MICROSECONDS_PER_SECOND // 2) // MICROSECONDS_PER_SECOND
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock:
    """Converts between engine time (float days since start) and instants and wall time."""

    def __init__(self, start: datetime, timezone: ZoneInfo) -> None:
        self.start = start
        self.start_us = epoch_us(start)
        self.tz = timezone
        self._utc = timezone.key == "UTC"

    def days(self, us: int) -> float:
        """Engine time of an instant given in epoch microseconds."""
        return (us - self.start_us) / MICROSECONDS_PER_DAY

    def days_of(self, at: datetime) -> float:
        return self.days(epoch_us(at))

    def instant(self, days: float) -> datetime:
        """The instant of an engine time (to the microsecond)."""
        return from_epoch_us(self.start_us + round(days * MICROSECONDS_PER_DAY))

    def local_date(self, days: float) -> date:
        return self.instant(days).astimezone(self.tz).date()

    def wall_us(self, day: date, at: time) -> int:
        """Epoch microseconds at which the wall clock of the pump shows ``day`` ``at``.

        A wall time that does not exist (spring forward) maps to the first instant after
        the gap; one that occurs twice (fall back) to its first occurrence. (A pure function
        of the zone, the day and the time, cached: every replay of a history asks for the
        same local midnights and step times again.)
        """
        return _wall_us(self.tz, day, at)

    def wall_days(self, day: date, at: time) -> float:
        return self.days(self.wall_us(day, at))


@lru_cache(maxsize=1 << 16)
def _wall_us(tz: ZoneInfo, day: date, at: time) -> int:
    naive = datetime.combine(day, at)
    if tz.key == "UTC":
        return epoch_us(naive.replace(tzinfo=UTC))
    first = naive.replace(tzinfo=tz, fold=0)
    first_us = epoch_us(first.astimezone(UTC))
    if from_epoch_us(first_us).astimezone(tz).replace(tzinfo=None) == naive:
        # Exists. fold=0 is the first occurrence when ambiguous.
        return first_us
    # In a gap: find the transition between the two candidate mappings.
    other_us = epoch_us(naive.replace(tzinfo=tz, fold=1).astimezone(UTC))
    lo, hi = sorted((first_us, other_us))
    lo_s, hi_s = lo // MICROSECONDS_PER_SECOND, -(-hi // MICROSECONDS_PER_SECOND)
    offset_lo = _offset(tz, lo_s)
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if _offset(tz, mid) == offset_lo:
            lo_s = mid
        else:
            hi_s = mid
    return hi_s * MICROSECONDS_PER_SECOND


def _offset(tz: ZoneInfo, second: int) -> timedelta | None:
    return (_EPOCH + timedelta(seconds=second)).astimezone(tz).utcoffset()
