// /indicators and /indicators/<code>: a trend chart per indicator (observed values, the baseline, the target as a
// dashed line and the straight-line trajectory), drawn with the vendored ECharts when it is in view; the reports'
// print button. Nothing from another host.
(function () {
  "use strict";
  function time(p) {
    return p.length === 4 ? +p : (+p.slice(0, 4)) - 1 + (+p.slice(5, 7)) / 12;
  }
  function draw(el, c) {
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    var pts = c.series.map(function (s) { return [time(s[0]), s[1], s[0]]; });
    var series = [{ type: "line", name: "value", data: pts, symbolSize: 5, lineStyle: { width: 2 } }];
    if (c.target !== null && c.target !== undefined) {
      series[0].markLine = { symbol: "none", lineStyle: { type: "dashed", color: "#c0392b" },
                             label: { formatter: String(c.target) }, data: [{ yAxis: c.target }] };
      if (c.baseline !== null && c.baseline_year !== null) {
        series.push({ type: "line", name: "trajectory", symbol: "none",
                      lineStyle: { type: "dotted", color: "#888" },
                      data: [[c.baseline_year, c.baseline], [c.target_year, c.target]] });
      }
    }
    if (c.baseline !== null && c.baseline_year !== null) {
      series.push({ type: "scatter", name: "baseline", symbol: "emptyCircle", symbolSize: 8,
                    data: [[c.baseline_year, c.baseline]] });
    }
    chart.setOption({
      grid: { left: 56, right: 16, top: 24, bottom: 28 },
      tooltip: { trigger: "item", formatter: function (p) {
        var d = p.data; return (d[2] || Math.round(d[0] * 100) / 100) + ": " + d[1] + " " + c.unit; } },
      xAxis: { type: "value", min: "dataMin", max: "dataMax", axisLabel: { formatter: function (v) {
        return Number.isInteger(v) ? String(v) : ""; } } },
      yAxis: { type: "value", name: c.unit, scale: false },
      series: series
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function start() {
    document.querySelectorAll("[data-print]").forEach(function (b) {
      b.addEventListener("click", function () { window.print(); });
    });
    var cfgEl = document.getElementById("indicators-config");
    if (!cfgEl || !window.echarts) return;
    var cfg = JSON.parse(cfgEl.textContent);
    var boxes = document.querySelectorAll("[data-chart]");
    var seen = function (el) {
      var c = cfg[el.getAttribute("data-chart")];
      if (c && !el.getAttribute("data-drawn")) { el.setAttribute("data-drawn", "1"); draw(el, c); }
    };
    if ("IntersectionObserver" in window) {
      var io = new IntersectionObserver(function (entries) {
        entries.forEach(function (e) { if (e.isIntersecting) { seen(e.target); io.unobserve(e.target); } });
      }, { rootMargin: "200px" });
      boxes.forEach(function (el) { io.observe(el); });
    } else {
      boxes.forEach(seen);
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
