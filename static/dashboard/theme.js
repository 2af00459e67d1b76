// Runs before the stylesheet: apply the saved theme, else the system's, so the page never
// flashes light in dark mode. dashboard.js wires the toggle.
(function () {
  var saved = null;
  try { saved = localStorage.getItem("absurd-theme"); } catch (e) {}
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.setAttribute("data-bs-theme", saved || (dark ? "dark" : "light"));
})();
