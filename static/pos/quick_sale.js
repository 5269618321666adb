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
