// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    // selects that submit their form on change (sort order, plan filters)
    document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
      sel.addEventListener("change", function () { if (sel.form) sel.form.submit(); });
    });

    // forms that ask before doing something irreversible
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
      });
    });

    // copy buttons for API examples and new tokens
    document.querySelectorAll("[data-copy]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var el = document.getElementById(btn.getAttribute("data-copy"));
        if (!el || !navigator.clipboard) return;
        navigator.clipboard.writeText(el.textContent.trim()).then(function () {
          var old = btn.textContent;
          btn.textContent = "✓";
          setTimeout(function () { btn.textContent = old; }, 1200);
        });
      });
    });

    // form rows (data items, plan items): add and remove rows in place; without JavaScript the same buttons
    // submit the form and the server answers with the row added or removed
    document.querySelectorAll("button.row-add").forEach(function (btn) {
      btn.addEventListener("click", function (ev) {
        var tpl = document.getElementById(btn.getAttribute("data-template"));
        var body = document.querySelector('[data-rows="' + btn.getAttribute("data-target") + '"]');
        if (!tpl || !body || !tpl.content) return;
        ev.preventDefault();
        body.appendChild(tpl.content.cloneNode(true));
        var rows = body.querySelectorAll("tr");
        var first = rows[rows.length - 1].querySelector("input, select");
        if (first) first.focus();
      });
    });
    document.addEventListener("click", function (ev) {
      var btn = ev.target.closest ? ev.target.closest("button.row-remove") : null;
      if (!btn) return;
      var row = btn.closest("tr");
      if (!row) return;
      ev.preventDefault();
      var body = row.parentNode;
      row.remove();
      if (!body.querySelector("tr")) {  // keep one (empty) row to type into
        var add = document.querySelector('button.row-add[data-target="' + body.getAttribute("data-rows") + '"]');
        if (add) add.click();
      }
    });

    // mobile navigation
    var toggle = document.querySelector(".nav-toggle");
    var nav = document.getElementById("site-nav");
    if (toggle && nav) {
      toggle.addEventListener("click", function () {
        var open = nav.classList.toggle("open");
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
      });
    }
  });
})();
