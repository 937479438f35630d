// /sensing: the air-quality stations on the Guangzhou district map (WGS-84 boundaries from /static-geo), each
// coloured by its AQI category. No tiles, nothing from another host.
(function () {
  "use strict";
  function start() {
    var el = document.getElementById("sensing-map");
    var cfgEl = document.getElementById("sensing-config");
    if (!el || !cfgEl || !window.echarts) return;
    var cfg = JSON.parse(cfgEl.textContent);
    fetch(cfg.base, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (geo) {
      window.echarts.registerMap("guangzhou", geo);
      var chart = window.echarts.init(el);
      chart.setOption({
        tooltip: {
          trigger: "item",
          formatter: function (p) {
            if (!p.data || !p.data.station) return p.name;
            var s = p.data.station;
            return s.name + "<br>AQI " + (s.aqi === null ? "—" : s.aqi) + " " + (s.category || "");
          }
        },
        geo: { map: "guangzhou", roam: true, itemStyle: { areaColor: "#f3f5f7", borderColor: "#9aa5b1" } },
        series: [{
          type: "scatter", coordinateSystem: "geo", symbolSize: 14,
          data: cfg.stations.map(function (s) {
            return { name: s.name, value: [s.lon, s.lat, s.aqi], station: s, itemStyle: { color: s.colour || "#999" } };
          })
        }]
      });
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
