// /sensing/devices/{code}: one ECharts chart per attribute of the device — 24 h of raw readings, 7 d of hourly or
// 30 d of daily aggregates (mean with min and max) from /api/sensing/devices/{code}/chart — switchable without
// reloading the page, and the device's place on the Guangzhou district map (/static-geo). Nothing from another host.
(function () {
  "use strict";
  var charts = [];
  function fmtTime(iso, range) {
    var d = new Date(iso);
    var p = function (n) { return (n < 10 ? "0" : "") + n; };
    var day = (d.getMonth() + 1) + "-" + p(d.getDate());
    return range === "30d" ? day : day + " " + p(d.getHours()) + ":" + p(d.getMinutes());
  }
  function render(box, cfg, data) {
    charts.forEach(function (c) { c.dispose(); });
    charts = [];
    box.innerHTML = "";
    var total = 0;
    data.series.forEach(function (s) {
      var wrap = document.createElement("div");
      wrap.className = "device-chart";
      var title = document.createElement("h3");
      title.textContent = (cfg.lang === "en" ? s.label_en : s.label_zh) + (s.unit ? " (" + s.unit + ")" : "");
      title.setAttribute("translate", "no");
      var el = document.createElement("div");
      el.style.height = "220px";
      el.setAttribute("data-attr", s.attribute);
      wrap.appendChild(title);
      wrap.appendChild(el);
      box.appendChild(wrap);
      total += s.points.length;
      if (!s.points.length) {
        var empty = document.createElement("p");
        empty.className = "muted";
        empty.textContent = cfg.labels.empty;
        el.replaceWith(empty);
        return;
      }
      var chart = window.echarts.init(el);
      var step = s.kind === "bool" || s.kind === "enum" ? "end" : false;
      var series;
      if (data.resolution === "raw") {
        series = [{ type: "line", name: s.attribute, step: step, showSymbol: false,
                    data: s.points.map(function (p) { return [p[0], p[1]]; }) }];
      } else {
        series = [
          { type: "line", name: cfg.labels.mean, showSymbol: false, data: s.points.map(function (p) { return [p[0], p[1]]; }) },
          { type: "line", name: cfg.labels.min, showSymbol: false, lineStyle: { type: "dashed", width: 1 },
            data: s.points.map(function (p) { return [p[0], p[2]]; }) },
          { type: "line", name: cfg.labels.max, showSymbol: false, lineStyle: { type: "dashed", width: 1 },
            data: s.points.map(function (p) { return [p[0], p[3]]; }) }
        ];
      }
      chart.setOption({
        animation: false,
        grid: { left: 48, right: 16, top: 24, bottom: 28 },
        tooltip: { trigger: "axis" },
        legend: data.resolution === "raw" ? undefined : { top: 0, right: 0 },
        xAxis: { type: "time", axisLabel: { hideOverlap: true, formatter: function (v) { return fmtTime(v, data.range); } } },
        yAxis: { type: "value", scale: true,
                 axisLabel: s.kind === "enum" ? { formatter: function (v) { return s.values[v] || v; } } : {} },
        series: series
      });
      charts.push(chart);
    });
    box.setAttribute("data-rendered", data.range);
    box.setAttribute("data-points", String(total));
  }
  function switchTo(box, cfg, range) {
    fetch("/api/sensing/devices/" + encodeURIComponent(cfg.code) + "/chart?range=" + range,
          { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        render(box, cfg, data);
        document.querySelectorAll("#range-switch a[data-range]").forEach(function (a) {
          var on = a.getAttribute("data-range") === range;
          a.className = "btn " + (on ? "btn-primary" : "btn-ghost");
          if (on) a.setAttribute("aria-current", "true"); else a.removeAttribute("aria-current");
        });
        if (window.history && window.history.replaceState) window.history.replaceState(null, "", "?range=" + range);
      })
      .catch(function () { window.location.search = "?range=" + range; });
  }
  function miniMap(cfg) {
    var el = document.getElementById("device-map");
    if (!el || cfg.lon === null || cfg.lat === null) return;
    fetch(cfg.geo, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (geo) {
      if (!window.echarts.getMap("guangzhou")) window.echarts.registerMap("guangzhou", geo);
      var chart = window.echarts.init(el);
      chart.setOption({
        animation: false,
        geo: { map: "guangzhou", roam: true, center: [cfg.lon, cfg.lat], zoom: 4,
               itemStyle: { areaColor: "#f3f5f7", borderColor: "#9aa5b1" } },
        series: [{ type: "effectScatter", coordinateSystem: "geo", symbolSize: 12,
                   data: [{ name: cfg.name, value: [cfg.lon, cfg.lat] }], itemStyle: { color: "#e4572e" } }]
      });
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  function start() {
    var box = document.getElementById("device-charts");
    var cfgEl = document.getElementById("device-config");
    if (!box || !cfgEl || !window.echarts) return;
    var cfg = JSON.parse(cfgEl.textContent);
    render(box, cfg, cfg.series);
    document.querySelectorAll("#range-switch a[data-range]").forEach(function (a) {
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        switchTo(box, cfg, a.getAttribute("data-range"));
      });
    });
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
    miniMap(cfg);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
