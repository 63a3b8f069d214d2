"""Plots of a replay: reservoir volume with alarms and fills, and daily dose per drug.

PNG through matplotlib; HTML as one self-contained file with the plotly.js shipped in the
repository (no CDN: it opens offline).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from openidds.pump import SimulationResult

_ALARM_COLOURS = {
    "low_reservoir": "#d97706",
    "empty_reservoir": "#b91c1c",
    "refill_discrepancy": "#7c3aed",
    "motor_stall": "#0f766e",
    "motor_stall_recovery": "#14b8a6",
    "eri": "#6b7280",
    "eos": "#111827",
}


def write_plot(result: SimulationResult, out: str | Path) -> Path:
    """Draw the replay to ``out`` (``.png`` or ``.html``)."""
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix == ".png":
        _png(result, path)
    elif suffix in (".html", ".htm"):
        _html(result, path)
    else:
        raise ValueError(f"--plot: {path.name} must end in .png or .html")
    return path


def _series(result: SimulationResult) -> dict[str, Any]:
    tz = result.scenario.timezone
    line = result.timeline()
    at = [a.astimezone(tz).replace(tzinfo=None) for a in line["at"]]
    days = [datetime.combine(row.date, datetime.min.time()) for row in result.daily]
    doses = {
        drug: [row.delivered_mg.get(drug, 0.0) for row in result.daily] for drug in result.drugs
    }
    fills = [
        (o.at.astimezone(tz).replace(tzinfo=None), result.reservoir_ml_at(o.at))
        for o in result.events
        if o.kind == "fill"
    ]
    alarms = [(a.at.astimezone(tz).replace(tzinfo=None), a.kind) for a in result.alarms]
    return {
        "at": at,
        "reservoir": line["reservoir_ml"],
        "days": days,
        "doses": doses,
        "fills": fills,
        "alarms": alarms,
        "low": result.scenario.pump.low_reservoir_alarm_ml,
        "capacity": result.scenario.pump.model.capacity_ml,
        "title": result.scenario.name or result.scenario.pump.model.name,
        "tz": result.scenario.timezone_name,
    }


def _png(result: SimulationResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = _series(result)
    fig, (ax1, ax2) = plt.subplots(
        2, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    ax1.plot(s["at"], s["reservoir"], color="#1d4ed8", linewidth=1.6, label="reservoir (mL)")
    ax1.axhline(
        s["low"],
        color="#d97706",
        linestyle="--",
        linewidth=1,
        label=f"low-reservoir alarm ({s['low']:g} mL)",
    )
    if s["fills"]:
        ax1.scatter(
            [f[0] for f in s["fills"]],
            [f[1] for f in s["fills"]],
            marker="^",
            color="#15803d",
            zorder=3,
            label="fill",
        )
    seen: set[str] = set()
    for when, kind in s["alarms"]:
        ax1.axvline(
            when,
            color=_ALARM_COLOURS.get(kind, "#b91c1c"),
            linewidth=1,
            alpha=0.8,
            label=None if kind in seen else kind.replace("_", " "),
        )
        seen.add(kind)
    ax1.set_ylabel("reservoir volume (mL)")
    ax1.set_ylim(0, s["capacity"] * 1.05)
    ax1.set_title(s["title"])
    ax1.grid(alpha=0.3)
    ax1.legend(loc="best", fontsize=8, framealpha=0.85)
    width = timedelta(days=0.8)
    bottom = [0.0] * len(s["days"])
    for drug, values in s["doses"].items():
        ax2.bar(s["days"], values, width=width, bottom=bottom, align="edge", label=drug)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax2.set_ylabel("delivered per day (mg)")
    ax2.set_xlabel(f"pump clock ({s['tz']})")
    ax2.grid(alpha=0.3)
    if s["doses"]:
        ax2.legend(loc="upper right", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _html(result: SimulationResult, path: Path) -> None:
    s = _series(result)

    def iso(values: list[datetime]) -> list[str]:
        return [v.isoformat() for v in values]

    traces: list[dict[str, Any]] = [
        {
            "x": iso(s["at"]),
            "y": s["reservoir"],
            "type": "scatter",
            "mode": "lines",
            "name": "reservoir (mL)",
            "line": {"color": "#1d4ed8"},
            "xaxis": "x",
            "yaxis": "y",
        },
        {
            "x": [iso(s["at"])[0], iso(s["at"])[-1]],
            "y": [s["low"], s["low"]],
            "type": "scatter",
            "mode": "lines",
            "name": f"low-reservoir alarm ({s['low']:g} mL)",
            "line": {"color": "#d97706", "dash": "dash"},
            "xaxis": "x",
            "yaxis": "y",
        },
    ]
    if s["fills"]:
        traces.append(
            {
                "x": iso([f[0] for f in s["fills"]]),
                "y": [f[1] for f in s["fills"]],
                "type": "scatter",
                "mode": "markers",
                "name": "fill",
                "marker": {"symbol": "triangle-up", "size": 10, "color": "#15803d"},
                "xaxis": "x",
                "yaxis": "y",
            }
        )
    for kind in sorted({k for _, k in s["alarms"]}):
        when = [w for w, k in s["alarms"] if k == kind]
        traces.append(
            {
                "x": iso(when),
                "y": [s["capacity"]] * len(when),
                "type": "scatter",
                "mode": "markers",
                "name": kind.replace("_", " "),
                "marker": {"symbol": "x", "size": 9, "color": _ALARM_COLOURS.get(kind, "#b91c1c")},
                "xaxis": "x",
                "yaxis": "y",
            }
        )
    for drug, values in s["doses"].items():
        traces.append(
            {
                "x": iso(s["days"]),
                "y": values,
                "type": "bar",
                "name": f"{drug} (mg/day)",
                "xaxis": "x2",
                "yaxis": "y2",
            }
        )
    layout = {
        "title": {"text": s["title"]},
        "barmode": "stack",
        "grid": {"rows": 2, "columns": 1, "pattern": "independent"},
        "yaxis": {"title": {"text": "reservoir volume (mL)"}, "range": [0, s["capacity"] * 1.05]},
        "yaxis2": {"title": {"text": "delivered per day (mg)"}},
        "xaxis2": {"title": {"text": f"pump clock ({s['tz']})"}, "matches": "x"},
        "height": 720,
    }
    plotly_js = (
        resources.files("openidds") / "static" / "vendor" / "plotly" / "plotly.min.js"
    ).read_text(encoding="utf-8")
    title = json.dumps(s["title"])[1:-1].replace("<", "&lt;")
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><script>{plotly_js}</script></head><body>"
        '<div id="plot" style="width:100%;height:720px"></div><script>'
        f"Plotly.newPlot('plot', {_js(traces)}, {_js(layout)});"
        "</script></body></html>"
    )
    path.write_text(html, encoding="utf-8")


def _js(value: object) -> str:
    """JSON safe to place inside a <script> element."""
    return json.dumps(value).replace("</", "<\\/")
