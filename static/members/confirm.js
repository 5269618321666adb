/* The account page asks every few seconds whether the till waits for a confirmation
   (a redemption); it shows the question with the cost and the balance after. */
(function () {
  "use strict";
  var box = document.getElementById("till-confirm");
  if (!box || !window.fetch) return;
  var shown = null;
  function ask() {
    fetch(box.dataset.pollUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return; // not a member: stop asking
        var p = data.pending;
        if (p && p.id !== shown) {
          shown = p.id;
          box.querySelector("[data-title]").textContent = p.title;
          box.querySelector("[data-text]").textContent = p.text;
          box.querySelector("[data-yes]").textContent = p.yes;
          box.querySelector("[data-no]").textContent = p.no;
          document.getElementById("till-confirm-form").action = box.dataset.decideUrl.replace("/0/", "/" + p.id + "/");
          box.hidden = false;
        } else if (!p) {
          box.hidden = true;
          shown = null;
        }
        window.setTimeout(ask, 4000);
      })
      .catch(function () { window.setTimeout(ask, 8000); });
  }
  ask();
})();
