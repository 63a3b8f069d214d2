/* The preview's 14-day forecast: reservoir volume and the dose per 24 h of each drug, under
   the current program (dashed) and with the change (solid). Data come from
   <script type="application/json" id="forecast-data"> (the CSP forbids inline scripts). */
(function () {
  "use strict";
  function draw() {
    var holder = document.getElementById("forecast-plot");
    var source = document.getElementById("forecast-data");
    if (!holder || !source || typeof Plotly === "undefined") { return; }
    var d = JSON.parse(source.textContent);
    var traces = [
      { x: d.reservoir.current.x, y: d.reservoir.current.y, type: "scatter", mode: "lines",
        name: "reservoir now (mL)", line: { color: "#5c677d", width: 2, dash: "dash" },
        xaxis: "x", yaxis: "y", hovertemplate: "%{y:.2f} mL<br>%{x}<extra>now</extra>" },
      { x: d.reservoir.proposed.x, y: d.reservoir.proposed.y, type: "scatter", mode: "lines",
        name: "reservoir with the change (mL)", line: { color: "#0b5cad", width: 2 },
        xaxis: "x", yaxis: "y", hovertemplate: "%{y:.2f} mL<br>%{x}<extra>with the change</extra>" }
    ];
    var colors = ["#7048e8", "#e67700", "#0c8599", "#c2255c", "#5c940d"];
    Object.keys(d.daily).forEach(function (drug, i) {
      var s = d.daily[drug], color = colors[i % colors.length];
      if (s.current) {
        traces.push({ x: s.current.x, y: s.current.y, type: "scatter", mode: "lines+markers",
          name: drug + " now (mg/24 h)", line: { color: color, dash: "dash", shape: "hv" },
          xaxis: "x2", yaxis: "y2", hovertemplate: drug + " %{y:.4g} mg<br>%{x}<extra>now</extra>" });
      }
      if (s.proposed) {
        traces.push({ x: s.proposed.x, y: s.proposed.y, type: "scatter", mode: "lines+markers",
          name: drug + " with the change (mg/24 h)", line: { color: color, shape: "hv" },
          xaxis: "x2", yaxis: "y2",
          hovertemplate: drug + " %{y:.4g} mg<br>%{x}<extra>with the change</extra>" });
      }
    });
    var layout = {
      margin: { l: 60, r: 20, t: 10, b: 40 },
      grid: { rows: 2, columns: 1, pattern: "independent", roworder: "top to bottom" },
      xaxis: { type: "date", matches: "x2", showticklabels: false },
      yaxis: { title: { text: "reservoir (mL)" }, rangemode: "tozero", domain: [0.5, 1] },
      xaxis2: { type: "date" },
      yaxis2: { title: { text: "dose per 24 h (mg)" }, rangemode: "tozero", domain: [0, 0.42] },
      shapes: d.low_threshold_ml === null ? [] : [{ type: "line", xref: "paper", x0: 0, x1: 1,
        yref: "y", y0: d.low_threshold_ml, y1: d.low_threshold_ml,
        line: { color: "#a4161a", width: 1, dash: "dot" } }],
      legend: { orientation: "h", y: 1.12 },
      hovermode: "closest"
    };
    Plotly.newPlot(holder, traces, layout, { responsive: true, displaylogo: false, displayModeBar: false });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
