// Dashboard behaviour shared by every page: toasts, the theme toggle, keyboard shortcuts.
(function () {
  "use strict";

  // -- toasts: messages rendered by base.html, and htmx's HX-Trigger {"toast": {...}} -------
  var LEVEL = { success: "success", info: "info", warning: "warning", error: "danger" };

  function showToast(level, text) {
    var box = document.createElement("div");
    box.className = "toast align-items-center border-0 text-bg-" + (LEVEL[level] || "info");
    box.setAttribute("role", level === "error" ? "alert" : "status");
    var row = document.createElement("div");
    row.className = "d-flex";
    var body = document.createElement("div");
    body.className = "toast-body";
    body.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close btn-close-white me-2 m-auto";
    close.setAttribute("data-bs-dismiss", "toast");
    close.setAttribute("aria-label", "Close");
    row.append(body, close);
    box.append(row);
    document.getElementById("toasts").append(box);
    bootstrap.Toast.getOrCreateInstance(box).show();
    box.addEventListener("hidden.bs.toast", function () { box.remove(); });
  }
  window.absurdToast = showToast;

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("#toasts .toast[data-autoshow]").forEach(function (el) {
      bootstrap.Toast.getOrCreateInstance(el).show();
    });
  });
  document.body.addEventListener("toast", function (event) {
    showToast(event.detail.level, event.detail.text);
  });
  // A failed htmx request (4xx/5xx) says so instead of failing silently.
  document.body.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var text = xhr.getResponseHeader("X-Error") || ("The request failed (" + xhr.status + ").");
    showToast("error", text);
  });

  // -- theme toggle ---------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    if (!event.target.closest("#theme-toggle")) return;
    var root = document.documentElement;
    var next = root.getAttribute("data-bs-theme") === "dark" ? "light" : "dark";
    root.setAttribute("data-bs-theme", next);
    try { localStorage.setItem("absurd-theme", next); } catch (e) {}
  });

  // -- polling conditions, without htmx's [filter] expressions (htmx evals them, and the
  // Content-Security-Policy allows no eval). A request of an element with data-poll-visible is
  // skipped while the tab is hidden; with data-poll-unless="selector", while the selector
  // matches something (an open dialog). htmx keeps polling, so the next tick tries again.
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || !elt.hasAttribute) return;
    var unless = elt.getAttribute("data-poll-unless");
    if ((elt.hasAttribute("data-poll-visible") && document.visibilityState !== "visible") ||
        (unless && document.querySelector(unless))) {
      event.preventDefault();
    }
  });

  // -- forms, without inline handlers (the Content-Security-Policy runs none) ----------------
  // <select data-autosubmit> / <input data-autosubmit>: a change submits the form (the tenant
  // switcher, "show stopped workers"); each has a <noscript> button.
  document.addEventListener("change", function (event) {
    var field = event.target.closest("[data-autosubmit]");
    if (field && field.form) field.form.requestSubmit();
  });
  // <form data-confirm-submit="question">: the browser's confirm() first; Cancel sends nothing.
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm-submit");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // -- keyboard shortcuts: / search, g o, g r, g d, g q, ? help ---------------------------
  var pendingG = false;
  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=true]") !== null;
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var urlsEl = document.getElementById("shortcut-urls");
    if (!urlsEl) return;
    var urls = JSON.parse(urlsEl.textContent);
    if (pendingG) {
      pendingG = false;
      if (urls[event.key]) { event.preventDefault(); window.location.assign(urls[event.key]); }
      return;
    }
    if (event.key === "g") { pendingG = true; setTimeout(function () { pendingG = false; }, 1500); return; }
    if (event.key === "/") {
      event.preventDefault();
      var search = document.querySelector("[data-search]");
      if (search) search.focus(); else window.location.assign(urls.r + "?focus=search");
      return;
    }
    if (event.key === "?") {
      event.preventDefault();
      bootstrap.Modal.getOrCreateInstance(document.getElementById("shortcuts")).show();
    }
  });
})();
