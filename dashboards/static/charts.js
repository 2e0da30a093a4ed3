// Draws the KPI pages' charts with plotly.js (served from the installed plotly package, /assets/plotly.min.js).
// No inline script: each chart is <div class="chart" data-figure="{plotly figure JSON}">.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const element of document.querySelectorAll("[data-figure]")) {
    const figure = JSON.parse(element.getAttribute("data-figure"));
    window.Plotly.newPlot(element, figure.data, figure.layout, { displaylogo: false, responsive: true })
      .then(() => element.setAttribute("data-drawn", "true"));
  }
});
