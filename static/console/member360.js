// The member 360's tabs: each .m360-panel (an inline, or the edit form) becomes a tab.
// Without this script every panel shows, one under the other. The tab is kept in the
// address (#tab-...), and a form with errors opens on the edit tab.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }
  ready(function () {
    var nav = document.querySelector(".m360-tabs");
    if (!nav) return;
    var panels = Array.prototype.slice.call(document.querySelectorAll(".m360-panel"));
    panels.sort(function (a, b) {
      return (a.dataset.last ? 1 : 0) - (b.dataset.last ? 1 : 0);
    });
    var buttons = {};
    function show(id, remember) {
      panels.forEach(function (p) {
        var on = p.id === id;
        p.hidden = !on;
        buttons[p.id].setAttribute("aria-selected", on ? "true" : "false");
        buttons[p.id].classList.toggle("selected", on);
      });
      if (remember && history.replaceState) history.replaceState(null, "", "#" + id);
    }
    panels.forEach(function (p) {
      var b = document.createElement("button");
      b.type = "button";
      b.setAttribute("role", "tab");
      b.setAttribute("aria-controls", p.id);
      b.textContent = p.dataset.tab;
      b.addEventListener("click", function () { show(p.id, true); });
      p.setAttribute("role", "tabpanel");
      buttons[p.id] = b;
      nav.appendChild(b);
    });
    nav.setAttribute("role", "tablist");
    nav.hidden = false;
    var wanted = (location.hash || "").slice(1);
    if (document.querySelector(".errornote, .errorlist")) wanted = "tab-profile";
    show(buttons[wanted] ? wanted : panels[0].id, false);
  });
})();
