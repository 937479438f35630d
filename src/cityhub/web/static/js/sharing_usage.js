// /sharing/usage: records exchanged per month as a bar chart (vendored ECharts; the table below holds the same
// numbers for readers without scripts).
(function () {
  "use strict";
  function start() {
    var el = document.getElementById("usage-chart");
    var cfgEl = document.getElementById("usage-config");
    if (!el || !cfgEl || !window.echarts) return;
    var cfg = JSON.parse(cfgEl.textContent);
    var chart = window.echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { data: [cfg.labels.records, cfg.labels.calls] },
      xAxis: { type: "category", data: cfg.months },
      yAxis: [{ type: "value" }, { type: "value" }],
      series: [
        { name: cfg.labels.records, type: "bar", data: cfg.records },
        { name: cfg.labels.calls, type: "line", yAxisIndex: 1, data: cfg.calls }
      ]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
