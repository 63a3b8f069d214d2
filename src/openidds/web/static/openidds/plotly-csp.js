// plotly.js under a strict Content-Security-Policy (no inline styles).
//
// plotly writes CSS rules into <style> elements it creates at run time: global rules (kept
// out by the hidden #plotly.js-style-global.no-inline-styles marker of _plotly_csp.html;
// they are in plotly-base.css) and per-plot "related" rules under the id
// "plotly.js-style-<random plot uid>", which no marker in the page can name in advance. It
// skips writing when the element of that id matches ".no-inline-styles", so every such
// lookup is answered with one detached marker, as is the id under which its bundled map
// library would inject its CSS (no plot here uses maps; regenerate the id when plotly.js is
// updated: grep 'document.getElementById("' next to createElement("style") in
// plotly.min.js). Nothing else of getElementById changes.
(function () {
  "use strict";
  if (document.__openiddsPlotlyCsp) return;
  document.__openiddsPlotlyCsp = true;
  var MAP_CSS_ID = "ce8d464691048653ffe3a57c6c18ab566e8366f186677868cf724621a857b4fe";
  var marker = document.createElement("div");
  marker.className = "no-inline-styles";
  var real = document.getElementById.bind(document);
  document.getElementById = function (id) {
    var found = real(id);
    if (
      found === null &&
      typeof id === "string" &&
      (id.indexOf("plotly.js-style-") === 0 || id === MAP_CSS_ID)
    ) {
      return marker;
    }
    return found;
  };
})();
