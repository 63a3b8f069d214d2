"""Random fleets for the benchmarks and tests: flex programs of up to 10 steps."""

from __future__ import annotations

from datetime import time as wall_time

import numpy as np

from openidds.pump._schedule import BasalProgram, Step
from openidds.pump.fleet import FleetPrograms


def random_fleet(n: int, *, max_steps: int = 10, seed: int = 0) -> tuple[FleetPrograms, np.ndarray]:
    """N pumps: a third continuous, a third daily flex, a third weekly flex (1-10 steps),
    rates 0.048-2 mL/day, reservoirs 0-40 mL. Returns the programs and the volumes."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 3, n)  # 0 continuous, 1 daily, 2 weekly
    period = np.where(kind == 2, 7.0, 1.0)
    steps = np.where(kind == 0, 1, rng.integers(1, max_steps + 1, n))
    # Distinct step starts on a 1-minute grid, increasing within each row.
    minutes_in_period = np.where(kind == 2, 7 * 1440, 1440)
    raw = rng.random((n, max_steps))
    col = np.arange(max_steps)[None, :]
    real = col < steps[:, None]
    raw = np.where(real, raw, np.inf)
    raw.sort(axis=1)
    starts = np.floor(raw * minutes_in_period[:, None]) / 1440.0
    starts[:, 0] = np.where(kind == 0, 0.0, starts[:, 0])
    # Make the starts strictly increasing (duplicates on the grid move by a minute).
    for j in range(1, max_steps):
        starts[:, j] = np.maximum(starts[:, j], starts[:, j - 1] + 1 / 1440)
    starts = np.where(real, starts, period[:, None])
    rates = rng.uniform(0.048, 2.0, (n, max_steps))
    last = np.take_along_axis(rates, (steps - 1)[:, None], axis=1)
    rates = np.where(real, rates, last)
    volume = rng.uniform(0.0, 40.0, n)
    return FleetPrograms(period, starts, rates), volume


def scalar_program(programs: FleetPrograms, i: int) -> BasalProgram:
    """Pump i of a fleet as the engine's BasalProgram (for cross-checks)."""
    weekly = programs.period_days[i] > 1
    n = max(int(np.sum(programs.step_start_days[i] < programs.period_days[i])), 1)
    steps = []
    for j in range(n):
        minutes = round(programs.step_start_days[i, j] * 1440)
        steps.append(
            Step(
                minutes // 1440 if weekly else None,
                wall_time((minutes % 1440) // 60, minutes % 60),
                float(programs.step_rate_ml_per_day[i, j]),
            )
        )
    return BasalProgram(period="week" if weekly else "day", steps=tuple(steps))
