// /sensing/alarms: the alarm console stays current — every change on the alarm stream (/events/sensing/alarms,
// server-sent events, government users) fetches this page again and swaps in its alarm table (same filters), so
// new, acknowledged and cleared alarms appear without a reload. The buttons stay plain CSRF-checked forms.
(function () {
  "use strict";
  function start() {
    var cfgEl = document.getElementById("alarm-config");
    var region = document.getElementById("alarm-region");
    if (!cfgEl || !region || !window.EventSource) return;
    var cfg = JSON.parse(cfgEl.textContent);
    var pending = null;
    function refresh() {
      pending = null;
      fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("alarm-region");
          var count = doc.getElementById("alarm-count");
          if (!fresh) return;
          region.innerHTML = fresh.innerHTML;
          if (count) document.getElementById("alarm-count").textContent = count.textContent;
          var live = document.getElementById("alarm-live");
          if (live) live.textContent = cfg.updated + " " + new Date().toLocaleTimeString();
        }).catch(function () { /* the next event retries */ });
    }
    var es = new EventSource(cfg.stream);
    es.addEventListener("alarm", function () {
      if (pending === null) pending = setTimeout(refresh, 300);  // a burst of changes: one refresh
    });
    es.onopen = function () { document.body.setAttribute("data-alarm-stream", "open"); };
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
