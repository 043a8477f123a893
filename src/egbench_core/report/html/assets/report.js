// egbench HTML report: sortable tables, the "show skipped cells" switches, and the plots
// (plotly.js from this folder). Nothing is fetched: every figure is a JSON island in its page.
"use strict";

(function () {
  function numberOf(cell) {
    const v = cell ? cell.getAttribute("data-sort") : null;
    return v === null ? null : Number(v);
  }

  function textOf(cell) {
    if (!cell) return "";
    return cell.getAttribute("data-text") || cell.textContent.trim();
  }

  // Numbers first (ascending or descending); then text (n/a, error, skipped, ...) in order.
  function compareCells(a, b, ascending) {
    const x = numberOf(a), y = numberOf(b);
    if (x !== null && y !== null) return ascending ? x - y : y - x;
    if (x !== null) return -1;
    if (y !== null) return 1;
    const s = textOf(a).localeCompare(textOf(b));
    return ascending ? s : -s;
  }

  function sortBy(table, th) {
    const col = Number(th.getAttribute("data-col"));
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th[data-col]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort(function (r, s) { return compareCells(r.cells[col], s.cells[col], ascending); });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function setUpTables() {
    document.querySelectorAll("table.sortable th[data-col]").forEach(function (th) {
      const table = th.closest("table");
      th.addEventListener("click", function () { sortBy(table, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, th); }
      });
    });
    document.querySelectorAll("input.show-skipped").forEach(function (box) {
      const table = document.getElementById(box.getAttribute("data-table"));
      box.addEventListener("change", function () { table.classList.toggle("with-skipped", box.checked); });
    });
  }

  function drawPlots() {
    const plots = document.querySelectorAll(".plot[data-figure]");
    if (!plots.length) return;
    if (!window.Plotly) {
      plots.forEach(function (div) { div.textContent = "plotly.js did not load (assets/plotly.min.js)"; });
      return;
    }
    let pending = plots.length;
    plots.forEach(function (div) {
      const spec = JSON.parse(document.getElementById(div.getAttribute("data-figure")).textContent);
      const config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };
      window.Plotly.newPlot(div, spec.data, spec.layout, config).then(function () {
        div.classList.add("drawn");
        pending -= 1;
        if (pending === 0) document.body.setAttribute("data-plots", "drawn");
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpTables();
    drawPlots();
  });
})();
