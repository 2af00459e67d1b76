// The task page: confirm every action in a dialog before its POST is sent.
// A form with data-confirm="question" is held back, the dialog asks, and "Confirm" sends the
// form with confirmed=1. Without JavaScript the server asks on a page of its own instead.
(function () {
  "use strict";
  var pendingId = null;

  function dialog() { return document.getElementById("task-confirm"); }

  // The emit form's payload must be JSON (empty means null); the server checks again.
  function payloadError(form) {
    var field = form.querySelector("textarea[name=payload]");
    if (!field) return null;
    var text = field.value.trim();
    if (!text) return null;
    try { JSON.parse(text); return null; } catch (e) { return field; }
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches("textarea[name=payload]")) {
      event.target.setCustomValidity("");
      event.target.classList.remove("is-invalid");
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (!form || !dialog() || typeof bootstrap === "undefined") return;
    event.preventDefault();
    var bad = payloadError(form);
    if (bad) {
      bad.classList.add("is-invalid");
      bad.setCustomValidity("This is not valid JSON.");
      bad.reportValidity();
      return;
    }
    var spawnNew = form.querySelector("input[name=spawn_new]");
    var question = spawnNew && spawnNew.checked ? form.dataset.confirmNew : form.dataset.confirm;
    var ok = document.getElementById("task-confirm-ok");
    ok.className = "btn " + (form.dataset.confirmClass || "btn-primary");
    document.getElementById("task-confirm-text").textContent = question;
    pendingId = form.id;
    bootstrap.Modal.getOrCreateInstance(dialog()).show();
  });

  // A poll answered 4xx (the task is gone, the tenant was switched, the session ended):
  // stop polling rather than fail every 2 s; base.html's handler has shown the error once.
  document.body.addEventListener("htmx:responseError", function (event) {
    var elt = event.detail.elt;
    if (!elt || elt.id !== "task-live" || event.detail.xhr.status >= 500) return;
    elt.setAttribute("data-stopped", "");  // data-poll-unless checks it
    var status = elt.querySelector("#live-status");
    if (status) status.textContent = "Updates stopped: reload the page.";
  });

  document.addEventListener("click", function (event) {
    if (!event.target.closest("#task-confirm-ok")) return;
    bootstrap.Modal.getOrCreateInstance(dialog()).hide();
    // Look the form up again: a poll may have replaced it while the dialog was opening.
    var form = pendingId && document.getElementById(pendingId);
    pendingId = null;
    if (!form) {
      window.absurdToast("warning", "The task changed meanwhile; look again before acting.");
      return;
    }
    var confirmed = document.createElement("input");
    confirmed.type = "hidden";
    confirmed.name = "confirmed";
    confirmed.value = "1";
    form.append(confirmed);
    form.submit();
  });
})();
