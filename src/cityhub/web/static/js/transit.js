// /transit: the district OD flow map (lines between district centroids, width by journeys, on the WGS-84
// district boundaries from /static-geo) and the time band × district heat map. Nothing from another host.
(function () {
  "use strict";
  function start() {
    var cfgEl = document.getElementById("transit-config");
    if (!cfgEl || !window.echarts) return;
    var cfg = JSON.parse(cfgEl.textContent);
    var mapEl = document.getElementById("transit-flow-map");
    var heatEl = document.getElementById("transit-heat");
    var maxFlow = (cfg.flows || []).reduce(function (m, f) { return Math.max(m, f.value); }, 1);
    if (mapEl) {
      fetch(cfg.base, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (geo) {
        window.echarts.registerMap("guangzhou", geo);
        var chart = window.echarts.init(mapEl);
        chart.setOption({
          tooltip: {
            trigger: "item",
            formatter: function (p) {
              if (p.seriesType === "lines") return p.data.from + " → " + p.data.to + ": " + p.data.value;
              return p.name + (p.value ? ": " + p.value[2] : "");
            }
          },
          geo: { map: "guangzhou", roam: true, itemStyle: { areaColor: "#f3f5f7", borderColor: "#9aa5b1" } },
          series: [{
            type: "lines", coordinateSystem: "geo", zlevel: 1,
            lineStyle: { color: "#c0392b", opacity: 0.6, curveness: 0.2 },
            data: (cfg.flows || []).map(function (f) {
              return { from: f.from, to: f.to, value: f.value, coords: f.coords,
                       lineStyle: { width: 1 + 9 * f.value / maxFlow } };
            })
          }, {
            type: "scatter", coordinateSystem: "geo", symbolSize: 10, itemStyle: { color: "#1f5fa8" },
            label: { show: true, position: "right", formatter: "{b}" },
            data: cfg.points || []
          }]
        });
        window.addEventListener("resize", function () { chart.resize(); });
      });
    }
    if (heatEl) {
      var heat = window.echarts.init(heatEl);
      heat.setOption({
        tooltip: { position: "top" },
        grid: { left: 110, right: 20, top: 10, bottom: 70 },
        xAxis: { type: "category", data: cfg.districts || [], axisLabel: { rotate: 30 } },
        yAxis: { type: "category", data: cfg.bands || [] },
        visualMap: { min: 0, max: cfg.max || 1, calculable: true, orient: "horizontal", left: "center", bottom: 0 },
        series: [{ type: "heatmap", data: cfg.heat || [], label: { show: true } }]
      });
      window.addEventListener("resize", function () { heat.resize(); });
    }
    var loadsEl = document.getElementById("transit-loads");
    if (loadsEl && cfg.loads) {
      var loads = window.echarts.init(loadsEl);
      loads.setOption({
        tooltip: { trigger: "axis" },
        legend: { bottom: 0 },
        grid: { left: 60, right: 20, top: 10, bottom: 90 },
        xAxis: { type: "category", data: cfg.loads.lines, axisLabel: { rotate: 30 } },
        yAxis: { type: "value" },
        series: cfg.loads.series.map(function (s) { return { name: s.name, type: "bar", data: s.data }; })
      });
      window.addEventListener("resize", function () { loads.resize(); });
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
