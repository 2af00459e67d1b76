// Keeps relative times current: every <time data-reltime datetime="ISO"> gets its text
// ("3 min ago", "in 20 s", "just now") recomputed every 10 s, with the rules of
// dashboard.presenters.relative_text. The absolute time stays in the title (hover).
// A static file, no inline script: the Content-Security-Policy allows nothing else.
(function () {
  "use strict";
  var UNITS = [[86400, "d"], [3600, "h"], [60, "min"]];

  function words(seconds) {
    for (var i = 0; i < UNITS.length; i++) {
      if (seconds >= UNITS[i][0]) return Math.floor(seconds / UNITS[i][0]) + " " + UNITS[i][1];
    }
    return seconds + " s";
  }

  function relative(at, now) {
    var delta = (at - now) / 1000;
    if (Math.abs(delta) < 1) return "just now";
    var text = words(Math.floor(Math.abs(delta)));
    return delta > 0 ? "in " + text : text + " ago";
  }

  function refresh() {
    var now = Date.now();
    document.querySelectorAll("time[data-reltime]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(at)) {
        var text = relative(at, now);
        if (el.textContent !== text) el.textContent = text;
      }
    });
  }

  window.absurdRelativeTime = relative;  // for tests and other scripts
  setInterval(refresh, 10000);
  document.addEventListener("htmx:afterSwap", refresh);
})();
