/* The patient chart's pump plot: reservoir volume with fills and alarms, daily dose per drug.
   Data come from <script type="application/json" id="pump-plot-data"> (no inline script:
   the Content-Security-Policy forbids it). */
(function () {
  "use strict";
  function draw() {
    var holder = document.getElementById("pump-plot");
    var source = document.getElementById("pump-plot-data");
    if (!holder || !source || typeof Plotly === "undefined") { return; }
    var d = JSON.parse(source.textContent);
    var traces = [
      { x: d.reservoir.x, y: d.reservoir.y, type: "scatter", mode: "lines", name: "reservoir (mL)",
        line: { color: "#0b5cad", width: 2 }, xaxis: "x", yaxis: "y",
        hovertemplate: "%{y:.2f} mL<br>%{x}<extra></extra>" },
      { x: d.fills.x, y: d.fills.y, text: d.fills.text, type: "scatter", mode: "markers", name: "fill",
        marker: { symbol: "triangle-up", size: 11, color: "#2b8a3e" }, xaxis: "x", yaxis: "y",
        hovertemplate: "%{text}<br>%{x}<extra></extra>" },
      { x: d.alarms.x, y: d.alarms.y, text: d.alarms.text, type: "scatter", mode: "markers", name: "alarm",
        marker: { symbol: "x", size: 11, color: "#a4161a" }, xaxis: "x", yaxis: "y",
        hovertemplate: "%{text}<br>%{x}<extra></extra>" }
    ];
    var colors = ["#7048e8", "#e67700", "#0c8599", "#c2255c", "#5c940d"];
    Object.keys(d.daily).forEach(function (drug, i) {
      var s = d.daily[drug];
      traces.push({ x: s.x, y: s.y, type: "bar", name: drug + " (mg/day)", xaxis: "x2", yaxis: "y2",
        marker: { color: colors[i % colors.length] }, hovertemplate: drug + " %{y:.4g} mg<br>%{x}<extra></extra>" });
    });
    var layout = {
      margin: { l: 60, r: 20, t: 10, b: 40 },
      grid: { rows: 2, columns: 1, pattern: "independent", roworder: "top to bottom" },
      xaxis: { type: "date", matches: "x2", showticklabels: false },
      yaxis: { title: { text: "reservoir (mL)" }, rangemode: "tozero", domain: [0.45, 1] },
      xaxis2: { type: "date" },
      yaxis2: { title: { text: "dose per day (mg)" }, rangemode: "tozero", domain: [0, 0.38] },
      shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: d.low_threshold_ml, y1: d.low_threshold_ml,
        line: { color: "#a4161a", width: 1, dash: "dot" } }],
      legend: { orientation: "h", y: 1.08 },
      barmode: "group",
      hovermode: "closest"
    };
    Plotly.newPlot(holder, traces, layout, { responsive: true, displaylogo: false, displayModeBar: false });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
