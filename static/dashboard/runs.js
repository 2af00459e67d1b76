// The runs page: row selection for bulk actions, and the live poll's manners.
// Everything is delegated from document, so it keeps working after htmx swaps the page.
(function () {
  "use strict";

  function rowBoxes() {
    return Array.prototype.slice.call(document.querySelectorAll('#runs-rows input[name="selected"]'));
  }

  function sync() {
    var boxes = rowBoxes();
    var checked = boxes.filter(function (box) { return box.checked; }).length;
    var all = document.getElementById("select-all");
    if (all) {
      all.checked = boxes.length > 0 && checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
    }
    var count = document.getElementById("selection-count");
    if (count) {
      count.textContent = checked + " selected" + (checked ? " · live updates wait" : "");
    }
    document.querySelectorAll("[data-needs-selection]").forEach(function (button) {
      button.disabled = checked === 0;
    });
  }

  function customRange() {
    var range = document.getElementById("id_range");
    if (!range) return;
    // Hidden dates are disabled too, so they are not sent (and do not make a custom range).
    document.querySelectorAll(".runs-custom-range").forEach(function (column) {
      column.hidden = range.value !== "custom";
      column.querySelectorAll("input").forEach(function (input) { input.disabled = column.hidden; });
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.id === "select-all") {
      rowBoxes().forEach(function (box) { box.checked = event.target.checked; });
      sync();
    } else if (event.target.matches('#runs-rows input[name="selected"]')) {
      sync();
    } else if (event.target.id === "id_range") {
      customRange();
    }
  });

  // While rows are selected the poll waits, so the rows do not move under the operator.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.id === "runs-rows" && rowBoxes().some(function (box) { return box.checked; })) {
      event.preventDefault();
    }
  });
  // A filter with a bad value answers 400 with the form and its inline messages: show it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (event.detail.xhr.status === 400 && target && target.id === "runs-page") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:afterSettle", function () { sync(); customRange(); });
  document.addEventListener("DOMContentLoaded", function () { sync(); customRange(); });
})();
