/* The diary's trend plot (portal diary page and the chart's diary panel).
   Data come from <script type="application/json" id="diary-plot-data"> (no inline script:
   the Content-Security-Policy forbids it). Pain (0-10) with the pre-implant baseline and
   the 20 % and 30 % improvement lines; interference and weekly BPI; ODI; on the chart also
   the pump's fills and program changes and the twin's PTM grants and denials per day.
   If plotly.js is not on the page yet, it is loaded from the data-plotly address. */
(function () {
  "use strict";
  var palette = { now: "#0b5cad", average: "#2b8a3e", worst: "#a4161a", base: "#495057",
    interference: "#7048e8", bpi: "#e67700", odi: "#0c8599", denied: "#a4161a",
    granted: "#2b8a3e", reported: "#868e96" };

  function hline(yref, y, color, dash, label) {
    return {
      shape: { type: "line", xref: "paper", x0: 0, x1: 1, yref: yref, y0: y, y1: y,
        line: { color: color, width: 1.5, dash: dash } },
      note: { xref: "paper", x: 1, xanchor: "right", yref: yref, y: y, yanchor: "bottom",
        text: label, showarrow: false, font: { size: 10, color: color } }
    };
  }

  function draw() {
    var holder = document.getElementById("diary-plot");
    var source = document.getElementById("diary-plot-data");
    if (!holder || !source || typeof Plotly === "undefined") { return; }
    var d = JSON.parse(source.textContent);
    var m = d.measures;
    var withPump = !!d.pump;
    var traces = [];
    var shapes = [];
    var notes = [];
    // Row 1: pain.
    [["now", "pain now"], ["average", "average pain"], ["worst", "worst pain"]].forEach(function (p) {
      traces.push({ x: d.pain.x, y: d.pain[p[0]], type: "scatter", mode: "lines+markers",
        name: p[1], line: { color: palette[p[0]], width: p[0] === "average" ? 3 : 1.5 },
        xaxis: "x", yaxis: "y", hovertemplate: p[1] + " %{y}<br>%{x}<extra></extra>" });
    });
    var pa = m.pain_average;
    if (pa.baseline !== null) {
      var b = hline("y", pa.baseline, palette.base, "dash", "baseline " + pa.baseline.toFixed(1));
      shapes.push(b.shape); notes.push(b.note);
      pa.lines.forEach(function (l) {
        var h = hline("y", l.value, palette.base, "dot", l.percent + " % better");
        shapes.push(h.shape); notes.push(h.note);
      });
    }
    // Row 2: interference (diary) and weekly BPI; ODI on its own axis (row 3).
    traces.push({ x: m.interference.x, y: m.interference.y, type: "scatter", mode: "lines+markers",
      name: "interference (diary)", line: { color: palette.interference }, xaxis: "x", yaxis: "y2" });
    traces.push({ x: m.bpi_severity.x, y: m.bpi_severity.y, type: "scatter", mode: "markers",
      name: "BPI severity (weekly)", marker: { color: palette.bpi, size: 9, symbol: "diamond" },
      xaxis: "x", yaxis: "y2" });
    traces.push({ x: m.bpi_interference.x, y: m.bpi_interference.y, type: "scatter", mode: "markers",
      name: "BPI interference (weekly)", marker: { color: palette.interference, size: 9, symbol: "square" },
      xaxis: "x", yaxis: "y2" });
    if (m.interference.baseline !== null) {
      var bi = hline("y2", m.interference.baseline, palette.interference, "dash", "baseline");
      shapes.push(bi.shape); notes.push(bi.note);
      m.interference.lines.forEach(function (l) {
        var h = hline("y2", l.value, palette.interference, "dot", l.percent + " %");
        shapes.push(h.shape); notes.push(h.note);
      });
    }
    traces.push({ x: m.odi.x, y: m.odi.y, type: "scatter", mode: "lines+markers",
      name: "ODI (%)", line: { color: palette.odi }, xaxis: "x", yaxis: "y3" });
    if (m.odi.baseline !== null) {
      var bo = hline("y3", m.odi.baseline, palette.odi, "dash", "baseline");
      shapes.push(bo.shape); notes.push(bo.note);
      m.odi.lines.forEach(function (l) {
        var h = hline("y3", l.value, palette.odi, "dot", l.percent + " %");
        shapes.push(h.shape); notes.push(h.note);
      });
    }
    // Row 4: PTM.
    traces.push({ x: d.ptm_reported.x, y: d.ptm_reported.y, type: "bar", name: "PTM uses (reported)",
      marker: { color: palette.reported }, xaxis: "x", yaxis: "y4" });
    if (withPump) {
      traces.push({ x: d.pump.ptm.x, y: d.pump.ptm.granted, type: "bar", name: "PTM granted (pump)",
        marker: { color: palette.granted }, xaxis: "x", yaxis: "y4" });
      traces.push({ x: d.pump.ptm.x, y: d.pump.ptm.denied, type: "bar", name: "PTM denied (pump)",
        marker: { color: palette.denied }, xaxis: "x", yaxis: "y4" });
      d.pump.changes.forEach(function (c) {
        shapes.push({ type: "line", xref: "x", x0: c.x, x1: c.x, yref: "paper", y0: 0, y1: 1,
          line: { color: c.kind === "fill" ? "#2b8a3e" : "#7048e8", width: 1, dash: "dashdot" } });
      });
      traces.push({ x: d.pump.changes.map(function (c) { return c.x; }),
        y: d.pump.changes.map(function () { return 10; }), text: d.pump.changes.map(function (c) { return c.text; }),
        type: "scatter", mode: "markers", name: "fills and dose changes",
        marker: { symbol: "triangle-down", size: 10, color: "#7048e8" }, xaxis: "x", yaxis: "y",
        hovertemplate: "%{text}<br>%{x}<extra></extra>" });
    }
    if (d.implant_day) {
      shapes.push({ type: "line", xref: "x", x0: d.implant_day, x1: d.implant_day, yref: "paper",
        y0: 0, y1: 1, line: { color: "#212529", width: 2 } });
      notes.push({ xref: "x", x: d.implant_day, yref: "paper", y: 1, yanchor: "bottom",
        text: "implant", showarrow: false, font: { size: 11 } });
    }
    var layout = {
      margin: { l: 48, r: 12, t: 24, b: 40 },
      height: 760,
      grid: { rows: 4, columns: 1, pattern: "coupled", roworder: "top to bottom" },
      xaxis: { type: "date" },
      yaxis: { title: { text: "pain 0-10" }, range: [0, 10.5], domain: [0.64, 1] },
      yaxis2: { title: { text: "0-10" }, range: [0, 10.5], domain: [0.38, 0.6] },
      yaxis3: { title: { text: "ODI %" }, range: [0, 100], domain: [0.19, 0.34] },
      yaxis4: { title: { text: "PTM/day" }, rangemode: "tozero", domain: [0, 0.15] },
      shapes: shapes,
      annotations: notes,
      legend: { orientation: "h", y: -0.08 },
      barmode: "group",
      hovermode: "closest"
    };
    Plotly.newPlot(holder, traces, layout, { responsive: true, displaylogo: false, displayModeBar: false });
  }

  function start() {
    if (typeof Plotly !== "undefined") { draw(); return; }
    var me = document.getElementById("diary-chart-script");
    var src = me && me.getAttribute("data-plotly");
    if (!src) { return; }
    var s = document.createElement("script");
    s.src = src;
    s.addEventListener("load", draw);
    document.head.appendChild(s);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
