"""Benchmark: one 10-year scenario (refill every 60 days, 4-step daily flex program in
Europe/Berlin, 4 PTM requests a day). Target: under 0.5 s.

Run: .venv/bin/python bench/bench_twin.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from openidds.pump import parse_scenario, simulate
from scenarios import ten_year_scenario

TARGET_S = 0.5


def main(repeats: int = 7) -> int:
    data = ten_year_scenario()
    parse_s: list[float] = []
    run_s: list[float] = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        scenario = parse_scenario(data)
        t1 = time.perf_counter()
        result = simulate(scenario)
        t2 = time.perf_counter()
        parse_s.append(t1 - t0)
        run_s.append(t2 - t1)
    assert result is not None
    total = [a + b for a, b in zip(parse_s, run_s, strict=True)]
    granted = sum(1 for e in result.events if e.kind == "ptm_request" and e.granted)
    print(
        f"events: {len(result.events)} ({granted} PTM grants), breakpoints: {len(result._t)}, "
        f"days: {len(result.daily)}, alarms: {len(result.alarms)}"
    )
    print(f"parse    median {statistics.median(parse_s):.3f} s")
    print(f"simulate median {statistics.median(run_s):.3f} s")
    print(
        f"total    median {statistics.median(total):.3f} s, max {max(total):.3f} s "
        f"(target < {TARGET_S} s)"
    )
    return 0 if statistics.median(total) < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
