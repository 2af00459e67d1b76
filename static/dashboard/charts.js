// The overview's charts (issue 19, item 5): completed, failed and retried per point over
// 1 h, 24 h or 7 d, for one queue or all, and p50/p95/p99 of completed runs per task name.
// Data: the dashboard's JSON endpoint (dashboard/pages/charts.py); drawing: the vendored
// uPlot (static/vendor/uplot, docs/dashboard.md). No inline script or style: the CSP
// allows neither. The range and queue are kept in the page's URL (?range=&queue=).
(function () {
  "use strict";
  var REFRESH_MS = 15000;
  var HEIGHT = 220;

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    var root = document.getElementById("charts");
    if (!root || typeof uPlot === "undefined") return;
    var form = root.querySelector("form");
    var box = document.getElementById("throughput-chart");
    var status = document.getElementById("chart-status");
    var summary = document.getElementById("chart-summary");
    var tbody = document.querySelector("#durations tbody");
    var empty = document.getElementById("durations-empty");
    var plot = null;
    var pending = null;

    // The URL's ?range= and ?queue= choose the first view.
    var here = new URLSearchParams(window.location.search);
    if (here.get("range")) {
      var radio = form.querySelector('input[name="range"][value="' + CSS.escape(here.get("range")) + '"]');
      if (radio) radio.checked = true;
    }
    if (here.get("queue")) {
      var select = form.querySelector('select[name="queue"]');
      if (Array.prototype.some.call(select.options, function (o) { return o.value === here.get("queue"); })) {
        select.value = here.get("queue");
      }
    }

    function color(name, fallback) {
      var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
      return value || fallback;
    }

    function query() {
      var params = new URLSearchParams();
      var data = new FormData(form);
      params.set("range", data.get("range") || "1h");
      if (data.get("queue")) params.set("queue", data.get("queue"));
      return params;
    }

    function width() {
      return Math.max(box.clientWidth, 150);
    }

    function options(data) {
      var step = data.step_seconds;
      return {
        width: width(),
        height: HEIGHT,
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(max, 1)]; } } },
        axes: [
          { stroke: color("--bs-body-color", "#212529"), grid: { stroke: color("--bs-border-color", "#dee2e6"), width: 1 } },
          { stroke: color("--bs-body-color", "#212529"), grid: { stroke: color("--bs-border-color", "#dee2e6"), width: 1 },
            size: 44, values: function (u, ticks) { return ticks.map(function (v) { return Number.isInteger(v) ? v.toLocaleString() : ""; }); } },
        ],
        series: [
          { label: step >= 3600 ? "Hour" : "Minute" },
          { label: "Completed", stroke: color("--bs-success", "#198754"), width: 1.5, points: { show: false } },
          { label: "Failed", stroke: color("--bs-danger", "#dc3545"), width: 1.5, points: { show: false } },
          { label: "Retried", stroke: color("--bs-warning", "#ffc107"), width: 1.5, dash: [4, 3], points: { show: false } },
        ],
      };
    }

    function cell(row, text, className) {
      var td = document.createElement("td");
      if (className) td.className = className;
      td.textContent = text;
      row.append(td);
      return td;
    }

    function showDurations(rows) {
      tbody.replaceChildren();
      rows.forEach(function (r) {
        var tr = document.createElement("tr");
        tr.setAttribute("data-task-name", r.task_name);
        var th = document.createElement("th");
        th.scope = "row";
        th.className = "text-break fw-normal";
        var a = document.createElement("a");
        a.href = r.runs_url;
        var code = document.createElement("code");
        code.textContent = r.task_name;
        a.append(code);
        th.append(a);
        tr.append(th);
        cell(tr, r.runs.toLocaleString(), "text-end").setAttribute("data-label", "Runs");
        cell(tr, r.p50_text, "text-end").setAttribute("data-label", "p50");
        cell(tr, r.p95_text, "text-end").setAttribute("data-label", "p95");
        cell(tr, r.p99_text, "text-end").setAttribute("data-label", "p99");
        tbody.append(tr);
      });
      empty.hidden = rows.length > 0;
    }

    function draw(data) {
      var s = data.series;
      var rows = [s.t, s.completed, s.failed, s.retried];
      if (plot && plot.__range === data.range) {
        plot.setData(rows);
      } else {
        if (plot) plot.destroy();
        plot = new uPlot(options(data), rows, box);
        plot.__range = data.range;
      }
      var nonzero = 0;
      for (var i = 0; i < s.t.length; i++) {
        if (s.completed[i] || s.failed[i] || s.retried[i]) nonzero++;
      }
      box.setAttribute("data-range", data.range);
      box.setAttribute("data-points", String(s.t.length));
      box.setAttribute("data-nonzero", String(nonzero));
      box.setAttribute("data-queue", data.queue || "");
      var t = data.totals;
      summary.textContent = t.completed.toLocaleString() + " completed, " + t.failed.toLocaleString() +
        " failed, " + t.retried.toLocaleString() + " retried · " + data.label;
      status.textContent = "";
      showDurations(data.durations);
      root.setAttribute("data-loaded", data.range);
    }

    function load() {
      var params = query();
      if (pending) pending.abort();
      pending = new AbortController();
      root.removeAttribute("data-loaded");
      fetch(root.getAttribute("data-url") + "?" + params.toString(), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        signal: pending.signal,
      })
        .then(function (response) {
          return response.json().then(function (body) { return { ok: response.ok, body: body }; });
        })
        .then(function (result) {
          if (!result.ok) {
            status.textContent = result.body.detail || "The chart could not be loaded.";
            return;
          }
          draw(result.body);
        })
        .catch(function (error) {
          if (error.name !== "AbortError") status.textContent = "The chart could not be loaded.";
        });
    }

    form.addEventListener("change", function () {
      var params = query();
      var url = new URL(window.location.href);
      url.searchParams.set("range", params.get("range"));
      if (params.get("queue")) url.searchParams.set("queue", params.get("queue"));
      else url.searchParams.delete("queue");
      window.history.replaceState(null, "", url.toString());
      load();
    });
    form.addEventListener("submit", function (event) { event.preventDefault(); load(); });
    window.addEventListener("resize", function () {
      if (plot) plot.setSize({ width: width(), height: HEIGHT });
    });
    setInterval(function () {
      if (document.visibilityState === "visible") load();
    }, REFRESH_MS);
    load();
  });
})();
