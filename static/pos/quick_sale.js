/* The quicker sale: Enter in Amount goes on to Receipt; Enter in Receipt records. */
(function () {
  "use strict";
  var form = document.getElementById("sale-form");
  if (!form) return;
  var amount = form.querySelector('[name="amount"]');
  var receipt = form.querySelector('[name="receipt_id"]');
  if (!amount || !receipt) return;
  amount.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.isComposing) return;
    event.preventDefault();
    receipt.focus();
    receipt.select();
  });
  var autofocus = form.querySelector("[autofocus]");
  if (autofocus && document.activeElement !== autofocus) autofocus.focus();
})();

/* A redemption waiting for the client's confirmation on their phone: ask until answered. */
(function () {
  "use strict";
  var wait = document.getElementById("phone-wait");
  if (!wait || !window.fetch) return;
  var tries = 0;
  function ask() {
    tries += 1;
    if (tries > 150) return; // 5 minutes: the request has lapsed
    fetch(wait.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.status === "confirmed") {
          window.location.assign(data.url);
        } else if (data.status === "declined") {
          wait.textContent = wait.dataset.declined;
        } else {
          window.setTimeout(ask, 2000);
        }
      })
      .catch(function () { window.setTimeout(ask, 4000); });
  }
  window.setTimeout(ask, 1500);
})();
