// The resource page's live table: preview (paging, sorting, filters, search), column statistics, chart
// builder (Apache ECharts), API examples, downloads and the load-status poller. Everything goes through the
// native JSON API (/api/v1); the server has already rendered the first page, so this only enhances it.
(function () {
  "use strict";

  var cfgEl = document.getElementById("ds-config");
  if (!cfgEl) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var EN = cfg.lang === "en";
  var API = "/api/v1/resources/" + encodeURIComponent(cfg.rid) + "/datastore";
  var COLORS = ["#0b5cad", "#0f7c8c", "#2f855a", "#b7791f", "#6b46c1", "#c05621", "#3aa6b9", "#d53f8c",
    "#718096", "#9c4221"];
  var FONT = '"PingFang SC", "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif';
  var types = {};
  cfg.columns.forEach(function (c) { types[c.name] = c.type; });

  function T(zh) { return (cfg.text && cfg.text[zh] !== undefined) ? cfg.text[zh] : zh; }
  function $(id) { return document.getElementById(id); }
  function fmt(n) {
    if (n === null || n === undefined || n === "") return "";
    if (typeof n === "number") {
      if (Number.isInteger(n)) return n.toLocaleString(EN ? "en-US" : "zh-CN");
      return (Math.round(n * 10000) / 10000).toLocaleString(EN ? "en-US" : "zh-CN", { maximumFractionDigits: 4 });
    }
    return String(n);
  }
  function isNumeric(col) { return types[col] === "integer" || types[col] === "number"; }
  function q(value) { return encodeURIComponent(value).replace(/'/g, "%27"); }
  function query(pairs) {
    return pairs.map(function (p) { return q(p[0]) + "=" + q(p[1]); }).join("&");
  }
  function showError(el, message) {
    if (!el) return;
    el.textContent = message || "";
    el.hidden = !message;
  }

  // GET JSON; a failed call rejects with the API's message in the page's language
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (body) {
        if (resp.ok) return body;
        var err = body && body.error;
        var message = err ? (EN ? (err.message_en || err.message) : (err.message || err.message_en)) : "";
        if (err && err.fields) {
          var details = [];
          Object.keys(err.fields).forEach(function (k) { details.push(k + ": " + err.fields[k].join("; ")); });
          if (details.length && !message) message = details.join(" · ");
        }
        throw new Error(message || (T("请求失败") + " (HTTP " + resp.status + ")"));
      });
    });
  }

  // -- tabs ------------------------------------------------------------------------------------------------
  var tabsRoot = $("ds-tabs");
  var onShow = {};
  function showTab(name, push) {
    if (!tabsRoot) return;
    tabsRoot.querySelectorAll("[data-tab]").forEach(function (a) {
      var on = a.getAttribute("data-tab") === name;
      if (on) a.setAttribute("aria-current", "true"); else a.removeAttribute("aria-current");
      a.setAttribute("aria-selected", on ? "true" : "false");
    });
    tabsRoot.querySelectorAll("[data-panel]").forEach(function (p) {
      p.classList.toggle("active", p.getAttribute("data-panel") === name);
    });
    if (push) history.replaceState(null, "", location.pathname + location.search + "#tab-" + name);
    if (onShow[name]) onShow[name]();
    document.dispatchEvent(new CustomEvent("ds:tab", { detail: { name: name } }));  // map.js listens
  }
  if (tabsRoot) {
    tabsRoot.classList.add("js-tabs");
    tabsRoot.querySelectorAll("[data-tab]").forEach(function (a) {
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        showTab(a.getAttribute("data-tab"), true);
      });
    });
  }

  // -- preview ---------------------------------------------------------------------------------------------
  var state = {
    q: cfg.state.q || "", sort: cfg.state.sort || "", filters: cfg.state.filters || {},
    start: cfg.state.offset || 0, page: { cursor: null, offset: cfg.state.offset || 0 }, stack: [],
    total: null, next: null
  };

  function sortOf() {
    var s = state.sort.trim();
    if (!s) return { col: "", dir: "" };
    var m = /^"((?:[^"]|"")*)"\s*(asc|desc)?$/i.exec(s);
    if (m) return { col: m[1].replace(/""/g, '"'), dir: (m[2] || "asc").toLowerCase() };
    var i = s.lastIndexOf(" ");
    if (i < 0) return { col: s, dir: "asc" };
    return { col: s.slice(0, i), dir: s.slice(i + 1).toLowerCase() === "desc" ? "desc" : "asc" };
  }
  function sortValue(col, dir) {
    return (/^[^\s",]+$/.test(col) ? col : '"' + col.replace(/"/g, '""') + '"') + " " + dir;
  }
  // the preview's filters and search, for the point map (map.js)
  function currentView() { return { filters: state.filters, q: state.q }; }
  window.cityhubPreview = { view: currentView };
  function filterText() {
    return Object.keys(state.filters).length ? JSON.stringify(state.filters) : "";
  }
  // the query of the current view: [key, value] pairs (common to the native and CKAN calls)
  function viewPairs(withPaging) {
    var pairs = [];
    if (filterText()) pairs.push(["filters", filterText()]);
    if (state.q) pairs.push(["q", state.q]);
    if (withPaging) {
      pairs.push(["limit", String(cfg.limit)]);
      if (state.page.cursor) pairs.push(["cursor", state.page.cursor]);
      else if (state.page.offset) pairs.push(["offset", String(state.page.offset)]);
    }
    if (state.sort) pairs.push(["sort", state.sort]);
    return pairs;
  }

  function cellNode(value, type) {
    var td = document.createElement("td");
    if (type === "integer" || type === "number") td.className = "num";
    if (value === null || value === undefined) {
      var span = document.createElement("span");
      span.className = "null";
      span.textContent = "–";
      td.appendChild(span);
    } else if (type === "boolean") {
      td.textContent = value ? T("是") : T("否");
    } else if (type === "datetime") {
      td.textContent = String(value).replace("T", " ");
    } else {
      td.textContent = String(value);
    }
    return td;
  }

  function renderRows(body) {
    var tbody = $("preview-rows");
    tbody.textContent = "";
    if (!body.records.length) {
      var tr = document.createElement("tr");
      var td = document.createElement("td");
      td.colSpan = cfg.columns.length + 1;
      td.className = "empty";
      td.textContent = T("无数据");
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
    body.records.forEach(function (r) {
      var tr = document.createElement("tr");
      var no = document.createElement("td");
      no.className = "num rowno";
      no.textContent = r._id;
      tr.appendChild(no);
      cfg.columns.forEach(function (c) { tr.appendChild(cellNode(r[c.name], c.type)); });
      tbody.appendChild(tr);
    });
    state.total = body.total;
    state.next = body.next_cursor || null;
    var total = $("pv-total");
    if (total) total.querySelector("b").textContent = fmt(body.total);
    var count = body.records.length;
    $("pv-range").textContent = (count ? fmt(state.start + 1) : "0") + "–" + fmt(state.start + count) + " / " + fmt(body.total);
    $("pv-prev").hidden = state.start <= 0;
    $("pv-next").hidden = !(state.start + count < body.total);
  }

  function markSorted() {
    var s = sortOf();
    document.querySelectorAll("#preview-table th[data-col]").forEach(function (th) {
      var col = th.getAttribute("data-col");
      var arrow = th.querySelector(".arrow");
      if (col === s.col) {
        th.setAttribute("aria-sort", s.dir === "desc" ? "descending" : "ascending");
        arrow.textContent = s.dir === "desc" ? "▼" : "▲";
      } else {
        th.removeAttribute("aria-sort");
        arrow.textContent = "↕";
      }
    });
  }

  function syncUrl() {
    var pairs = [];
    if (state.q) pairs.push(["q", state.q]);
    Object.keys(state.filters).forEach(function (k) { pairs.push(["filter." + k, String(state.filters[k])]); });
    if (state.sort) pairs.push(["sort", state.sort]);
    if (state.start) pairs.push(["offset", String(state.start)]);
    var search = pairs.length ? "?" + query(pairs) : "";
    history.replaceState(null, "", location.pathname + search + location.hash);
  }

  function updateApi() {
    var base = cfg.base;
    var ckan = [["resource_id", cfg.rid]].concat(viewPairs(true));
    setCode("api-ckan", "curl '" + base + "/api/3/action/datastore_search?" + query(ckan) + "'");
    setCode("api-native", "curl '" + base + API + "/search?" + query(viewPairs(true)) + "'");
    var dl = $("dl-filtered");
    if (dl) {
      dl.querySelectorAll("a[data-format]").forEach(function (a) {
        var pairs = [["format", a.getAttribute("data-format")]];
        if (a.getAttribute("data-bom")) pairs.push(["bom", "true"]);
        a.href = API + "/download?" + query(pairs.concat(viewPairs(false)));
      });
    }
  }
  function setCode(id, text) {
    var el = $(id);
    if (el) (el.querySelector("code") || el).textContent = text;
  }

  var loadSeq = 0;
  function loadPreview() {
    var seq = ++loadSeq;
    var table = $("preview-table");
    table.classList.add("loading");
    table.setAttribute("aria-busy", "true");
    updateApi();
    markSorted();
    syncUrl();
    return getJSON(API + "/search?" + query(viewPairs(true))).then(function (body) {
      if (seq !== loadSeq) return;
      showError($("pv-error"), "");
      renderRows(body);
      document.dispatchEvent(new CustomEvent("ds:view", { detail: currentView() }));
    }).catch(function (err) {
      if (seq !== loadSeq) return;
      showError($("pv-error"), err.message);
    }).then(function () {
      if (seq !== loadSeq) return;
      table.classList.remove("loading");
      table.removeAttribute("aria-busy");
      table.setAttribute("data-loaded", "true");
    });
  }
  function restart() {
    state.start = 0;
    state.stack = [];
    state.page = { cursor: null, offset: 0 };
    return loadPreview();
  }

  if ($("preview-table") && cfg.live) {
    var form = $("preview-form");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      state.q = $("pv-q").value.trim();
      readFilters();
      restart();
    });
    $("pv-reset").addEventListener("click", function (ev) {
      ev.preventDefault();
      state.q = "";
      state.sort = "";
      state.filters = {};
      $("pv-q").value = "";
      document.querySelectorAll(".filter-row input").forEach(function (i) { i.value = ""; });
      restart();
    });
    var timer = null;
    function readFilters() {
      var f = {};
      document.querySelectorAll(".filter-row input[data-col]").forEach(function (i) {
        var v = i.value.trim();
        if (v !== "") f[i.getAttribute("data-col")] = v;
      });
      state.filters = f;
    }
    document.querySelectorAll(".filter-row input[data-col]").forEach(function (input) {
      input.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter") {
          ev.preventDefault();
          clearTimeout(timer);
          readFilters();
          restart();
        }
      });
      input.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(function () { readFilters(); restart(); }, 600);
      });
    });
    document.querySelectorAll("#preview-table th[data-col] .sort-link").forEach(function (a) {
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        var col = a.parentNode.getAttribute("data-col");
        var s = sortOf();
        state.sort = sortValue(col, s.col === col && s.dir === "asc" ? "desc" : "asc");
        var hidden = $("pv-sort");
        if (hidden) hidden.value = state.sort;
        restart();
      });
    });
    $("pv-next").addEventListener("click", function (ev) {
      ev.preventDefault();
      state.stack.push(state.page);
      var keyset = !state.sort && state.next;
      state.start += cfg.limit;
      state.page = keyset ? { cursor: state.next, offset: 0 } : { cursor: null, offset: state.start };
      loadPreview();
    });
    $("pv-prev").addEventListener("click", function (ev) {
      ev.preventDefault();
      state.start = Math.max(0, state.start - cfg.limit);
      state.page = state.stack.length ? state.stack.pop() : { cursor: null, offset: state.start };
      loadPreview();
    });
    // fetch the first page again through the API: the server already rendered it, this arms paging
    loadPreview();
  }

  // -- charts (ECharts) ------------------------------------------------------------------------------------
  var charts = {};
  function chartFor(id) {
    if (!window.echarts) return null;
    var el = $(id);
    if (!charts[id]) charts[id] = window.echarts.init(el, null, { renderer: "canvas" });
    return charts[id];
  }
  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (k) { charts[k].resize(); });
  });
  function baseOption() {
    return { color: COLORS, textStyle: { fontFamily: FONT }, animationDuration: 400,
      tooltip: { trigger: "axis", confine: true } };
  }
  function label(v) { return (v === null || v === undefined || v === "") ? T("(空)") : String(v); }
  function shortDate(v) {
    var s = String(v);
    return /^\d{4}-\d\d-\d\dT/.test(s) ? s.replace("T", " ").slice(0, 16) : s;
  }

  // -- column statistics -----------------------------------------------------------------------------------
  var statsLoaded = false;
  function loadStats() {
    var col = $("st-col").value;
    showError($("st-error"), "");
    $("st-out").setAttribute("aria-busy", "true");
    getJSON(API + "/stats?" + query([["column", col]])).then(renderStats).catch(function (err) {
      showError($("st-error"), err.message);
    }).then(function () { $("st-out").removeAttribute("aria-busy"); });
  }
  function renderStats(s) {
    var dl = $("st-out");
    dl.textContent = "";
    function row(name, value) {
      var dt = document.createElement("dt");
      dt.textContent = name;
      var dd = document.createElement("dd");
      dd.textContent = value;
      dl.appendChild(dt);
      dl.appendChild(dd);
    }
    row(T("类型"), (cfg.types && cfg.types[s.type]) || s.type);
    row(T("总行数"), fmt(s.rows));
    row(T("非空值"), fmt(s.count));
    row(T("空值"), fmt(s.nulls));
    row(T("不同值"), "≈ " + fmt(s.distinct));
    if (s.min !== null && s.min !== undefined) row(T("最小值"), typeof s.min === "number" ? fmt(s.min) : shortDate(s.min));
    if (s.max !== null && s.max !== undefined) row(T("最大值"), typeof s.max === "number" ? fmt(s.max) : shortDate(s.max));
    if (s.mean !== undefined && s.mean !== null) row(T("均值"), fmt(s.mean));
    dl.setAttribute("data-column", s.column);

    var top = $("st-top");
    top.textContent = "";
    if (s.top && s.top.length) {
      var h = document.createElement("h3");
      h.className = "dl-h";
      h.textContent = T("常见值");
      top.appendChild(h);
      var table = document.createElement("table");
      table.className = "table small";
      s.top.forEach(function (t) {
        var tr = document.createElement("tr");
        var a = document.createElement("td");
        a.textContent = label(t.value === true ? T("是") : t.value === false ? T("否") : t.value);
        var b = document.createElement("td");
        b.className = "num";
        b.textContent = fmt(t.count);
        tr.appendChild(a);
        tr.appendChild(b);
        table.appendChild(tr);
      });
      top.appendChild(table);
    }

    var chart = chartFor("st-chart");
    if (!chart) return;
    var opt = baseOption();
    var cats = [];
    var vals = [];
    if (s.histogram && s.histogram.length) {
      s.histogram.forEach(function (b) {
        var lo = typeof b[0] === "number" ? fmt(b[0]) : shortDate(b[0]);
        var hi = typeof b[1] === "number" ? fmt(b[1]) : shortDate(b[1]);
        cats.push(lo === hi ? lo : lo + " – " + hi);
        vals.push(b[2]);
      });
      opt.xAxis = { type: "category", data: cats, axisLabel: { formatter: function (v) { return v.split(" – ")[0]; } } };
      opt.series = [{ type: "bar", data: vals, barCategoryGap: "8%", name: T("次数") }];
    } else if (s.top && s.top.length) {
      s.top.forEach(function (t) { cats.push(label(t.value === true ? T("是") : t.value === false ? T("否") : t.value)); vals.push(t.count); });
      opt.xAxis = { type: "category", data: cats, axisLabel: { interval: 0, rotate: cats.length > 5 ? 30 : 0 } };
      opt.series = [{ type: "bar", data: vals, name: T("次数") }];
    } else {
      chart.clear();
      return;
    }
    opt.yAxis = { type: "value" };
    opt.grid = { left: 10, right: 16, top: 20, bottom: 10, containLabel: true };
    chart.setOption(opt, true);
    chart.resize();
  }
  if ($("st-col")) {
    $("st-col").addEventListener("change", loadStats);
    onShow.stats = function () {
      if (!statsLoaded) { statsLoaded = true; loadStats(); }
      if (charts["st-chart"]) charts["st-chart"].resize();
    };
  }

  // -- chart builder ---------------------------------------------------------------------------------------
  var districtCols = null;
  var geoReady = null;
  function detectDistricts() {
    if (districtCols) return Promise.resolve(districtCols);
    var candidates = cfg.columns.filter(function (c) { return c.type === "string"; }).slice(0, 15);
    return Promise.all(candidates.map(function (c) {
      return getJSON(API + "/stats?" + query([["column", c.name]])).then(function (s) {
        var top = (s.top || []).map(function (t) { return t.value; });
        var hits = top.filter(function (v) { return cfg.districts.indexOf(v) >= 0; }).length;
        return hits > 0 && hits >= Math.min(2, top.length) ? c.name : null;
      }).catch(function () { return null; });
    })).then(function (names) {
      districtCols = names.filter(Boolean);
      return districtCols;
    });
  }
  function loadGeo() {
    if (!geoReady) {
      geoReady = getJSON("/static-geo/guangzhou.json").then(function (geo) {
        window.echarts.registerMap("guangzhou", geo);
        return true;
      });
    }
    return geoReady;
  }

  function drawChart() {
    var chart = chartFor("ch-out");
    var errorBox = $("ch-error");
    if (!chart) { showError(errorBox, T("图表组件未加载")); return Promise.resolve(); }
    showError(errorBox, "");
    var type = $("ch-type").value;
    var x = $("ch-x").value;
    var fn = $("ch-fn").value;
    var col = $("ch-col").value;
    var series = $("ch-series").value;
    if (type === "map") {
      if (!districtCols || !districtCols.length) { showError(errorBox, T("地图需要一个行政区列")); return Promise.resolve(); }
      if (districtCols.indexOf(x) < 0) { x = districtCols[0]; $("ch-x").value = x; }
    }
    if (type === "pie" || type === "map" || series === x) series = "";
    var metric = fn === "count" ? "count" : fn + ":" + col;
    var key = fn === "count" ? "count" : fn + "_" + col;
    var limit = type === "line" || series ? 1000 : (type === "pie" ? 12 : 60);
    var pairs = [["group_by", x]];
    if (series) pairs.push(["group_by", series]);
    pairs.push(["metric", metric], ["limit", String(limit)]);
    if (filterText()) pairs.push(["filters", filterText()]);
    var metricLabel = (fn === "count" ? T("计数") : ({ sum: T("合计"), avg: T("平均"), min: T("最小"), max: T("最大") })[fn] + " · " + col);
    var out = $("ch-out");
    out.removeAttribute("data-drawn");
    var work = [getJSON(API + "/aggregate?" + query(pairs))];
    if (type === "map") work.push(loadGeo());
    return Promise.all(work).then(function (got) {
      var body = got[0];
      if (!body.records.length) { chart.clear(); showError(errorBox, T("没有可画的数据")); return; }
      var opt = baseOption();
      opt.title = { text: metricLabel + "  ·  " + x + (series ? " × " + series : ""), left: 0, top: 0,
        textStyle: { fontSize: 14, fontWeight: 600, color: "#1f2933", fontFamily: FONT } };
      var recs = body.records.slice();
      if (type === "line") {
        recs.sort(function (a, b) { return a[x] < b[x] ? -1 : a[x] > b[x] ? 1 : 0; });
      }
      if (type === "pie") {
        opt.tooltip = { trigger: "item", formatter: "{b}: {c} ({d}%)" };
        opt.series = [{ type: "pie", radius: ["35%", "68%"], center: ["50%", "56%"], avoidLabelOverlap: true,
          itemStyle: { borderColor: "#fff", borderWidth: 2 },
          label: { formatter: "{b}\n{d}%" },
          data: recs.map(function (r) { return { name: label(r[x]), value: r[key] }; }) }];
      } else if (type === "map") {
        var values = recs.filter(function (r) { return cfg.districts.indexOf(r[x]) >= 0; });
        var nums = values.map(function (r) { return r[key]; });
        opt.tooltip = { trigger: "item", formatter: function (p) { return p.name + ": " + (isNaN(p.value) ? "–" : fmt(p.value)); } };
        var lo = nums.length ? Math.min.apply(null, nums) : 0;
        var hi = nums.length ? Math.max.apply(null, nums) : 1;
        if (hi <= lo) hi = lo + 1;
        opt.visualMap = { min: Math.floor(lo), max: Math.ceil(hi), precision: fn === "avg" ? 1 : 0,
          left: 10, bottom: 10, calculable: true, text: [T("最大"), T("最小")],
          inRange: { color: ["#e4f3f1", "#8fd3c9", "#2b9aa8", "#0b5cad", "#0b3d6e"] } };
        opt.series = [{ type: "map", map: "guangzhou", roam: false, top: 40, bottom: 10,
          label: { show: true, fontSize: 11, color: "#1f2933", textBorderColor: "#fff", textBorderWidth: 2 },
          emphasis: { label: { show: true }, itemStyle: { areaColor: "#f6c667" } },
          itemStyle: { borderColor: "#fff", borderWidth: 1 },
          data: values.map(function (r) { return { name: r[x], value: r[key] }; }) }];
      } else if (series) {
        var totals = {};
        var seriesTotals = {};
        var cells = {};
        recs.forEach(function (r) {
          var a = label(r[x]);
          var b = label(r[series]);
          totals[a] = (totals[a] || 0) + (r[key] || 0);
          seriesTotals[b] = (seriesTotals[b] || 0) + (r[key] || 0);
          cells[a + "\u0000" + b] = r[key];
        });
        var xs = Object.keys(totals);
        if (type === "line") {
          xs = []; recs.forEach(function (r) { var a = label(r[x]); if (xs.indexOf(a) < 0) xs.push(a); });
        } else {
          xs.sort(function (a, b) { return totals[b] - totals[a]; });
          xs = xs.slice(0, 40);
        }
        var ss = Object.keys(seriesTotals).sort(function (a, b) { return seriesTotals[b] - seriesTotals[a]; }).slice(0, 10);
        opt.legend = { top: 26, type: "scroll" };
        opt.xAxis = { type: "category", data: xs, axisLabel: { rotate: xs.length > 8 ? 35 : 0 } };
        opt.yAxis = { type: "value" };
        opt.grid = { left: 10, right: 16, top: 64, bottom: 10, containLabel: true };
        opt.series = ss.map(function (b) {
          return { name: b, type: type, stack: type === "bar" ? "total" : undefined, smooth: type === "line",
            data: xs.map(function (a) { var v = cells[a + "\u0000" + b]; return v === undefined ? null : v; }) };
        });
      } else {
        var cats = recs.map(function (r) { return typeof r[x] === "string" ? shortDate(label(r[x])) : label(r[x]); });
        opt.xAxis = { type: "category", data: cats, axisLabel: { rotate: cats.length > 8 ? 35 : 0 } };
        opt.yAxis = { type: "value" };
        opt.grid = { left: 10, right: 16, top: 40, bottom: cats.length > 30 ? 40 : 10, containLabel: true };
        if (cats.length > 30) opt.dataZoom = [{ type: "slider", height: 18, bottom: 6 }, { type: "inside" }];
        opt.series = [{ name: metricLabel, type: type, smooth: type === "line", showSymbol: cats.length < 60,
          data: recs.map(function (r) { return r[key]; }), areaStyle: type === "line" ? { opacity: 0.08 } : undefined }];
      }
      out.classList.toggle("chart-map", type === "map");
      chart.setOption(opt, true);
      chart.resize();
      out.setAttribute("data-drawn", type);
      if (body.truncated) $("ch-hint").setAttribute("data-truncated", "true");
    }).catch(function (err) {
      showError(errorBox, err.message);
    });
  }

  if ($("chart-form")) {
    var fnSel = $("ch-fn");
    var colSel = $("ch-col");
    var numeric = cfg.columns.filter(function (c) { return isNumeric(c.name); });
    if (!numeric.length) {
      Array.prototype.forEach.call(fnSel.options, function (o) { if (o.value !== "count") o.disabled = true; });
    }
    fnSel.addEventListener("change", function () { colSel.disabled = fnSel.value === "count"; });
    $("ch-type").addEventListener("change", function () {
      var isMap = $("ch-type").value === "map";
      $("ch-series").disabled = isMap || $("ch-type").value === "pie";
      if (isMap && districtCols && districtCols.length && districtCols.indexOf($("ch-x").value) < 0) {
        $("ch-x").value = districtCols[0];
      }
    });
    $("chart-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      drawChart();
    });
    var chartStarted = false;
    onShow.chart = function () {
      if (charts["ch-out"]) charts["ch-out"].resize();
      if (chartStarted) return;
      chartStarted = true;
      var firstString = cfg.columns.filter(function (c) { return c.type === "string"; })[0];
      detectDistricts().then(function (found) {
        var opt = $("ch-type-map");
        if (found.length) {
          opt.hidden = false;
          opt.disabled = false;
          $("chart-form").setAttribute("data-district", found[0]);
        }
        var x = found[0] || (firstString && firstString.name);
        if (x && !$("chart-form").getAttribute("data-touched")) $("ch-x").value = x;
        $("chart-form").setAttribute("data-ready", "true");
        if (!$("ch-out").getAttribute("data-drawn")) drawChart();
      });
    };
    $("chart-form").addEventListener("change", function () { $("chart-form").setAttribute("data-touched", "1"); });
  }

  // -- load status -----------------------------------------------------------------------------------------
  var box = $("load-status");
  if (box && cfg.job && (cfg.job.status === "queued" || cfg.job.status === "running")) {
    var failures = 0;
    var poll = function () {
      getJSON("/api/v1/datastore/jobs/" + encodeURIComponent(cfg.job.id)).then(function (job) {
        failures = 0;
        var pct = Math.round(job.progress || 0);
        box.setAttribute("data-status", job.status);
        box.querySelector(".job-pct").textContent = pct + "%";
        var bar = box.querySelector(".progress");
        bar.setAttribute("aria-valuenow", String(pct));
        bar.querySelector("span").style.width = Math.min(pct, 100) + "%";
        box.querySelector(".job-stage").textContent = (cfg.stages && cfg.stages[job.stage]) || job.stage || "";
        var badge = box.querySelector(".job-status");
        badge.textContent = (cfg.statuses && cfg.statuses[job.status]) || job.status;
        var result = $("job-result");
        if (job.status === "complete") {
          badge.className = "badge job-status ok";
          result.textContent = T("已导入") + " " + fmt(job.rows) + " " + T("行") + " · " + T("正在刷新…");
          setTimeout(function () { location.reload(); }, 800);
        } else if (job.status === "failed" || job.status === "blocked") {
          badge.className = "badge job-status bad";
          result.textContent = "";
          var span = document.createElement("span");
          span.className = "job-error text-bad";
          span.id = "job-error";
          span.textContent = EN ? (job.error_en || job.error) : (job.error || job.error_en);
          result.appendChild(span);
          box.classList.add("status-" + job.status);
        } else {
          setTimeout(poll, 1000);
        }
      }).catch(function (err) {
        failures += 1;
        if (failures < 10) setTimeout(poll, 2000);
        else $("job-result").textContent = err.message;
      });
    };
    setTimeout(poll, 300);
  }

  // queryable first: the table is served with provisional types while the whole file is typed; show the
  // percentage and switch to the typed table when it is done
  var typingBox = $("typing-status");
  if (typingBox && cfg.typing && cfg.typing.state === "typing") {
    var typingFailures = 0;
    var pollTyping = function () {
      getJSON("/api/v1/datastore/jobs/" + encodeURIComponent(cfg.typing.version_id)).then(function (job) {
        typingFailures = 0;
        var pctBox = typingBox.querySelector(".typing-pct");
        if (pctBox) pctBox.textContent = String(Math.round(job.progress || 0));
        if (job.status === "complete") {
          setTimeout(function () { location.reload(); }, 500);
        } else if (job.status === "typing") {
          setTimeout(pollTyping, 1500);
        } else {
          typingBox.setAttribute("data-state", job.status);
          typingBox.textContent = T("列类型核对失败,类型为暂定,不符合的单元格显示为空。") + " " +
            (EN ? (job.error_en || job.error) : (job.error || job.error_en));
        }
      }).catch(function () {
        typingFailures += 1;
        if (typingFailures < 10) setTimeout(pollTyping, 3000);
      });
    };
    setTimeout(pollTyping, 800);
  }

  // the tab named in the address (#tab-chart), else the preview
  if (tabsRoot) {
    var m = /^#tab-(\w+)$/.exec(location.hash);
    showTab(m && tabsRoot.querySelector('[data-panel="' + m[1] + '"]') ? m[1] : "preview", false);
  }
})();
