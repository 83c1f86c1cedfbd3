// Recordings for the auditor: every listen or download asks for a reason and is audited by the store.
// Each row says what was recorded (the conversation, the caller's spoken name, the consent answer).
"use strict";
(function () {
  const { api, el, time, t, duration } = window.ivr;
  const has = (key) => t(key) !== key;
  const kindWords = (kind) => has("rec.kind." + kind) ? t("rec.kind." + kind) : kind;
  const queueName = (queue) => (window.ivr.queues || {})[queue] || queue;
  const word = (prefix, value) => has(prefix + value) ? t(prefix + value) : value;
  // "telephony_failed: <the telephony's own words>": the kind in the page's language, the
  // telephony's words as they came (what whoever looks into it searches for).
  const detailWords = (detail) => {
    if (has("audit.detail." + detail)) return t("audit.detail." + detail);
    const [kind, ...rest] = detail.split(": ");
    return rest.length && has("audit.detail." + kind) ? t("audit.detail." + kind) + ": " + rest.join(": ") : detail;
  };
  // A reason the console wrote itself ("screen-pop: the caller's spoken name, call 1796...")
  // in the page's words; a reason a person typed, as typed.
  const SYSTEM_REASON = "screen-pop: the caller's spoken name, call ";
  const reasonWords = (reason) => reason && reason.startsWith(SYSTEM_REASON)
    ? t("audit.reason.screenpop_name", { call: reason.slice(SYSTEM_REASON.length) }) : (reason || "");
  // "0:04–0:08 (paused by oleg, resumed by oleg)": offsets in the audio, silence there.
  const pausedWords = (spans) => !spans || !spans.length ? t("rec.paused_none") : spans.map((s) =>
    s.end === null ? t("rec.paused_open", { from: duration(s.start), by: s.paused_by }) :
      t("rec.paused_span", { from: duration(s.start), to: duration(s.end), by: s.paused_by,
                             resumed_by: s.resumed_by || "—" })).join("; ");

  async function access(r, action, reasonInput) {
    const reason = reasonInput.value.trim();
    const result = await api("POST", "/auditor/api/recordings/" + encodeURIComponent(r.id) + "/access", { reason, action });
    if (!result.ok) { document.getElementById("rec-status").textContent = result.data.message || t("rec.refused"); return; }
    if (action === "download") { window.location.assign(result.data.url); return; }
    // Fetched here, not by the <audio> element, so a refusal ("archive unavailable") is shown;
    // the store has written its audit line once the fetch is answered: the log is shown then.
    const audio = await fetch(result.data.url, { credentials: "same-origin" });
    if (!audio.ok) {
      let message = t("rec.refused");
      try { message = (await audio.json()).message || message; } catch (e) { /* not JSON */ }
      document.getElementById("rec-status").textContent = message;
      audit("recordings");
      return;
    }
    document.getElementById("rec-status").textContent = "";
    const src = URL.createObjectURL(await audio.blob());
    document.getElementById("player").replaceChildren(
      el("p", { id: "playing", text: t("rec.playing", { kind: kindWords(r.kind), created: time(r.created) }) }),
      el("audio", { controls: true, autoplay: true, src }));
    audit("recordings");
  }

  async function holdChange(r, hold, reasonInput) {
    const result = await api("POST", "/auditor/api/recordings/" + encodeURIComponent(r.id) + "/hold",
      { hold, reason: reasonInput.value.trim() });
    document.getElementById("rec-status").textContent = result.ok ? "" : (result.data.message || t("rec.refused"));
    if (result.ok) await load();
    audit("recordings");
  }

  async function load() {
    const result = await api("GET", "/auditor/api/recordings?days=30");
    if (!result.ok) return;
    document.getElementById("rec-status").textContent = !result.data.enabled ? t("rec.no_key") :
      result.data.recordings.length ? "" : t("rec.none");
    document.querySelector("#recordings tbody").replaceChildren(...result.data.recordings.map((r) => {
      const reason = el("input", { placeholder: t("rec.reason_hint"), maxlength: 500, class: "reason" });
      return el("tr", { id: "rec-" + r.id, class: "kind-" + r.kind, dataset: { kind: r.kind } },
        el("td", { text: time(r.created) }), el("td", { class: "rec-kind", text: kindWords(r.kind) }),
        el("td", { text: r.call_id }),
        el("td", { text: r.appeal || "—" }), el("td", { text: r.operator || "—" }),
        el("td", { text: r.queue ? queueName(r.queue) : "—" }),
        el("td", { text: r.hold ? t("rec.hold") : time(r.expires) }),
        el("td", { class: "rec-paused", text: pausedWords(r.paused) }), el("td", {}, reason),
        el("td", {}, el("button", { type: "button", class: "listen", onclick: () => access(r, "listen", reason), text: t("rec.listen") }),
          el("button", { type: "button", class: "download", onclick: () => access(r, "download", reason), text: t("rec.download") }),
          el("button", { type: "button", class: "hold", onclick: () => holdChange(r, !r.hold, reason),
            text: r.hold ? t("rec.release_hold") : t("rec.put_hold") })));
    }));
  }

  async function audit(which) {
    const result = await api("GET", "/auditor/api/audit?log=" + which);
    if (!result.ok) return;
    const chain = result.data.chain === "ok" ? t("rec.chain.ok") : result.data.chain;
    document.getElementById("audit-chain").textContent = t("rec.chain", { lines: result.data.lines, chain });
    document.querySelector("#audit tbody").replaceChildren(...result.data.entries.map((e) =>
      el("tr", { class: e.outcome === "allowed" ? "" : "bad" }, el("td", { text: e.seq }),
        el("td", { text: time(Date.parse(e.at) / 1000) }),
        el("td", { text: e.actor }), el("td", { text: word("role.", e.role) }), el("td", { class: "audit-action", text: word("action.", e.action) }),
        el("td", { text: e.recording || e.call || "" }), el("td", { class: "audit-reason", text: reasonWords(e.reason) }),
        el("td", { text: word("result.", e.outcome) + (e.detail ? " (" + detailWords(e.detail) + ")" : "") }))));
  }

  // Why a copy was refused, in the page's words: a number that is not one (what, why), a
  // missing reason; the server's own message for anything else.
  function copyRefusal(data) {
    if (!data) return t("rec.refused");
    if (data.error === "bad_identity" && has("copy.error.bad." + data.reason)) {
      return t("copy.error.bad." + data.reason, { what: has("copy.by." + data.kind) ? t("copy.by." + data.kind) : data.kind });
    }
    return has("copy.error." + data.error) ? t("copy.error." + data.error) : (data.message || t("rec.refused"));
  }

  // The citizen's copy: the archive comes back as a file; the number typed is sent once, kept nowhere here.
  document.getElementById("copy-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = document.getElementById("copy-status");
    const value = document.getElementById("copy-value");
    const response = await fetch("/auditor/api/citizen-copy", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": window.ivr.csrf() },
      body: JSON.stringify({ by: document.getElementById("copy-by").value, value: value.value,
        reason: document.getElementById("copy-reason").value.trim() }),
    });
    if (!response.ok) {
      let data = null;
      try { data = await response.json(); } catch (e) { data = null; }
      status.textContent = copyRefusal(data);
      return;
    }
    const file = (response.headers.get("Content-Disposition") || "").replace(/^.*filename="([^"]+)".*$/, "$1") || "copy.zip";
    const blob = await response.blob();
    const link = el("a", { href: URL.createObjectURL(blob), download: file });
    link.click();
    URL.revokeObjectURL(link.href);
    value.value = "";
    status.textContent = t("copy.done", { file, appeals: response.headers.get("X-Archive-Appeals") || "?",
      recordings: response.headers.get("X-Archive-Recordings") || "?" });
    audit("console");
  });

  for (const button of document.querySelectorAll("button.audit-log")) {
    button.addEventListener("click", () => audit(button.dataset.log));
  }
  load();
  audit("recordings");
})();
