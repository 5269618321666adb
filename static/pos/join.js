// The join panel of the POS page: fetch who joined here lately every few seconds (and the
// join code when its signature changed) without reloading the page.
(function () {
  "use strict";
  var SECONDS = 5;
  function panel() { return document.getElementById("join-panel"); }
  if (!panel()) return;
  var busy = false;
  function refresh() {
    var box = panel();
    if (!box || busy || document.hidden) return;
    busy = true;
    fetch(box.dataset.refreshUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        var tpl = document.createElement("template");
        tpl.innerHTML = html;
        var fresh = tpl.content.getElementById("join-panel");
        if (!fresh) return; // e.g. the login page after the session ended
        var list = box.querySelector("#joined-list");
        var freshList = fresh.querySelector("#joined-list");
        if (list && freshList && list.innerHTML !== freshList.innerHTML) list.innerHTML = freshList.innerHTML;
        if (fresh.dataset.joinUrl !== box.dataset.joinUrl) {
          box.querySelector("#join-qr").replaceWith(fresh.querySelector("#join-qr"));
          box.dataset.joinUrl = fresh.dataset.joinUrl;
        }
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  setInterval(refresh, SECONDS * 1000);
  document.addEventListener("visibilitychange", refresh);
})();
