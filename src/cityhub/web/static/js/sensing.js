// /sensing: the air-quality stations (coloured by AQI category) and the city's devices (coloured by state: normal,
// offline, or the severity of their worst active alarm) on the Guangzhou district map (WGS-84 boundaries from
// /static-geo). Live: the overview is fetched again every 15 s and at once when the alarm stream
// (/events/sensing/alarms) reports a change. No tiles, nothing from another host.
(function () {
  "use strict";
  var STATE_COLOURS = { ok: "#4caf50", offline: "#9aa5b1", warning: "#e6c229", minor: "#f08a24",
                        major: "#e4572e", critical: "#a4161a" };
  function stationData(stations) {
    return stations.filter(function (s) { return s.lon !== null && s.lat !== null; }).map(function (s) {
      return { name: s.name, value: [s.lon, s.lat, s.aqi], station: s, itemStyle: { color: s.colour || "#999" } };
    });
  }
  function deviceData(devices) {
    return devices.map(function (d) {
      return { name: d[4], value: [d[0], d[1]], device: d, itemStyle: { color: STATE_COLOURS[d[2]] || "#999" } };
    });
  }
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
            if (p.data && p.data.station) {
              var s = p.data.station;
              return s.name + "<br>AQI " + (s.aqi === null ? "—" : s.aqi) + " " + (s.category || "");
            }
            if (p.data && p.data.device) {
              var d = p.data.device;
              return d[4] + " (" + d[3] + ")<br>" + (cfg.states[d[2]] || d[2]);
            }
            return p.name;
          }
        },
        geo: { map: "guangzhou", roam: true, itemStyle: { areaColor: "#f3f5f7", borderColor: "#9aa5b1" } },
        series: [
          { type: "scatter", coordinateSystem: "geo", symbolSize: 5, data: deviceData(cfg.devices || []) },
          { type: "scatter", coordinateSystem: "geo", symbolSize: 14, data: stationData(cfg.stations) }
        ]
      });
      window.addEventListener("resize", function () { chart.resize(); });
      chart.on("click", function (p) {  // a station or device: its page
        var code = p.data && (p.data.station ? p.data.station.code : (p.data.device ? p.data.device[4] : null));
        if (code) window.location.href = "/sensing/devices/" + encodeURIComponent(code);
      });
      var busy = false;
      function refresh() {
        if (busy) return;
        busy = true;
        fetch("/api/sensing/overview", { credentials: "same-origin" }).then(function (r) { return r.json(); })
          .then(function (o) {
            var stations = o.stations.map(function (s) {
              return { name: s.name || s.code, code: s.code, lon: s.lon, lat: s.lat, aqi: s.aqi, colour: s.colour,
                       category: cfg.lang === "zh" ? s.category_zh : s.category_en };
            });
            var devices = o.map.filter(function (d) { return d.type !== "air_quality"; })
              .map(function (d) { return [d.lon, d.lat, d.state, d.type, d.code]; });
            chart.setOption({ series: [{ data: deviceData(devices) }, { data: stationData(stations) }] });
            function put(id, v) { var e = document.getElementById(id); if (e && v !== undefined && v !== null) e.textContent = v; }
            put("s-devices", o.devices);
            put("s-online", o.online_last_hour);
            put("s-dead", o.dead_letters_24h);
            put("s-values", o.values_stored);
            Object.keys(o.alarms_active).forEach(function (k) { put("s-alarm-" + k, o.alarms_active[k]); });
          }).catch(function () { /* the next round retries */ }).then(function () { busy = false; });
      }
      setInterval(refresh, 15000);
      if (cfg.alarm_stream && window.EventSource) {  // government users: the alarm stream
        var es = new EventSource("/events/sensing/alarms");
        es.onmessage = refresh;
        es.addEventListener("alarm", refresh);
      }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
