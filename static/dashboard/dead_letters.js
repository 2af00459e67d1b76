// The dead letters page: selection, the bulk confirmation dialog, inline errors.
(function () {
  "use strict";

  function checkboxes() {
    return document.querySelectorAll('input[type=checkbox][name=ids][form="dl-bulk"]');
  }

  function updateSelection() {
    var boxes = checkboxes();
    var chosen = 0;
    boxes.forEach(function (box) { if (box.checked) chosen += 1; });
    var label = document.getElementById("dl-selected-count");
    if (label) label.textContent = chosen + " selected";
    document.querySelectorAll("#dl-bulk [data-needs-selection]").forEach(function (button) {
      button.disabled = chosen === 0;
    });
    var all = document.getElementById("dl-select-all");
    if (all) {
      all.checked = boxes.length > 0 && chosen === boxes.length;
      all.indeterminate = chosen > 0 && chosen < boxes.length;
    }
  }

  document.addEventListener("change", function (event) {
    if (event.target.id === "dl-select-all") {
      checkboxes().forEach(function (box) { box.checked = event.target.checked; });
    }
    if (event.target.id === "dl-select-all" || event.target.name === "ids") updateSelection();
  });

  function modal() {
    var el = document.getElementById("dl-confirm");
    return el ? bootstrap.Modal.getOrCreateInstance(el) : null;
  }

  // The confirmation arrives in the dialog's body: show it, focus its first field.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id === "dl-confirm-body") {
      var dialog = modal();
      if (dialog) dialog.show();
      var first = event.detail.target.querySelector("input:not([type=hidden]), button[type=submit]");
      if (first) setTimeout(function () { first.focus(); }, 200);
    }
    if (event.detail.target.id === "dl-content") updateSelection();
  });

  // An action was handled: close the dialog (the list reloads itself).
  document.body.addEventListener("deadLettersChanged", function () {
    var dialog = modal();
    if (dialog) dialog.hide();
  });

  // A 400 from a form that shows its errors inline: swap the message in, no error toast.
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("[data-inline-errors]");
    if (form && event.detail.xhr.status === 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("DOMContentLoaded", updateSelection);
})();
