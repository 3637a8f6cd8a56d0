// foghorn dashboard: the little script it needs, nothing it cannot do without.
"use strict";

// Ask before the actions that are hard to take back.
document.addEventListener("submit", function (e) {
  var f = e.target;
  var q = f.getAttribute("data-confirm");
  if (q && !window.confirm(q)) {
    e.preventDefault();
    return;
  }
  // One press, one action: a double tap must not send it twice.
  var bs = f.querySelectorAll("button");
  setTimeout(function () { bs.forEach(function (b) { b.disabled = true; }); }, 0);
});

// Refresh the overview every 30 s while it is on screen, but not while
// someone is choosing something or typing: that would throw it away.
(function () {
  if (location.pathname !== "/") return;
  setInterval(function () {
    var a = document.activeElement;
    var busy = a && (a.tagName === "SELECT" || a.tagName === "INPUT" || a.tagName === "TEXTAREA");
    if (!document.hidden && !busy) location.reload();
  }, 30000);
})();

// Coming back with the back button shows the page from cache: wake its buttons.
window.addEventListener("pageshow", function () {
  document.querySelectorAll("button:disabled").forEach(function (b) { b.disabled = false; });
});
