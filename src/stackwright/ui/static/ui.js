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

// -- prompts: the editor shows the messages of a chat prompt or the template of a text prompt, as its type says.
document.addEventListener("DOMContentLoaded", () => {
  for (const select of document.querySelectorAll("select[data-prompt-type]")) {
    const show = () => {
      for (const part of select.form.querySelectorAll("[data-for-type]")) part.hidden = part.dataset.forType !== select.value;
    };
    select.addEventListener("change", show);
    show();
  }
});

// -- evals: a running eval's page polls its progress and reloads once the run has ended (a plain reload works too).
document.addEventListener("DOMContentLoaded", () => {
  const box = document.querySelector("[data-eval-progress]");
  if (!box) return;
  const bar = box.querySelector("progress");
  const text = box.querySelector("[data-progress-text]");
  const poll = async () => {
    try {
      const response = await fetch(box.dataset.evalProgress, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) {
        const state = await response.json();
        if (bar) {
          bar.max = state.total;
          bar.value = state.done;
        }
        if (text) text.textContent = `${state.done} of ${state.total} cases done`;
        if (state.status !== "running") {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // the server is busy or gone for a moment: try again on the next tick
    }
    window.setTimeout(poll, 1000);
  };
  window.setTimeout(poll, 1000);
});

// -- playground: Run streams each configuration's answer (POST /ui/playground/stream, JSON lines) into its
// column; without this script the form posts and the page comes back with every answer. The sweep form
// takes the configuration on the screen when it is sent.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-playground]");
  if (!form || !window.fetch || !window.TextDecoder) return;
  const token = form.querySelector("input[name=csrf_token]").value;
  const part = (column, name) => form.querySelector(`[data-column="${column}"] ${name}`);
  const setFigures = (column, figures) => {
    const cell = (name) => part(column, `[data-figure="${name}"]`);
    const given = (value) => (value === null || value === undefined ? "-" : String(value));
    cell("tokens").textContent = `${given(figures.input_tokens)} in / ${given(figures.output_tokens)} out`;
    cell("cost").textContent = figures.cost === null || figures.cost === undefined ? "-" : `$${Number(figures.cost).toFixed(6)}`;
    cell("latency").textContent = figures.latency_ms === null || figures.latency_ms === undefined ? "-" : `${figures.latency_ms.toFixed(1)} ms`;
    const trace = cell("trace");
    trace.textContent = "-";
    if (figures.trace_id) {
      const link = document.createElement("a");
      link.href = `/ui/traces/${encodeURIComponent(figures.trace_id)}`;
      link.dataset.traceLink = "";
      link.textContent = figures.trace_id;
      trace.replaceChildren(link);
    }
  };
  const showError = (column, message) => {
    const box = part(column, "[data-error]");
    box.textContent = message;
    box.hidden = !message;
  };
  const runColumn = async (column) => {
    const body = new URLSearchParams(new FormData(form));
    body.set("column", String(column));
    const text = part(column, "[data-text]");
    text.textContent = "";
    showError(column, "");
    setFigures(column, {});
    const response = await fetch("/ui/playground/stream", {
      method: "POST", body, credentials: "same-origin", headers: { "X-CSRF-Token": token, Accept: "application/x-ndjson" },
    });
    if (response.status === 422) return "invalid";
    if (!response.ok || !response.body) {
      showError(column, `The run was refused (HTTP ${response.status}).`);
      return "done";
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    const handle = (line) => {
      if (!line.trim()) return;
      const event = JSON.parse(line);
      if (event.delta) text.textContent += event.delta;
      if (event.error) showError(column, event.error);
      if (event.done) setFigures(column, event.done);
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split("\n");
      buffer = lines.pop();
      lines.forEach(handle);
    }
    handle(buffer);
    return "done";
  };
  form.addEventListener("submit", async (event) => {
    if (!event.submitter || !event.submitter.hasAttribute("data-run")) return; // Save posts as a plain form
    event.preventDefault();
    const columns = Array.from(form.querySelectorAll("[data-column]"))
      .map((section) => section.dataset.column)
      .filter((column) => part(column, "select").value);
    form.dataset.running = "true";
    try {
      const results = await Promise.all(columns.map(runColumn));
      if (!columns.length || results.includes("invalid")) form.submit(); // the server shows what to fix beside each field
    } finally {
      delete form.dataset.running;
    }
  });
  const sweep = document.querySelector("form[data-sweep]");
  if (sweep) {
    sweep.addEventListener("submit", () => {
      const messages = [];
      for (const item of form.querySelectorAll("[data-message]")) {
        const content = item.querySelector("textarea").value;
        if (content.trim()) messages.push({ role: item.querySelector("select").value, content });
      }
      const field = (name) => sweep.querySelector(`[data-sweep-field="${name}"]`);
      field("messages").value = JSON.stringify(messages);
      field("model").value = form.querySelector("[name=model-0]").value;
      field("params").value = form.querySelector("[name=params-0]").value;
    });
  }
});
