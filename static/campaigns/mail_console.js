// The mail console: the variable picker inserts {{ name }} at the cursor of the last
// subject or body field used; the block picker's arrows move a block up or down.
(function () {
  var last = null;
  document.addEventListener("focusin", function (e) {
    var t = e.target;
    if (t && t.name && /^(subject|body)_/.test(t.name)) { last = t; }
  });
  document.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest("button") : null;
    if (!b) { return; }
    if (b.classList.contains("carat-var")) {
      var field = last || document.querySelector("[name=body_en]");
      if (!field) { return; }
      var text = "{{ " + b.dataset.var + " }}";
      var s = field.selectionStart || 0, end = field.selectionEnd || 0;
      field.value = field.value.slice(0, s) + text + field.value.slice(end);
      field.focus();
      field.selectionStart = field.selectionEnd = s + text.length;
    } else if (b.classList.contains("carat-up") || b.classList.contains("carat-down")) {
      var li = b.closest("li");
      if (b.classList.contains("carat-up") && li.previousElementSibling) {
        li.parentNode.insertBefore(li, li.previousElementSibling);
      } else if (b.classList.contains("carat-down") && li.nextElementSibling) {
        li.parentNode.insertBefore(li.nextElementSibling, li);
      }
    }
  });
})();
