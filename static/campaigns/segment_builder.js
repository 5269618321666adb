/* The segment builder: groups of conditions (all of a group; any group), written as JSON
   into the form's hidden "definition" field; the count of members, and of those reachable
   by e-mail and by text message, follows each change (debounced, one POST to the count
   endpoint, which reads only). */
(function () {
  "use strict";
  const root = document.getElementById("segment-builder");
  const input = document.getElementById("id_definition");
  if (!root || !input) return;
  const fields = JSON.parse(document.getElementById("segment-fields").textContent);
  const text = JSON.parse(document.getElementById("segment-text").textContent);
  const reach = document.getElementById("segment-reach");
  const byValue = Object.fromEntries(fields.map((f) => [f.value, f]));
  let state;
  try {
    state = JSON.parse(input.value || "{}");
  } catch (e) {
    state = {};
  }
  if (!Array.isArray(state.groups) || !state.groups.length) state.groups = [[]];

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    });
    (children || []).forEach((c) => node.appendChild(c));
    return node;
  }

  function valueWidget(cond) {
    const meta = byValue[cond.field];
    const values = String(cond.value || "").split(",").map((v) => v.trim()).filter(Boolean);
    let w;
    if (!meta || meta.kind === "none") return el("span");
    const chosen = values.map((v) => v.toLowerCase());
    if (meta.kind === "multi") {
      // Checkboxes: one click each, no Ctrl-click to learn.
      w = el("span", { class: "seg-choices", role: "group", "aria-label": meta.label });
      (meta.choices || []).forEach(([code, label]) => {
        const box = el("input", { type: "checkbox", value: code });
        box.checked = chosen.includes(String(code).toLowerCase());
        box.addEventListener("change", () => {
          cond.value = Array.from(w.querySelectorAll("input:checked")).map((b) => b.value).join(",");
          changed();
        });
        w.appendChild(el("label", {}, [box, document.createTextNode(" " + label)]));
      });
      return w;
    }
    if (meta.kind === "one") {
      w = el("select", { "aria-label": meta.label });
      (meta.choices || []).forEach(([code, label]) => {
        const o = el("option", { value: code, text: label });
        if (chosen.includes(String(code).toLowerCase())) o.selected = true;
        w.appendChild(o);
      });
      if (!values.length && w.options.length) cond.value = w.options[0].value;
      w.addEventListener("change", () => {
        cond.value = w.value;
        changed();
      });
      return w;
    }
    const type = meta.kind === "number" ? "number" : meta.kind === "date" ? "date" : "text";
    w = el("input", { type: type, value: cond.value || "", "aria-label": meta.label, maxlength: "200" });
    if (type === "number") w.setAttribute("min", "0");
    w.addEventListener("input", () => {
      cond.value = w.value;
      changed();
    });
    return w;
  }

  function row(group, cond, index) {
    const select = el("select", { "aria-label": text.all });
    fields.forEach((f) => {
      const o = el("option", { value: f.value, text: f.label });
      if (f.value === cond.field) o.selected = true;
      select.appendChild(o);
    });
    select.addEventListener("change", () => {
      cond.field = select.value;
      cond.value = "";
      render();
      changed();
    });
    const negate = el("input", { type: "checkbox" });
    negate.checked = !!cond.negate;
    negate.addEventListener("change", () => {
      cond.negate = negate.checked;
      changed();
    });
    const remove = el("button", { type: "button", class: "button", text: text.remove });
    remove.addEventListener("click", () => {
      group.splice(index, 1);
      render();
      changed();
    });
    return el("div", { class: "seg-row" }, [
      el("label", {}, [negate, document.createTextNode(" " + text.not)]),
      select,
      valueWidget(cond),
      remove,
    ]);
  }

  function render() {
    root.replaceChildren();
    state.groups.forEach((group, g) => {
      if (g > 0) root.appendChild(el("div", { class: "seg-or", text: "— " + text.or + " —" }));
      const box = el("div", { class: "seg-group" }, [el("h3", { text: text.all })]);
      group.forEach((cond, i) => box.appendChild(row(group, cond, i)));
      const add = el("button", { type: "button", class: "button", text: text.add });
      add.addEventListener("click", () => {
        group.push({ field: fields[0].value, value: "", negate: false });
        render();
        changed();
      });
      box.appendChild(add);
      root.appendChild(box);
    });
    const addGroup = el("button", { type: "button", class: "button", text: text.add_group });
    addGroup.addEventListener("click", () => {
      state.groups.push([{ field: fields[0].value, value: "", negate: false }]);
      render();
      changed();
    });
    root.appendChild(addGroup);
  }

  let timer = null;
  let asked = 0;
  function changed() {
    input.value = JSON.stringify({ groups: state.groups.filter((g) => g.length) });
    clearTimeout(timer);
    reach.textContent = text.counting;
    timer = setTimeout(count, 350);
  }

  function format(n) {
    return Number(n).toLocaleString(document.documentElement.lang || undefined);
  }

  async function count() {
    const mine = ++asked;
    const body = new FormData();
    body.append("definition", input.value);
    const token = document.querySelector("[name=csrfmiddlewaretoken]");
    const response = await fetch(root.dataset.countUrl, {
      method: "POST",
      body: body,
      headers: { "X-CSRFToken": token ? token.value : "" },
      credentials: "same-origin",
    });
    if (mine !== asked) return; // a newer count is on its way
    const data = await response.json().catch(() => ({ error: response.statusText }));
    reach.classList.toggle("error", !response.ok);
    if (!response.ok) {
      reach.textContent = data.error || response.statusText;
      return;
    }
    reach.textContent = text.reach
      .replace("%(members)s", format(data.members))
      .replace("%(email)s", format(data.email))
      .replace("%(sms)s", format(data.sms));
  }

  render();
  changed();
})();
