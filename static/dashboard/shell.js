// The dashboard shell's small behaviours (no inline scripts: the Content-Security-Policy
// runs none): copy buttons, dismissable panels, the runs filter panel closed on phones.
(function () {
  "use strict";

  // <button data-copy="#id">: copies the element's text. navigator.clipboard where the page
  // may use it (a secure context); else the text is selected for Ctrl-C, and the button says so.
  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  function say(button, text) {
    var status = document.getElementById(button.getAttribute("data-copy-status"));
    if (status) status.textContent = text;
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent.trim();
    selectText(source);
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { say(button, "Copied."); },
        function () { say(button, "Selected: press Ctrl+C (⌘C) to copy."); }
      );
    } else {
      say(button, "Selected: press Ctrl+C (⌘C) to copy.");
    }
  });

  // <button data-dismiss-panel="#id">: removes the panel (nothing else hides it).
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss-panel]");
    if (!button) return;
    var panel = document.querySelector(button.getAttribute("data-dismiss-panel"));
    if (panel) panel.remove();
  });

  // <details data-closed-below="768">: closed on screens narrower than that (phones), as
  // rendered (open) elsewhere. Runs once per page load and after each htmx swap.
  function closeOnPhones(root) {
    (root || document).querySelectorAll("details[data-closed-below]").forEach(function (el) {
      if (el.hasAttribute("data-kept")) return;
      el.setAttribute("data-kept", "");
      if (window.innerWidth < parseInt(el.getAttribute("data-closed-below"), 10)) el.open = false;
    });
  }
  document.addEventListener("DOMContentLoaded", function () { closeOnPhones(); });
  document.addEventListener("htmx:afterSettle", function (event) { closeOnPhones(event.target); });
})();
