/* Carat POS scan page. No framework; everything works without JS except the camera. */
(function () {
  "use strict";

  var scanInput = document.querySelector("[data-scan-input]");
  var scanForm = document.getElementById("scan-form");

  // Focus: the first field with an error, else the scan field (a handheld scanner types
  // into whatever has focus, then presses Enter).
  function initialFocus() {
    var invalid = document.querySelector('[aria-invalid="true"]');
    if (!invalid) {
      // A refusal not tied to one field (e.g. a receipt recorded with other data): the
      // first field of the form that shows it.
      var alertForm = document.querySelector("form .alert.error");
      alertForm = alertForm && alertForm.closest("form");
      if (alertForm && alertForm !== scanForm) {
        invalid = alertForm.querySelector('input:not([type="hidden"]), select');
      }
    }
    if (invalid) {
      var details = invalid.closest("details");
      if (details) details.open = true;
      invalid.focus();
      if (invalid.select) invalid.select();
    } else if (scanInput && !document.querySelector("[autofocus]:not([data-scan-input])")) {
      scanInput.focus();
      scanInput.select();
    }
  }

  // A scanner or a keyboard typing while nothing editable has focus (e.g. after tapping a
  // button) still lands in the scan field.
  document.addEventListener("keydown", function (event) {
    if (!scanInput || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key.length !== 1 || event.key === " ") return;
    var el = document.activeElement;
    var editable = el && (el.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName));
    if (!editable) scanInput.focus();
  });

  // One submit per click: a double tap must not send two requests (the server is
  // idempotent on the receipt anyway).
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sending === "1") {
        event.preventDefault();
        return;
      }
      form.dataset.sending = "1";
      form.querySelectorAll('button[type="submit"]').forEach(function (b) {
        b.setAttribute("aria-disabled", "true");
      });
    });
  });
  // Coming back with the browser's back button shows the page from cache: re-arm forms.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      delete form.dataset.sending;
      form.querySelectorAll('button[type="submit"]').forEach(function (b) {
        b.removeAttribute("aria-disabled");
      });
    });
  });

  // Camera: scan the member's QR code with html5-qrcode (vendored in static/vendor).
  var startBtn = document.getElementById("camera-start");
  var stopBtn = document.getElementById("camera-stop");
  var panel = document.getElementById("camera-panel");
  var statusEl = document.getElementById("camera-status");
  var scanner = null;
  var cameraSupported =
    typeof window.Html5Qrcode === "function" &&
    !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);

  function stopCamera() {
    var s = scanner;
    scanner = null;
    var done = function () {
      if (panel) panel.hidden = true;
      if (startBtn) startBtn.setAttribute("aria-expanded", "false");
    };
    if (!s) return Promise.resolve().then(done);
    return s
      .stop()
      .catch(function () {})
      .then(function () {
        try { s.clear(); } catch (e) { /* already cleared */ }
      })
      .then(done);
  }

  function onScanned(text) {
    stopCamera().then(function () {
      scanInput.value = text.trim();
      if (scanForm.requestSubmit) scanForm.requestSubmit();
      else scanForm.submit();
    });
  }

  function startCamera() {
    if (scanner) return;
    panel.hidden = false;
    startBtn.setAttribute("aria-expanded", "true");
    statusEl.textContent = statusEl.dataset.help || statusEl.textContent;
    var options = { verbose: false };
    if (window.Html5QrcodeSupportedFormats) {
      options.formatsToSupport = [window.Html5QrcodeSupportedFormats.QR_CODE];
    }
    scanner = new window.Html5Qrcode("camera-reader", options);
    scanner
      .start(
        { facingMode: "environment" },
        {
          fps: 10,
          qrbox: function (w, h) {
            var side = Math.floor(Math.min(w, h) * 0.7);
            return { width: side, height: side };
          },
        },
        onScanned,
        function () { /* no code in this frame yet */ }
      )
      .catch(function (err) {
        scanner = null;
        statusEl.textContent =
          (startBtn.dataset.error || "The camera could not be started.") +
          (err && err.name ? " (" + err.name + ")" : "");
        stopBtn.focus();
      });
    stopBtn.focus();
  }

  if (startBtn && panel && scanInput && cameraSupported) {
    startBtn.hidden = false;
    startBtn.setAttribute("aria-controls", "camera-panel");
    startBtn.setAttribute("aria-expanded", "false");
    statusEl.dataset.help = statusEl.textContent;
    startBtn.addEventListener("click", startCamera);
    stopBtn.addEventListener("click", function () {
      stopCamera().then(function () { scanInput.focus(); });
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && scanner) {
        stopCamera().then(function () { scanInput.focus(); });
      }
    });
    window.addEventListener("pagehide", function () { stopCamera(); });
  }

  initialFocus();
})();
