// Stackwright web UI: small progressive enhancements; every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // The project switcher submits as soon as a project is picked.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  // Waterfall rows: up/down move between the shown spans, Enter opens the focused one.
  const rows = Array.from(document.querySelectorAll("tr[data-span-id]"));
  const shown = (i, step) => {
    for (let j = i + step; j >= 0 && j < rows.length; j += step) if (!rows[j].hidden) return rows[j];
    return null;
  };
  rows.forEach((row, i) => {
    row.tabIndex = row.classList.contains("selected") || (i === 0 && !document.querySelector("tr.selected")) ? 0 : -1;
    row.addEventListener("keydown", (event) => {
      if (event.target !== row) return; // keys on the row's toggle button or link are theirs
      const next = event.key === "ArrowDown" ? shown(i, 1) : event.key === "ArrowUp" ? shown(i, -1) : null;
      if (next) {
        event.preventDefault();
        next.focus();
      } else if (event.key === "Enter") {
        const link = row.querySelector("a");
        if (link) link.click();
      }
    });
  });
  // Traces list: j/k or down/up move the highlighted (focused) row, Enter opens it; j enters the table.
  const traceRows = Array.from(document.querySelectorAll("tr[data-trace-id]"));
  traceRows.forEach((row, i) => {
    row.tabIndex = i === 0 ? 0 : -1;
    row.addEventListener("focus", () => {
      for (const other of traceRows) other.tabIndex = other === row ? 0 : -1;
    });
  });
  const typing = (target) => target.closest && target.closest("input, select, textarea, button, a, [contenteditable]");
  document.addEventListener("keydown", (event) => {
    if (!traceRows.length || event.altKey || event.ctrlKey || event.metaKey) return;
    const at = traceRows.indexOf(event.target);
    if (at < 0) {
      // Outside the table only j enters it (arrows keep scrolling the page; form fields keep their keys).
      if (event.key === "j" && !typing(event.target)) {
        event.preventDefault();
        traceRows[0].focus();
      }
      return;
    }
    const step = event.key === "j" || event.key === "ArrowDown" ? 1 : event.key === "k" || event.key === "ArrowUp" ? -1 : 0;
    const next = step ? traceRows[at + step] : null;
    if (step) event.preventDefault();
    if (next) {
      next.focus();
    } else if (event.key === "Enter") {
      const link = traceRows[at].querySelector("a[href]");
      if (link) link.click();
    }
  });
  // Expand and collapse spans (the server hides what is below a collapsed span).
  const children = new Map();
  for (const row of rows) {
    const parent = row.dataset.parentSpanId;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(row);
  }
  const setBelow = (row, open) => {
    const stack = [...(children.get(row.dataset.spanId) || [])];
    while (stack.length) {
      const child = stack.pop();
      child.hidden = !open;
      if (!open || child.dataset.expanded === "true") stack.push(...(children.get(child.dataset.spanId) || []));
    }
  };
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-toggle]");
    if (!button) return;
    const row = button.closest("tr");
    const open = row.dataset.expanded !== "true";
    row.dataset.expanded = String(open);
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "\u25be" : "\u25b8";
    setBelow(row, open);
  });
});
