// /sensing/devices/{code}: one ECharts chart per attribute of the device — 24 h of raw readings, 7 d of hourly or
// 30 d of daily aggregates (mean with min and max) from /api/sensing/devices/{code}/chart — switchable without
// reloading the page, and the device's place on the Guangzhou district map (/static-geo). Live: the device's event
// stream (/events/sensing/devices/{code}, server-sent events, the same visibility rule as the page) updates the
// latest values in place, appends new readings to the 24 h charts and, on an alarm change, reads the device again
// (/api/sensing/devices/{code}) for its state and open alarms; the badge says 实时 / Live or 已断开 / Disconnected.
// Nothing from another host.
(function () {
  "use strict";
  var charts = [];
  var byAttr = {};    // attribute → its ECharts instance (the charts drawn now)
  var current = null; // the chart data drawn now (cfg.series, then what a range switch fetched)
  var AXIS = new Intl.DateTimeFormat("en-GB", { timeZone: "Asia/Shanghai", month: "numeric", day: "2-digit",
                                                hour: "2-digit", minute: "2-digit", hour12: false });
  function fmtTime(iso, range) {  // axis labels in Guangzhou time, as every other time on the page
    var p = {};
    AXIS.formatToParts(new Date(iso)).forEach(function (x) { p[x.type] = x.value; });
    var day = p.month + "-" + p.day;
    return range === "30d" ? day : day + " " + (p.hour === "24" ? "00" : p.hour) + ":" + p.minute;
  }
  function render(box, cfg, data) {
    charts.forEach(function (c) { c.dispose(); });
    charts = [];
    byAttr = {};
    current = data;
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
        series = [{ type: "line", name: s.attribute, step: step, showSymbol: s.points.length < 2,  // one point: a dot
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
      byAttr[s.attribute] = chart;
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
  var SH = new Intl.DateTimeFormat("en-GB", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit",
                                              day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false });
  function localTime(iso) {  // as the page's "local" filter: YYYY-MM-DD HH:MM in Asia/Shanghai
    var p = {};
    SH.formatToParts(new Date(iso)).forEach(function (x) { p[x.type] = x.value; });
    return p.year + "-" + p.month + "-" + p.day + " " + (p.hour === "24" ? "00" : p.hour) + ":" + p.minute;
  }
  function shown(v) {  // as the server renders a value (Python's str): 30.0, True
    if (typeof v === "boolean") return v ? "True" : "False";
    if (typeof v === "number" && Number.isInteger(v)) return v.toFixed(1);
    return String(v);
  }
  function flash(el) {
    el.classList.remove("live-changed");
    void el.offsetWidth;
    el.classList.add("live-changed");
  }
  function onReadings(box, cfg, ev) {
    Object.keys(ev.latest).forEach(function (attr) {
      var l = ev.latest[attr];
      var tsCell = document.querySelector('#attribute-table td[data-ts-attr="' + attr + '"]');
      var valCell = document.querySelector('#attribute-table td[data-attr="' + attr + '"]');
      if (!tsCell || !valCell) return;
      var before = tsCell.getAttribute("data-ts");
      if (before && Date.parse(before) > Date.parse(l.ts)) return;  // a late reading: not the latest value
      valCell.textContent = shown(l.value);
      tsCell.setAttribute("data-ts", l.ts);
      tsCell.textContent = localTime(l.ts);
      flash(valCell);
    });
    var seen = document.getElementById("device-last-seen");
    if (seen) seen.textContent = localTime(new Date().toISOString());
    if (!current || current.resolution !== "raw") return;  // 7 d / 30 d: aggregates, not raw points
    var cutoff = Date.now() - 24 * 3600 * 1000;
    var redraw = false;
    current.series.forEach(function (s) {
      var fresh = ev.points[s.attribute];
      if (!fresh || !fresh.length) return;
      var known = {};
      s.points.forEach(function (p) { known[Date.parse(p[0])] = true; });
      fresh.forEach(function (p) { if (!known[Date.parse(p[0])]) s.points.push([p[0], p[1]]); });
      s.points.sort(function (a, b) { return Date.parse(a[0]) - Date.parse(b[0]); });
      s.points = s.points.filter(function (p) { return Date.parse(p[0]) >= cutoff; });
      var chart = byAttr[s.attribute];
      if (chart) chart.setOption({ series: [{ showSymbol: s.points.length < 2,
                                              data: s.points.map(function (p) { return [p[0], p[1]]; }) }] });
      else redraw = true;  // its first points: draw the charts again
    });
    if (redraw) render(box, cfg, current);
    var total = 0;
    current.series.forEach(function (s) { total += s.points.length; });
    box.setAttribute("data-points", String(total));
  }
  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text;
    return td;
  }
  function onAlarm(cfg) {  // the device again, as device_show lets this visitor see it: state and open alarms
    fetch("/api/sensing/devices/" + encodeURIComponent(cfg.code), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (d) {
        var state = document.getElementById("device-state");
        if (state) {
          state.setAttribute("data-state", d.state);
          state.textContent = (cfg.state_labels[d.state] || d.state) +
            (d.worst_severity ? " · " + (cfg.severity_labels[d.worst_severity] || d.worst_severity) : "");
          var boxEl = document.getElementById("device-state-box");
          if (boxEl) boxEl.className = d.state === "ok" ? "ok" : (d.state === "alarm" ? "bad" : "info");
        }
        var body = document.querySelector("#device-alarms tbody");
        if (!body) return;
        body.innerHTML = "";
        d.alarms.forEach(function (a) {
          var tr = document.createElement("tr");
          var type = cell(a.type);
          type.setAttribute("translate", "no");
          tr.appendChild(type);
          tr.appendChild(cell(cfg.severity_labels[a.severity] || a.severity));
          tr.appendChild(cell(cfg.status_labels[a.status] || a.status));
          tr.appendChild(cell(localTime(a.first_seen)));
          tr.appendChild(cell(localTime(a.last_seen)));
          tr.appendChild(cell(String(a.count)));
          body.appendChild(tr);
        });
        if (!d.alarms.length) {
          var tr = document.createElement("tr");
          var td = cell(cfg.labels.no_alarms);
          td.colSpan = 6;
          td.className = "muted";
          tr.appendChild(td);
          body.appendChild(tr);
        }
      }).catch(function () { /* the next alarm event retries */ });
  }
  function live(box, cfg) {
    var badge = document.getElementById("device-live");
    if (!cfg.stream || !window.EventSource) return;
    function mark(on) {
      if (!badge) return;
      badge.setAttribute("data-state", on ? "on" : "off");
      badge.textContent = badge.getAttribute(on ? "data-on" : "data-off");
    }
    var es = new EventSource(cfg.stream);  // reconnects by itself after a drop or the stream's end
    es.onopen = function () { mark(true); };
    es.onerror = function () { mark(false); };
    es.addEventListener("readings", function (e) {
      var ev = JSON.parse(e.data);
      onReadings(box, cfg, ev);
      document.body.setAttribute("data-live-readings",
        String(Number(document.body.getAttribute("data-live-readings") || 0) + 1));
    });
    es.addEventListener("alarm", function () { onAlarm(cfg); });
    window.addEventListener("pagehide", function () { es.close(); });
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
    live(box, cfg);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
