// Shows a schedule form's next fire times while a person types: asks the
// page endpoint (the same checks as saving) and lists the answer, or the
// problem it names. Without this script the Preview button does the same.
(function () {
  "use strict";
  const form = document.querySelector("form.schedule-form");
  const list = document.getElementById("fire-preview");
  const note = document.getElementById("fire-preview-note");
  if (!form || !list || !note) {
    return;
  }
  const fields = ["name", "kind", "expression", "timezone", "start_at", "end_at",
    "overlap", "catch_up", "catch_up_limit"];
  let timer = null;
  let latest = 0;

  function show(items, message) {
    list.replaceChildren(...items.map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }));
    note.textContent = message;
  }

  async function refresh() {
    const query = new URLSearchParams();
    for (const name of fields) {
      const input = form.elements.namedItem(name);
      if (input && "value" in input) {
        query.set(name, input.value);
      }
    }
    if (!query.get("name")) {
      query.set("name", "preview");
    }
    const ask = ++latest;
    try {
      const response = await fetch(`${form.dataset.previewUrl}?${query}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const body = await response.json();
      if (ask !== latest) {
        return; // a newer question was asked meanwhile
      }
      if (response.ok) {
        show(body.local, body.local.length ? "Nothing is saved yet." : "None: the schedule ends before it fires.");
      } else {
        const problems = Object.entries(body.errors || {}).map(
          ([field, messages]) => `${field}: ${messages.join(" ")}`);
        show([], problems.join("; ") || "Cannot preview.");
      }
    } catch (error) {
      show([], "Cannot preview right now.");
    }
  }

  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  });
})();
