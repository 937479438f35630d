// The resource page's maps (Apache ECharts, offline): a stored GeoJSON file's features on the district map with a
// feature table beside it, and the point map of a table whose columns hold coordinates. The base layer is the 11
// districts' boundaries in WGS-84 (/static-geo/guangzhou.json); data in GCJ-02 (AMap, Tencent) or BD-09 (Baidu) is
// converted to WGS-84 for display (toWgs84, PRCoords' transforms). Nothing is loaded from another host. Data comes from the native API: /api/v1/resources/{id}/preview (GeoJSON,
// bounded on the server) and /api/v1/resources/{id}/datastore/search (the table, with the preview's filters).
(function () {
  "use strict";

  var cfgEl = document.getElementById("map-config");
  if (!cfgEl) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var EN = cfg.lang === "en";
  var FONT = '"PingFang SC", "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif';
  var PAGE = 100;  // rows of the feature table per page
  var SHOWN_PROPS = 6;  // property columns in the feature table
  var COLORS = { point: "#d9480f", line: "#0b5cad", fill: "rgba(15, 124, 140, 0.28)", stroke: "#0f7c8c",
    selected: "#f59f00" };

  function T(zh) { return (cfg.text && cfg.text[zh] !== undefined) ? cfg.text[zh] : zh; }
  // a wording with {placeholders} filled in: F("显示 {n} 个点", {n: 12})
  function F(zh, values) {
    return T(zh).replace(/\{(\w+)\}/g, function (m, k) { return values[k] === undefined ? m : values[k]; });
  }
  function $(id) { return document.getElementById(id); }
  function fmt(n) {
    if (typeof n !== "number") return n === null || n === undefined ? "" : String(n);
    return n.toLocaleString(EN ? "en-US" : "zh-CN", { maximumFractionDigits: 6 });
  }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function show(value) {
    if (value === null || value === undefined || value === "") return T("(空)");
    if (typeof value === "object") return JSON.stringify(value);
    return typeof value === "number" ? fmt(value) : String(value);
  }
  function showError(el, message) {
    if (!el) return;
    el.textContent = message || "";
    el.hidden = !message;
  }
  function q(value) { return encodeURIComponent(value).replace(/'/g, "%27"); }
  function query(pairs) { return pairs.map(function (p) { return q(p[0]) + "=" + q(p[1]); }).join("&"); }

  // GET JSON; a failed call rejects with the API's message in the page's language (and its HTTP status)
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (body) {
        if (resp.ok) return body;
        var err = body && body.error;
        var message = err ? (EN ? (err.message_en || err.message) : (err.message || err.message_en)) : "";
        var e = new Error(message || (T("请求失败") + " (HTTP " + resp.status + ")"));
        e.status = resp.status;
        throw e;
      });
    });
  }

  // -- the base layer ---------------------------------------------------------------------------------------
  var bases = {};
  function walk(coords, fn) {
    if (typeof coords[0] === "number") { fn(coords); return; }
    for (var i = 0; i < coords.length; i++) walk(coords[i], fn);
  }
  function bboxOf(features) {
    var box = null;
    features.forEach(function (f) {
      if (!f.geometry) return;
      eachGeometry(f.geometry, function (g) {
        walk(g.coordinates, function (p) {
          if (!box) box = [p[0], p[1], p[0], p[1]];
          else box = [Math.min(box[0], p[0]), Math.min(box[1], p[1]), Math.max(box[2], p[0]), Math.max(box[3], p[1])];
        });
      });
    });
    return box;
  }
  function eachGeometry(g, fn) {
    if (g.type === "GeometryCollection") g.geometries.forEach(function (part) { eachGeometry(part, fn); });
    else fn(g);
  }
  function loadBase() {
    if (!bases.wgs84) {
      bases.wgs84 = getJSON(cfg.base).then(function (geo) {
        window.echarts.registerMap("guangzhou", geo);
        return { name: "guangzhou", bbox: bboxOf(geo.features) };
      });
    }
    return bases.wgs84;
  }

  // -- datums: the base layer is WGS-84; GCJ-02 and BD-09 data is moved onto it (a port of PRCoords, CC0,
  // the same transforms as cityhub.geo.to_wgs84: GCJ-02 inverted by iteration to about 0.1 mm) ---------------
  var GCJ_A = 6378245;
  var GCJ_EE = 0.00669342162296594323;
  function inChina(lng, lat) { return lat >= 0.8293 && lat <= 55.8271 && lng >= 72.004 && lng <= 137.8347; }
  function wgsToGcj(lng, lat) {
    if (!inChina(lng, lat)) return [lng, lat];
    var x = lng - 105;
    var y = lat - 35;
    var pi = Math.PI;
    var dLat = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) +
      (2 * Math.sin(x * 6 * pi) + 2 * Math.sin(x * 2 * pi) + 2 * Math.sin(y * pi) + 4 * Math.sin(y / 3 * pi) +
       16 * Math.sin(y / 12 * pi) + 32 * Math.sin(y / 30 * pi)) * 20 / 3;
    var dLng = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) +
      (2 * Math.sin(x * 6 * pi) + 2 * Math.sin(x * 2 * pi) + 2 * Math.sin(x * pi) + 4 * Math.sin(x / 3 * pi) +
       15 * Math.sin(x / 12 * pi) + 30 * Math.sin(x / 30 * pi)) * 20 / 3;
    var rad = lat * pi / 180;
    var magic = 1 - GCJ_EE * Math.pow(Math.sin(rad), 2);
    var latLen = (GCJ_A * (1 - GCJ_EE)) / Math.pow(magic, 1.5) * pi / 180;
    var lngLen = GCJ_A * Math.cos(rad) / Math.sqrt(magic) * pi / 180;
    return [lng + dLng / lngLen, lat + dLat / latLen];
  }
  function gcjToWgs(lng, lat) {
    if (!inChina(lng, lat)) return [lng, lat];
    var g = wgsToGcj(lng, lat);
    var w = [2 * lng - g[0], 2 * lat - g[1]];
    for (var i = 0; i < 10; i++) {
      var d = wgsToGcj(w[0], w[1]);
      var dx = d[0] - lng;
      var dy = d[1] - lat;
      w = [w[0] - dx, w[1] - dy];
      if (Math.sqrt(dx * dx + dy * dy) < 1e-9) break;
    }
    return w;
  }
  function bdToGcj(lng, lat) {
    var x = lng - 0.0065;
    var y = lat - 0.006;
    var r = Math.sqrt(x * x + y * y) - 0.00002 * Math.sin(y * Math.PI / 180 * 3000);
    var t = Math.atan2(y, x) - 0.000003 * Math.cos(x * Math.PI / 180 * 3000);
    return [r * Math.cos(t), r * Math.sin(t)];
  }
  function toWgs84(lng, lat, datum) {
    if (datum === "gcj02") return gcjToWgs(lng, lat);
    if (datum === "bd09") { var g = bdToGcj(lng, lat); return gcjToWgs(g[0], g[1]); }
    return [lng, lat];
  }
  window.cityhubDatum = { toWgs84: toWgs84 };  // for the browser tests
  // a GeoJSON geometry (a copy) with its positions in WGS-84
  function geometryToWgs84(g, datum) {
    if (!g || datum === "wgs84") return g;
    if (g.type === "GeometryCollection") {
      return { type: g.type, geometries: g.geometries.map(function (part) { return geometryToWgs84(part, datum); }) };
    }
    function conv(c) {
      if (typeof c[0] === "number") return toWgs84(c[0], c[1], datum);
      return c.map(conv);
    }
    return { type: g.type, coordinates: conv(g.coordinates) };
  }
  function featuresToWgs84(features, datum) {
    if (datum === "wgs84") return features;
    return features.map(function (f) {
      return { type: "Feature", properties: f.properties, geometry: geometryToWgs84(f.geometry, datum) };
    });
  }

  // centre and zoom that fit the data's extent (the geo component's zoom 1 shows the whole base layer)
  function fit(box, base) {
    if (!box || !base.bbox) return { center: null, zoom: 1 };
    var bw = base.bbox[2] - base.bbox[0];
    var bh = base.bbox[3] - base.bbox[1];
    var dw = Math.max(box[2] - box[0], 0.004);
    var dh = Math.max(box[3] - box[1], 0.004);
    var zoom = Math.max(0.25, Math.min(400, Math.min(bw / dw, bh / dh) * 0.85));
    return { center: [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], zoom: zoom };
  }
  function geoComponent(base, view) {
    var lat = view.center ? view.center[1] : (base.bbox ? (base.bbox[1] + base.bbox[3]) / 2 : 23);
    var geo = {
      map: base.name, roam: true, zoom: view.zoom, scaleLimit: { min: 0.2, max: 5000 },
      aspectScale: Math.cos(lat * Math.PI / 180), top: 16, bottom: 16, left: 16, right: 16,
      label: { show: true, color: "#8795a6", fontSize: 11, fontFamily: FONT },
      itemStyle: { areaColor: "#eef2f6", borderColor: "#9aa9b8", borderWidth: 1 },
      silent: true, emphasis: { disabled: true }, select: { disabled: true }
    };
    if (EN && cfg.district_names) geo.nameMap = cfg.district_names;
    if (view.center) geo.center = view.center;
    return geo;
  }
  function chartOn(el) {
    if (!window.echarts) return null;
    var chart = window.echarts.getInstanceByDom(el) || window.echarts.init(el, null, { renderer: "canvas" });
    window.addEventListener("resize", function () { chart.resize(); });
    return chart;
  }
  function datumOf(select, fallback) {
    var value = select && select.value;
    return cfg.datums.indexOf(value) >= 0 ? value : fallback;
  }

  // -- GeoJSON preview --------------------------------------------------------------------------------------
  var geoBox = $("geo-preview");
  var geoState = { features: [], selected: -1, page: 0, chart: null, keys: [] };

  function geomLabel(type) {
    if (!type) return "–";
    if (/Point/.test(type)) return T("点位");
    if (/LineString/.test(type)) return T("线");
    if (/Polygon/.test(type)) return T("面");
    return T("其他");
  }

  // the features as ECharts data: points (scatter), lines (lines, polyline) and polygons (custom paths)
  function geoSeriesData(features) {
    var points = [];
    var lines = [];
    var polys = [];
    features.forEach(function (f, i) {
      if (!f.geometry) return;
      eachGeometry(f.geometry, function (g) {
        var c = g.coordinates;
        if (g.type === "Point") points.push({ value: c, f: i });
        else if (g.type === "MultiPoint") c.forEach(function (p) { points.push({ value: p, f: i }); });
        else if (g.type === "LineString") lines.push({ coords: c, f: i });
        else if (g.type === "MultiLineString") c.forEach(function (l) { lines.push({ coords: l, f: i }); });
        else if (g.type === "Polygon") polys.push({ value: c[0][0], rings: c, f: i });
        else if (g.type === "MultiPolygon") c.forEach(function (p) { polys.push({ value: p[0][0], rings: p, f: i }); });
      });
    });
    return { points: points, lines: lines, polys: polys };
  }
  function polygonSeries(id, polys, fill, stroke, width) {
    return {
      id: id, type: "custom", coordinateSystem: "geo", data: polys, z: 3,
      renderItem: function (params, api) {
        var poly = polys[params.dataIndex];
        var d = "";
        var box = [Infinity, Infinity, -Infinity, -Infinity];
        poly.rings.forEach(function (ring) {
          ring.forEach(function (pt, k) {
            var xy = api.coord(pt);
            box = [Math.min(box[0], xy[0]), Math.min(box[1], xy[1]), Math.max(box[2], xy[0]), Math.max(box[3], xy[1])];
            d += (k ? "L" : "M") + xy[0].toFixed(1) + " " + xy[1].toFixed(1);
          });
          d += "Z";
        });
        if (box[2] - box[0] < 5 && box[3] - box[1] < 5) {  // too small to see at this zoom: a dot marks it
          return { type: "circle", shape: { cx: (box[0] + box[2]) / 2, cy: (box[1] + box[3]) / 2, r: width > 1 ? 6 : 3.5 },
            style: { fill: stroke, stroke: "#fff", lineWidth: 0.5 } };
        }
        return { type: "path", shape: { pathData: d }, style: { fill: fill, stroke: stroke, lineWidth: width } };
      }
    };
  }
  function featureSeries(data, prefix, selected) {
    var color = selected ? COLORS.selected : null;
    return [
      polygonSeries(prefix + "polys", data.polys, selected ? "rgba(245, 159, 0, 0.45)" : COLORS.fill,
        color || COLORS.stroke, selected ? 2.5 : 1),
      { id: prefix + "lines", type: "lines", coordinateSystem: "geo", polyline: true, data: data.lines, z: 4,
        lineStyle: { color: color || COLORS.line, width: selected ? 4 : 2, opacity: 0.9 } },
      { id: prefix + "points", type: "scatter", coordinateSystem: "geo", data: data.points, z: 5,
        symbolSize: selected ? 14 : (data.points.length > 1000 ? 5 : 8),
        itemStyle: { color: color || COLORS.point, borderColor: "#fff", borderWidth: selected ? 2 : 0.5 } }
    ];
  }
  function propsHtml(f, index) {
    var props = f.properties || {};
    var keys = Object.keys(props);
    var head = "<b>#" + (index + 1) + "</b> <span class=\"geom-badge\">" + esc(f.geometry ? f.geometry.type : "null") +
      "</span>";
    if (!keys.length) return head + "<br><span class=\"muted\">" + esc(T("无属性")) + "</span>";
    return head + "<br>" + keys.slice(0, 12).map(function (k) {
      return esc(k) + ": <b>" + esc(show(props[k])) + "</b>";
    }).join("<br>") + (keys.length > 12 ? "<br>…" : "");
  }
  function renderProps(index) {
    var box = $("geo-props");
    var f = geoState.features[index];
    box.textContent = "";
    var h = document.createElement("h3");
    h.textContent = T("属性") + " · #" + (index + 1) + " · " + (f.geometry ? f.geometry.type : "null");
    box.appendChild(h);
    var props = f.properties || {};
    var keys = Object.keys(props);
    if (!keys.length) {
      var p = document.createElement("p");
      p.className = "muted";
      p.textContent = T("无属性");
      box.appendChild(p);
      return;
    }
    var dl = document.createElement("dl");
    keys.forEach(function (k) {
      var dt = document.createElement("dt");
      dt.textContent = k;
      var dd = document.createElement("dd");
      dd.textContent = show(props[k]);
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
    box.appendChild(dl);
  }
  function renderTable() {
    var table = $("geo-table");
    var feats = geoState.features;
    var keys = geoState.keys.slice(0, SHOWN_PROPS);
    var thead = table.querySelector("thead");
    var tbody = table.querySelector("tbody");
    thead.textContent = "";
    tbody.textContent = "";
    var tr = document.createElement("tr");
    ["#", T("要素")].concat(keys).forEach(function (k) {
      var th = document.createElement("th");
      th.textContent = k;
      tr.appendChild(th);
    });
    thead.appendChild(tr);
    var start = geoState.page * PAGE;
    feats.slice(start, start + PAGE).forEach(function (f, j) {
      var i = start + j;
      var row = document.createElement("tr");
      row.setAttribute("data-f", String(i));
      if (i === geoState.selected) row.className = "selected";
      var cells = [String(i + 1), geomLabel(f.geometry && f.geometry.type)];
      keys.forEach(function (k) { cells.push(show((f.properties || {})[k])); });
      cells.forEach(function (text, n) {
        var td = document.createElement("td");
        td.textContent = text;
        if (n === 0) td.className = "num";
        td.title = text;
        row.appendChild(td);
      });
      row.addEventListener("click", function () { selectFeature(i, true); });
      tbody.appendChild(row);
    });
    var pages = Math.ceil(feats.length / PAGE);
    $("geo-pager").hidden = pages <= 1;
    $("geo-range").textContent = fmt(start + 1) + "–" + fmt(Math.min(start + PAGE, feats.length)) + " / " +
      fmt(feats.length);
    $("geo-prev").hidden = geoState.page <= 0;
    $("geo-next").hidden = geoState.page >= pages - 1;
  }
  function selectFeature(index, fromTable) {
    var f = geoState.features[index];
    if (!f) return;
    geoState.selected = index;
    var page = Math.floor(index / PAGE);
    if (page !== geoState.page) { geoState.page = page; renderTable(); }
    document.querySelectorAll("#geo-table tbody tr").forEach(function (row) {
      var on = row.getAttribute("data-f") === String(index);
      row.classList.toggle("selected", on);
      if (on && !fromTable) row.scrollIntoView({ block: "nearest" });
    });
    renderProps(index);
    var chart = geoState.chart;
    if (!chart) return;
    var shown = (geoState.shown || geoState.features)[index];
    var option = { series: featureSeries(remap(shown, index), "sel-", true) };
    if (fromTable) {
      var box = bboxOf([shown]);
      if (box) option.geo = { center: [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2] };
    }
    chart.setOption(option);
    $("geo-map").setAttribute("data-selected", String(index));
  }
  // the selected feature alone, keeping its index for the tooltip
  function remap(f, index) {
    var data = geoSeriesData([f]);
    [data.points, data.lines, data.polys].forEach(function (list) { list.forEach(function (d) { d.f = index; }); });
    return data;
  }

  function notesOf(body) {
    var box = $("geo-notes");
    box.textContent = "";
    (body.notes || []).forEach(function (n) {
      var p = document.createElement("p");
      p.textContent = EN ? n.message_en : n.message;
      box.appendChild(p);
    });
    box.hidden = !(body.notes && body.notes.length);
  }
  function countOf(body) {
    var types = body.geometry_types || {};
    var parts = [];
    var groups = {};
    Object.keys(types).forEach(function (t) {
      var label = t === "null" ? "null" : geomLabel(t);
      groups[label] = (groups[label] || 0) + types[t];
    });
    Object.keys(groups).forEach(function (k) { parts.push(k + " " + fmt(groups[k])); });
    return "· " + F("{n} 个要素", { n: fmt(body.count) }) + (parts.length ? " (" + parts.join(" · ") + ")" : "");
  }

  function drawGeo(body) {
    var el = $("geo-map");
    var chart = geoState.chart || chartOn(el);
    if (!chart) { showError($("geo-error"), T("地图组件未加载")); return Promise.resolve(); }
    geoState.chart = chart;
    var datum = datumOf($("geo-datum"), "wgs84");
    return loadBase().then(function (base) {
      var shown = featuresToWgs84(body.features, datum);  // the base layer is WGS-84: the data moves onto it
      geoState.shown = shown;
      var data = geoSeriesData(shown);
      var option = {
        textStyle: { fontFamily: FONT }, animation: false,
        tooltip: { trigger: "item", confine: true, className: "map-tooltip", formatter: function (p) {
          var i = p.data && p.data.f;
          return i === undefined ? "" : propsHtml(geoState.features[i], i);
        } },
        geo: geoComponent(base, fit(datum === "wgs84" ? body.bbox : bboxOf(shown), base)),
        series: featureSeries(data, "", false).concat(featureSeries({ points: [], lines: [], polys: [] }, "sel-", true))
      };
      chart.setOption(option, true);
      chart.resize();
      el.setAttribute("data-drawn", "geojson");
      el.setAttribute("data-features", String(body.count));
      el.setAttribute("data-datum", datum);
    });
  }

  function startGeo() {
    var el = $("geo-map");
    el.setAttribute("aria-busy", "true");
    getJSON(cfg.preview).then(function (body) {
      geoBox.hidden = false;
      geoState.features = body.features;
      geoState.keys = body.properties || [];
      geoState.page = 0;
      $("geo-count").textContent = countOf(body);
      notesOf(body);
      renderTable();
      geoState.body = body;
      return drawGeo(body).then(function () {
        geoState.chart.on("click", function (p) {
          if (p.data && p.data.f !== undefined) selectFeature(p.data.f, false);
        });
      });
    }).catch(function (err) {
      if (cfg.geo === "maybe" && err.status === 422) {  // a .json file that is not GeoJSON: no map, no fuss
        geoBox.hidden = true;
        return;
      }
      geoBox.hidden = false;
      showError($("geo-error"), err.message);
      el.setAttribute("data-error", "true");
    }).then(function () { el.removeAttribute("aria-busy"); });
  }

  if (geoBox && cfg.geo) {
    $("geo-prev").addEventListener("click", function (ev) {
      ev.preventDefault();
      geoState.page = Math.max(0, geoState.page - 1);
      renderTable();
    });
    $("geo-next").addEventListener("click", function (ev) {
      ev.preventDefault();
      geoState.page += 1;
      renderTable();
    });
    $("geo-datum").addEventListener("change", function () {
      if (geoState.body) drawGeo(geoState.body).then(function () {
        if (geoState.selected >= 0) selectFeature(geoState.selected, false);
      });
    });
    startGeo();
  }

  // -- point map of a table ---------------------------------------------------------------------------------
  var pm = cfg.points;
  var pmState = { drawn: false, dirty: true, seq: 0, chart: null };

  var WKT = /^\s*(?:SRID=\d+;)?\s*POINT\s*Z?M?\s*\(\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s+([-+]?[\d.]+(?:[eE][-+]?\d+)?)/i;
  var PAIR = /^\s*[\[(]?\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*[,，;\s]\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*[\])]?\s*$/;
  function num(v) {
    if (typeof v === "number") return isFinite(v) ? v : null;
    if (typeof v === "string" && v.trim() !== "" && isFinite(Number(v))) return Number(v);
    return null;
  }
  // [lng, lat] of a row, or null
  function pointOf(row) {
    var lng;
    var lat;
    if (pm.kind === "columns") {
      lng = num(row[pm.lng]);
      lat = num(row[pm.lat]);
    } else {
      var m = typeof row[pm.column] === "string" ? (pm.kind === "wkt" ? WKT : PAIR).exec(row[pm.column]) : null;
      if (!m) return null;
      lng = Number(m[1]);
      lat = Number(m[2]);
      if (pm.order === "latlng") { var t = lng; lng = lat; lat = t; }
    }
    if (lng === null || lat === null || !isFinite(lng) || !isFinite(lat)) return null;
    if (Math.abs(lng) > 180 || Math.abs(lat) > 90 || (lng === 0 && lat === 0)) return null;
    return [lng, lat];
  }

  function drawPoints() {
    var el = $("pm-map");
    var chart = pmState.chart || chartOn(el);
    if (!chart) { showError($("pm-error"), T("地图组件未加载")); return; }
    pmState.chart = chart;
    pmState.dirty = false;
    var seq = ++pmState.seq;
    var view = window.cityhubPreview ? window.cityhubPreview.view() : { filters: {}, q: "" };
    var valueCol = $("pm-value").value;
    var fields = pm.kind === "columns" ? [pm.lng, pm.lat] : [pm.column];
    if (pm.label) fields.push(pm.label);
    if (valueCol) fields.push(valueCol);
    var pairs = [["limit", String(pm.limit)], ["include_total", "true"]];
    if (!fields.some(function (f) { return f.indexOf(",") >= 0; })) pairs.push(["fields", fields.join(",")]);
    if (view.filters && Object.keys(view.filters).length) pairs.push(["filters", JSON.stringify(view.filters)]);
    if (view.q) pairs.push(["q", view.q]);
    var datum = datumOf($("pm-datum"), pm.datum || "wgs84");
    showError($("pm-error"), "");
    el.setAttribute("aria-busy", "true");
    el.removeAttribute("data-drawn");
    var url = "/api/v1/resources/" + encodeURIComponent(cfg.rid) + "/datastore/search?" + query(pairs);
    Promise.all([getJSON(url), loadBase()]).then(function (got) {
      if (seq !== pmState.seq) return;
      var body = got[0];
      var base = got[1];
      var pts = [];
      var missing = 0;
      var hi = -Infinity;
      body.records.forEach(function (r) {
        var p = pointOf(r);
        if (!p) { missing += 1; return; }
        var v = valueCol ? num(r[valueCol]) : null;
        if (v !== null) hi = Math.max(hi, v);
        var w = toWgs84(p[0], p[1], datum);  // drawn on the WGS-84 base layer; the tooltip says the row's own
        pts.push({ value: [w[0], w[1], v], raw: p, name: pm.label ? show(r[pm.label]) : "" });
      });
      var total = body.total;
      var parts = [F("显示 {n} 个点", { n: fmt(pts.length) })];
      if (total !== null && total > body.records.length) {
        parts.push(F("取自前 {n} 行(共 {total} 行)", { n: fmt(body.records.length), total: fmt(total) }));
      }
      if (missing) parts.push(F("{n} 行没有坐标", { n: fmt(missing) }));
      $("pm-count").textContent = parts.join(" · ");
      if (!pts.length) {
        chart.clear();
        showError($("pm-error"), T("没有可画的点"));
        return;
      }
      var box = bboxOf([{ geometry: { type: "MultiPoint", coordinates: pts.map(function (d) { return d.value.slice(0, 2); }) } }]);
      // size and colour by quantile class of the chosen column (one huge value does not wash out the others)
      var breaks = valueCol && hi > -Infinity ? quantiles(pts.map(function (d) { return d.value[2]; }), 5) : null;
      var option = {
        textStyle: { fontFamily: FONT }, animation: false,
        tooltip: { trigger: "item", confine: true, className: "map-tooltip", formatter: function (p) {
          var d = p.data.value;
          var lines = [];
          if (p.data.name) lines.push("<b>" + esc(p.data.name) + "</b>");
          if (valueCol) lines.push(esc(valueCol) + ": " + esc(show(d[2])));
          var raw = p.data.raw || d;
          lines.push(esc(T("经度")) + " " + fmt(raw[0]) + ", " + esc(T("纬度")) + " " + fmt(raw[1]));
          return lines.join("<br>");
        } },
        geo: geoComponent(base, fit(box, base)),
        series: [{ type: "scatter", coordinateSystem: "geo", data: pts, z: 5, progressive: 2000,
          symbolSize: function (d) {
            if (!breaks || d[2] === null) return pts.length > 1000 ? 5 : 8;
            return 4 + 2.5 * classOf(breaks, d[2]);
          },
          itemStyle: { color: COLORS.point, opacity: 0.85, borderColor: "#fff", borderWidth: 0.5 } }]
      };
      if (breaks) {
        option.visualMap = { type: "piecewise", dimension: 2, seriesIndex: 0, left: 12, bottom: 12,
          itemWidth: 14, itemHeight: 10, textStyle: { fontSize: 11 }, outOfRange: { color: "#adb5bd" },
          pieces: breaks.slice(0, -1).map(function (b, i) {
            var last = i === breaks.length - 2;
            var piece = { gte: b, label: fmt(b) + " – " + fmt(breaks[i + 1]),
              color: CLASS_COLORS[Math.round(i * 4 / Math.max(1, breaks.length - 2))] };
            if (last) piece.lte = breaks[i + 1]; else piece.lt = breaks[i + 1];
            return piece;
          }) };
      }
      chart.setOption(option, true);
      chart.resize();
      el.setAttribute("data-drawn", "points");
      el.setAttribute("data-points", String(pts.length));
      el.setAttribute("data-datum", datum);
    }).catch(function (err) {
      if (seq !== pmState.seq) return;
      showError($("pm-error"), err.message);
    }).then(function () { el.removeAttribute("aria-busy"); });
  }

  var CLASS_COLORS = ["#fdbe85", "#fd8d3c", "#e6550d", "#a63603", "#5c1a02"];
  // up to n+1 distinct class breaks (min … max) at the quantiles of the values
  function quantiles(values, n) {
    var v = values.filter(function (x) { return x !== null; }).sort(function (a, b) { return a - b; });
    var out = [];
    for (var i = 0; i <= n; i++) {
      var b = v[Math.min(v.length - 1, Math.round(i * (v.length - 1) / n))];
      if (!out.length || b > out[out.length - 1]) out.push(b);
    }
    if (out.length === 1) out.push(out[0]);
    return out;
  }
  function classOf(breaks, x) {
    for (var i = 1; i < breaks.length - 1; i++) if (x < breaks[i]) return i - 1;
    return breaks.length - 2;
  }

  function mapTabShown() {
    var panel = $("tab-map");
    return panel && panel.classList.contains("active");
  }
  if (pm && $("pm-map")) {
    if (pm.datum && $("pm-datum")) $("pm-datum").value = pm.datum;
    document.addEventListener("ds:tab", function (ev) {
      if (ev.detail.name !== "map") return;
      if (pmState.dirty) drawPoints(); else if (pmState.chart) pmState.chart.resize();
    });
    document.addEventListener("ds:view", function () {
      pmState.dirty = true;
      if (mapTabShown()) drawPoints();
    });
    $("pm-value").addEventListener("change", drawPoints);
    $("pm-datum").addEventListener("change", drawPoints);
    if (mapTabShown()) drawPoints();  // the address named the tab (#tab-map)
  }
})();
