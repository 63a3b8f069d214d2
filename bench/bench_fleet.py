"""Benchmark: fleet forecast of 1,000,000 pumps with continuous, daily and weekly flex
programs of up to 10 steps (low-reservoir and empty times), against the scalar engine's
forecast walk on a sample of the same pumps. Target: under 1 s.

Run: .venv/bin/python bench/bench_fleet.py [N]
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet_arrays import random_fleet, scalar_program
from openidds.pump._clock import Clock
from openidds.pump._schedule import crossing_time
from openidds.pump.fleet import fleet_forecast

TARGET_S = 1.0
SCALAR_SAMPLE = 5_000


def main(n: int = 1_000_000) -> int:
    now = datetime(2026, 3, 1, 5, 17, tzinfo=UTC)
    programs, volume = random_fleet(n)
    threshold = np.full(n, 2.0)
    status = 0
    for zone in ("UTC", "Europe/Berlin"):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            fleet = fleet_forecast(now, volume, threshold, programs, zone)
            times.append(time.perf_counter() - t0)
        median = statistics.median(times)
        print(
            f"{zone:<14} fleet of {n:,}: first {times[0]:.3f} s, median {median:.3f} s "
            f"(target < {TARGET_S} s)"
        )
        status |= median >= TARGET_S
        # The scalar engine's forecast walk on a sample of the same pumps.
        clock = Clock(now, ZoneInfo(zone))
        sample = np.random.default_rng(1).choice(n, SCALAR_SAMPLE, replace=False)
        t0 = time.perf_counter()
        worst = 0.0
        for i in sample:
            program = scalar_program(programs, int(i))
            for budget, got in (
                (volume[i] - 2.0, fleet.low_reservoir_days[i]),
                (volume[i], fleet.empty_days[i]),
            ):
                ref = crossing_time(0.0, budget, program.cursor(clock, 0.0).segments(), 7305.0)
                worst = max(worst, abs((ref if ref is not None else np.inf) - got))
        scalar_s = (time.perf_counter() - t0) / SCALAR_SAMPLE * n
        print(
            f"{'':<14} scalar engine, extrapolated from {SCALAR_SAMPLE:,} pumps: "
            f"{scalar_s:.0f} s; ratio {scalar_s / median:,.0f}x; "
            f"largest difference {worst * 86400e3:.2g} ms"
        )
    return status


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
