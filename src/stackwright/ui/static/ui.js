// Stackwright web UI: small progressive enhancements; every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // The project switcher submits as soon as a project is picked.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  // Waterfall rows: up/down move between spans, Enter opens the focused one.
  const rows = Array.from(document.querySelectorAll("tr[data-span-id]"));
  rows.forEach((row, i) => {
    row.tabIndex = row.classList.contains("selected") || (i === 0 && !document.querySelector("tr.selected")) ? 0 : -1;
    row.addEventListener("keydown", (event) => {
      const next = event.key === "ArrowDown" ? rows[i + 1] : event.key === "ArrowUp" ? rows[i - 1] : null;
      if (next) {
        event.preventDefault();
        next.focus();
      } else if (event.key === "Enter") {
        const link = row.querySelector("a");
        if (link) link.click();
      }
    });
  });
});
