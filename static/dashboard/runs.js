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
    document.querySelectorAll(".runs-custom-range").forEach(function (column) {
      column.hidden = range.value !== "custom";
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
  document.addEventListener("htmx:afterSettle", function () { sync(); customRange(); });
  document.addEventListener("DOMContentLoaded", function () { sync(); customRange(); });
})();
