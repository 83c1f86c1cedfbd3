// The menu editor: check like `ivr validate` (file:line: message), diff against live,
// run the menu's scenarios, publish with the version it was based on (the failing
// scenarios confirmed by name), roll back, hand the menu back to its file.
"use strict";
(function () {
  const { api, el, time, t } = window.ivr;
  // A refusal in the page's words (by its kind), the server's message for anything else.
  const failure = (result, fallback) => {
    const key = "edit.error." + (result.data.error || "");
    return t(key) !== key ? t(key) : (result.data.message || t(fallback));
  };
  const card = document.getElementById("editor-card");
  const name = card.dataset.menu;
  const base = "/supervisor/api/menus/" + encodeURIComponent(name);
  const text = document.getElementById("menu-text");
  const gutter = document.getElementById("gutter");
  let liveBase = null;
  let menuFile = "";
  let liveText = "";  // as loaded: anything else in the editor is a draft not published
  let confirmFailed = null;  // the failing scenarios shown, to publish despite them
  let errorLines = new Set();

  function renderGutter() {
    const lines = text.value.split("\n").length;
    const out = [];
    for (let i = 1; i <= lines; i++) out.push(el("span", { class: errorLines.has(i) ? "err" : "", id: "line-" + i, text: i + "\n" }));
    gutter.replaceChildren(...out);
    gutter.scrollTop = text.scrollTop;
  }
  text.addEventListener("input", () => { errorLines = new Set(); renderGutter(); });
  text.addEventListener("scroll", () => { gutter.scrollTop = text.scrollTop; });

  function goToLine(line) {
    const lines = text.value.split("\n");
    let start = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
    text.focus();
    text.setSelectionRange(start, start + (lines[line - 1] || "").length);
    const lineHeight = parseFloat(getComputedStyle(text).lineHeight) || 18;
    text.scrollTop = Math.max(0, (line - 5) * lineHeight);
  }

  function status(message, kind) {
    const node = document.getElementById("result-status");
    node.textContent = message;
    node.className = kind || "";
  }

  function clearResults() {
    confirmFailed = null;
    document.getElementById("btn-publish-anyway").hidden = true;
    document.getElementById("problems").replaceChildren();
    document.getElementById("diff").hidden = true;
    document.getElementById("scenario-results").hidden = true;
  }

  function showProblems(problems) {
    errorLines = new Set(problems.map((p) => p.line));
    renderGutter();
    document.getElementById("problems").replaceChildren(...problems.map((p) =>
      el("li", { class: "problem", dataset: { line: p.line } },
        el("a", { href: "#line-" + p.line, onclick: (e) => { e.preventDefault(); goToLine(p.line); }, text: p.text }))));
  }

  async function load() {
    const result = await api("GET", base);
    if (!result.ok) { status(failure(result, "edit.not_loaded"), "error"); return; }
    const d = result.data;
    text.value = d.text;
    liveText = d.text;
    liveBase = d.base;
    menuFile = d.file;
    document.getElementById("live-version").textContent =
      t(d.source === "published" ? "edit.live_published" : "edit.live_file", { version: d.version, file: d.file });
    document.getElementById("btn-to-file").hidden = d.source !== "published";
    if (d.file_differs) status(t("edit.file_differs", { file: d.file }), "error");
    document.querySelector("#versions tbody").replaceChildren(...d.history.map((v) =>
      el("tr", { class: v.live ? "live" : "", id: "version-" + v.version },
        el("td", { text: "v" + v.version + (v.live ? " — " + t("edit.live") : "") }),
        el("td", { text: v.from_file ? t("edit.author_file") : v.author }),
        el("td", { text: time(v.at) }),
        el("td", { text: [v.from_file ? t("edit.file_text") : v.comment || "", v.failed && v.failed.length
          ? t("edit.failed_at_publish", { names: v.failed.join(", ") }) : ""].filter(Boolean).join(" — ") }),
        el("td", {},
          el("button", { type: "button", onclick: () => view(v.version), text: t("edit.open") }),
          v.live ? null : el("button", { type: "button", class: "rollback", onclick: () => rollback(v.version), text: t("edit.rollback") })))));
    errorLines = new Set();
    renderGutter();
  }

  async function view(version) {
    const result = await api("GET", base + "/versions/" + version);
    if (result.ok) { text.value = result.data.text; renderGutter(); status(t("edit.opened", { version })); }
  }

  async function validate() {
    clearResults();
    const result = await api("POST", base + "/validate", { text: text.value });
    if (!result.ok) { status(failure(result, "edit.failed"), "error"); return false; }
    showProblems(result.data.problems);
    status(result.data.ok ? t("edit.no_problems") : t("edit.problems", { n: result.data.problems.length }), result.data.ok ? "ok" : "error");
    return result.data.ok;
  }

  async function diff() {
    clearResults();
    const result = await api("POST", base + "/diff", { text: text.value });
    const pre = document.getElementById("diff");
    pre.hidden = false;
    pre.replaceChildren(...(result.data.diff || t("edit.no_diff")).split("\n").map((line) =>
      el("span", { class: line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "", text: line + "\n" })));
    status("");
  }

  async function scenarios() {
    clearResults();
    status(t("edit.scenarios_running"));
    const result = await api("POST", base + "/scenarios", { text: text.value });
    if (result.data.problems && result.data.problems.length) {
      showProblems(result.data.problems);
      status(t("edit.scenarios_not_run"), "error");
      return;
    }
    showScenarios(result.data.results || []);
  }

  function showScenarios(rows) {
    const table = document.getElementById("scenario-results");
    table.hidden = false;
    table.querySelector("tbody").replaceChildren(...rows.map((r) =>
      el("tr", { class: r.passed ? "ok" : "bad" }, el("td", { text: r.name }),
        el("td", { text: r.passed ? t("edit.passed") : t("edit.not_passed") }), el("td", { text: r.failures.join("; ") }))));
    const failed = rows.filter((r) => !r.passed).length;
    status(t("edit.scenarios_result", { passed: rows.length - failed, failed }), failed ? "error" : "ok");
  }

  async function publish(acceptFailed) {
    if (!(await validate())) return;
    const comment = document.getElementById("publish-comment").value;
    const result = await api("POST", base + "/publish",
      { text: text.value, base: liveBase, comment, accept_failed: acceptFailed || [] });
    if (!result.ok && result.data.error === "scenarios_failed") {
      showScenarios(result.data.results || []);
      if (result.data.problems && result.data.problems.length) showProblems(result.data.problems);
      status(t("edit.scenarios_failed", { n: result.data.failed.length }), "error");
      confirmFailed = result.data.failed;
      document.getElementById("btn-publish-anyway").hidden = false;
      return;
    }
    if (!result.ok) {
      if (result.data.problems) showProblems(result.data.problems);
      status(failure(result, "edit.not_published"), "error");
      return;
    }
    await load();
    status(t("edit.published", { version: result.data.version }), "ok");
  }

  async function rollback(version) {
    const result = await api("POST", base + "/rollback", { version, base: liveBase });
    if (!result.ok) { status(failure(result, "edit.failed"), "error"); if (result.data.problems) showProblems(result.data.problems); return; }
    await load();
    status(t("edit.now_live", { version: result.data.version }), "ok");
  }

  document.getElementById("btn-validate").addEventListener("click", validate);
  document.getElementById("btn-diff").addEventListener("click", diff);
  document.getElementById("btn-scenarios").addEventListener("click", scenarios);
  async function toFile() {
    if (text.value !== liveText && !window.confirm(t("edit.to_file_draft"))) return;
    clearResults();
    const result = await api("POST", base + "/file", { base: liveBase });
    if (!result.ok) { status(failure(result, "edit.failed"), "error"); if (result.data.problems) showProblems(result.data.problems); return; }
    await load();
    status(t("edit.to_file_done", { file: menuFile, version: result.data.serving }), "ok");
  }

  document.getElementById("btn-publish").addEventListener("click", () => publish());
  document.getElementById("btn-publish-anyway").addEventListener("click", () => publish(confirmFailed));
  document.getElementById("btn-to-file").addEventListener("click", toFile);
  load();
})();
