// The operator's page: state buttons, the pushed screen-pop, audited "show", wrap-up, after-call timer.
"use strict";
(function () {
  const { api, el, setText, duration, time, stream, t } = window.ivr;
  const has = (key) => t(key) !== key;
  // A step's way out in words: "клавиша 1", "дальше (записано)", "согласие: «да»".
  function exitWords(s) {
    return s.exit ? window.ivr.exitWords(s.exit, s.detail || "") : "—";
  }
  const failureWords = (f) => f.startsWith("key:") ? t("exit.key", { detail: f.slice(4) }) :
    has("detail." + f) ? t("detail." + f) : f;
  // Every word below comes from the catalogue in the page's language; the state of the page
  // is kept in codes (data-state, data-call-state, data-after), never read back from words.
  const word = (prefix, code) => has(prefix + code) ? t(prefix + code) : t("op.unavailable");
  const errorText = (data) => word("op.error.", (data && data.error) || "failed");
  let call = null;          // the call on screen: {call_id, appeal, kind, recording}
  let callCode = "";        // its state (op.call.<code>); talked: it was "connected" on this screen
  let talked = false;
  let clockOffset = 0;      // server clock - browser clock, seconds
  let acwUntil = null;
  const timings = [];       // {call, eventMs, receivedMs, shownMs}: assignment -> on screen (tests, benchmark)
  window.ivrConsole = { timings, current: () => call };

  function showState(data) {
    if (data.now) clockOffset = data.now - Date.now() / 1000;
    const node = document.getElementById("state");
    node.textContent = word("op.state.", data.state) +
      (data.why === "missed" ? " — " + t("op.why.missed") : "");  // routing set it: the phone rang out
    node.dataset.state = data.state;
    document.body.dataset.state = data.state;
    // Nothing to say is nothing shown (setText's "—" read as a dangling dash: "Не готов —").
    document.getElementById("state-since").textContent = data.since ? t("op.since", { time: time(data.since) }) : "";
    const after = document.getElementById("after-call");
    after.dataset.after = data.after || "";
    after.hidden = !data.after;
    setText("after-call-text", data.after ? word("op.after.", data.after) : "");
    acwUntil = data.state === "wrap_up" ? data.wrap_until : null;
    document.getElementById("acw").hidden = acwUntil === null;
    tickAcw();
  }

  function tickAcw() {
    if (acwUntil === null) return;
    const left = acwUntil - (Date.now() / 1000 + clockOffset);
    document.getElementById("acw-timer").textContent = duration(Math.max(0, left));
  }
  setInterval(tickAcw, 250);

  function fill(tbody, rows) {
    tbody.replaceChildren(...rows);
  }

  // The call's details: shown with a pop, hidden for a call left to wrap up after a reload
  // (only its appeal number is known then: no empty labels, no other call's details).
  function details(shown) {
    document.querySelectorAll("#pop .pop-details").forEach((node) => { node.hidden = !shown; });
  }

  function showPop(pop, eventMs, receivedMs) {
    call = { call_id: pop.call_id, appeal: pop.appeal, kind: pop.kind, recording: pop.recording };
    talked = false;
    details(true);
    document.getElementById("idle").hidden = true;
    document.getElementById("done").hidden = true;
    document.getElementById("pop").hidden = false;
    document.getElementById("pop").dataset.call = pop.call_id;
    setText("pop-kind", t(pop.kind === "callback" ? "op.kind.callback" : "op.kind.call"));
    setText("pop-name", pop.name.text || t(pop.name.recognised === false ? "op.name_recorded" : "op.no_name"));
    setText("pop-confidence", pop.name.confidence === null ? "—" : Math.round(pop.name.confidence * 100) + "%");
    document.getElementById("pop-clip").hidden = !pop.name.clip;
    document.getElementById("pop-clip-player").replaceChildren();
    document.getElementById("pop-clip-note").hidden = pop.name.clip_note !== "no_key";
    setText("pop-appeal", pop.appeal);
    callState(pop.connected ? "connected" : pop.kind === "callback" ? "dialling" : "connecting");
    document.getElementById("pop-answered").hidden = !(pop.answer_here && !pop.connected);
    setText("pop-inn", pop.inn);
    setText("pop-snils", pop.snils);
    document.getElementById("show-inn").hidden = !pop.inn;
    document.getElementById("show-snils").hidden = !pop.snils;
    setText("pop-identity", t(pop.identity_confirmed ? "op.identity.confirmed" : "op.identity.unconfirmed"));
    setText("pop-topic", topicName(pop.topic));
    setText("pop-queue", (window.ivr.queues || {})[pop.queue] || pop.queue_name);
    setText("pop-language", word("detail.", pop.language));
    setText("pop-waited", t("op.waited_value", { queue: duration(pop.waited), menu: duration(pop.in_menu) }));
    setText("pop-callback", pop.kind === "callback" ? t("op.callback_to", { number: pop.callback_number || "—" }) : t("op.live_call"));
    const c = pop.consent;
    setText("pop-consent", c === null ? t("op.consent.none") :
      t(c.granted ? "op.consent.granted" : "op.consent.refused") + " (" +
      t(c.method === "voice" ? "op.consent.voice" : "op.consent.key") + (c.heard ? ": «" + c.heard + "»" : "") + ")");
    // Pause / resume: only for a call being recorded (consent given, a key), while it lasts.
    document.getElementById("pop-pause").hidden = pop.recording !== "recording";
    document.getElementById("pop-pause-error").hidden = true;
    showPaused(pop.recording_paused);
    setText("pop-caller", pop.caller);
    setText("pop-menu-version", "v" + pop.menu_version);
    document.getElementById("pop-repeat").hidden = !pop.repeat;
    fill(document.querySelector("#pop-previous tbody"), pop.previous.length ? pop.previous.map((a) =>
      el("tr", { class: a.resolved ? "" : "unresolved" }, el("td", { text: a.number }),
        el("td", { text: topicName(a.topic) }), el("td", { text: word("detail.", a.status) }),
        el("td", { text: time(a.opened_at) }), el("td", { text: time(a.updated_at) })))
      : [el("tr", {}, el("td", { colspan: 5, class: "muted", text: t("op.previous.none") }))]);
    fill(document.querySelector("#pop-path tbody"), pop.path.map((s) =>
      el("tr", { class: s.failures.length ? "failed" : "", dataset: { node: s.node } },
        el("td", { text: (s.label && (s.label[window.ivr.lang] || s.label.ru)) || s.node }),
        el("td", { text: "+" + duration(s.at) }), el("td", { text: duration(s.seconds) }),
        el("td", { text: exitWords(s) }),
        el("td", { text: s.attempts }), el("td", { text: s.failures.map(failureWords).join(", ") || "—" }))));
    const form = document.getElementById("wrap-up");
    form.reset();
    document.getElementById("wrap-error").hidden = true;
    document.dispatchEvent(new CustomEvent("ivr:pop", { detail: pop }));  // transfer.js
    if (eventMs) timings.push({ call: pop.call_id, eventMs, receivedMs, shownMs: Date.now() });
    if (timings.length > 1000) timings.shift();
  }

  function showPending(pending) {
    call = pending;
    document.dispatchEvent(new CustomEvent("ivr:pop", { detail: null }));  // no live call: no transfer
    document.getElementById("pop-answered").hidden = true;
    document.getElementById("idle").hidden = true;
    document.getElementById("pop").hidden = false;
    document.getElementById("pop").dataset.call = pending.call_id;
    setText("pop-name", t("op.pending"));
    setText("pop-appeal", pending.appeal);
    setText("pop-kind", t(pending.kind === "callback" ? "op.kind.callback" : "op.kind.call"));
    callState(pending.outcome || "ended");  // what became of it: a conversation, or none
    details(false);
    document.getElementById("pop-pause").hidden = true;
    document.getElementById("pop-clip-player").replaceChildren();
    document.getElementById("pop-repeat").hidden = true;
    document.getElementById("wrap-up").reset();
  }

  // The call's state on the pop, by code: connecting, dialling, connected, ended, abandoned, expired.
  function callState(code) {
    const node = document.getElementById("pop-call-state");
    node.dataset.callState = code;
    node.textContent = t("op.call." + code);
    if (code !== "connecting") document.getElementById("pop-answered").hidden = true;
    if (!["connecting", "dialling", "connected"].includes(code)) document.getElementById("pop-pause").hidden = true;
    callCode = code;
    if (code === "connected") talked = true;
    showPaused(document.getElementById("pop-recording").dataset.paused === "1");
    document.dispatchEvent(new CustomEvent("ivr:call-state", { detail: code }));
  }

  // What the recording line says: a recorded call is "being recorded" only while the
  // conversation lasts (before: it will be; after: it was, or there was none).
  function recordingWords(paused) {
    if (!call || !call.recording) return "—";
    if (call.recording !== "recording") return word("op.recording.", call.recording);
    if (callCode === "connected") return t(paused ? "op.recording.paused" : "op.recording.recording");
    if (callCode === "connecting" || callCode === "dialling") return t("op.recording.will");
    return t(talked ? "op.recording.over" : "op.recording.none_made");
  }

  // The recording's state (data-paused "1" / ""), the words beside it and the button's.
  function showPaused(paused) {
    const recording = document.getElementById("pop-recording");
    const button = document.getElementById("pop-pause");
    recording.dataset.paused = paused ? "1" : "";
    button.dataset.paused = paused ? "1" : "";
    recording.textContent = recordingWords(paused);
    button.textContent = t(paused ? "op.resume" : "op.pause");
  }

  // One request at a time: the button is disabled until the answer (a double click sends one);
  // a refusal is said beside it and the state shown stays what the engine says.
  document.getElementById("pop-pause").addEventListener("click", async () => {
    const button = document.getElementById("pop-pause");
    if (!call || button.disabled) return;
    const pausing = button.dataset.paused !== "1";
    button.disabled = true;
    const error = document.getElementById("pop-pause-error");
    try {
      const result = await api("POST", "/operator/api/calls/" + encodeURIComponent(call.call_id) +
                               "/recording/" + (pausing ? "pause" : "resume"), {});
      error.hidden = result.ok;
      if (result.ok) { showPaused(result.data.paused); return; }
      error.textContent = errorText(result.data);
      if (result.data && result.data.error === "already_paused") showPaused(true);
      if (result.data && result.data.error === "not_paused") showPaused(false);
      if (result.data && result.data.error === "call_over") callState("ended");
    } finally {
      button.disabled = false;
    }
  });

  function topicName(topic) {
    return !topic ? t("op.no_topic") : word("topic.", topic);
  }

  // A text with {name} places filled by nodes: "Обращение <span>…</span>: статус «<span>…</span>»."
  function textWith(key, nodes) {
    const parts = t(key).split(/(\{\w+\})/);
    return parts.map((part) => nodes[part.slice(1, -1)] || part);
  }

  // No telephony event says that the conversation began (no AMI): the operator does.
  document.getElementById("pop-answered").addEventListener("click", async () => {
    if (!call) return;
    const result = await api("POST", "/operator/api/calls/" + encodeURIComponent(call.call_id) + "/answered", {});
    const error = document.getElementById("status-error");
    error.hidden = result.ok;
    if (!result.ok) { error.textContent = errorText(result.data); return; }
    callState("connected");
    showState(result.data);
  });

  async function setState(state) {
    const result = await api("POST", "/operator/api/state", { state });
    const error = document.getElementById("status-error");
    error.hidden = result.ok;
    if (!result.ok) error.textContent = errorText(result.data);
    else showState(result.data);
  }

  document.getElementById("after-call-cancel").addEventListener("click", async () => {
    const result = await api("POST", "/operator/api/after-call/cancel", {});
    const error = document.getElementById("status-error");
    error.hidden = result.ok;
    if (!result.ok) error.textContent = errorText(result.data);
    else showState(result.data);
  });

  for (const button of document.querySelectorAll("button[data-state]")) {
    button.addEventListener("click", () => setState(button.dataset.state));
  }

  for (const button of document.querySelectorAll("button.reveal")) {
    button.addEventListener("click", async () => {
      if (!call) return;
      const field = button.dataset.field;
      const result = await api("POST", "/operator/api/calls/" + encodeURIComponent(call.call_id) + "/reveal", { field });
      if (result.ok) {
        setText("pop-" + field, result.data.value);
        button.hidden = true;
      } else {
        setText("pop-" + field, has("op.error." + result.data.error) ? errorText(result.data) : t("op.unavailable"));
      }
    });
  }

  document.getElementById("pop-clip").addEventListener("click", () => {
    if (!call) return;
    const audio = el("audio", { controls: true, autoplay: true,
      src: "/operator/calls/" + encodeURIComponent(call.call_id) + "/name-clip" });
    // No clip (none was recorded, it is gone, or not this operator's): say so, not an empty 0:00 player.
    audio.addEventListener("error", () => {
      document.getElementById("pop-clip-player").replaceChildren(el("span", { class: "error", id: "pop-clip-error",
                                                                               text: t("op.error.no_clip") }));
    });
    document.getElementById("pop-clip-player").replaceChildren(audio);
  });

  document.getElementById("wrap-up").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!call) return;
    const form = event.target;
    const body = { result: form.result.value, status: form.status.value, note: form.note.value };
    const result = await api("POST", "/operator/api/calls/" + encodeURIComponent(call.call_id) + "/wrap-up", body);
    const error = document.getElementById("wrap-error");
    if (!result.ok) {
      error.hidden = false;
      error.textContent = errorText(result.data);
      return;
    }
    document.getElementById("pop").hidden = true;
    const done = document.getElementById("done");
    done.dataset.appeal = result.data.appeal || "";
    done.dataset.status = body.status;
    done.replaceChildren(...textWith("op.done", {
      appeal: el("strong", { id: "done-appeal", text: result.data.appeal || "—" }),
      status: el("span", { id: "done-status", text: word("detail.", body.status) }) }));
    done.hidden = false;
    call = null;
    showState(result.data);
  });

  // A supervisor I hear (whisper: only me; barge: the citizen too); silent listening is never sent.
  function showSupervisor(data) {
    const box = document.getElementById("supervisor-on-call");
    box.dataset.mode = data.mode || "";
    box.hidden = !data.mode;
    setText("supervisor-on-call-text", data.mode ? t("op.supervisor." + data.mode, { who: data.supervisor }) : "");
  }

  stream("/operator/events", {
    hello: (data) => {
      showState(data);
      showSupervisor(data.supervisor || { mode: null });
      if (data.pop) showPop(data.pop, null);
      else if (data.pending) showPending(data.pending);
    },
    pop: (pop) => {
      const receivedMs = Date.now();
      showPop(pop, pop.event_ms, receivedMs);
      if (pop.operator_state) showState(pop.operator_state);
    },
    state: showState,
    // the first operator's side of a transfer (transfer.js shows it)
    transfer: (data) => {
      if (call && call.call_id === data.call_id && data.what === "transferred") callState("transferred");
      if (call && call.call_id === data.call_id && data.what === "transfer_failed") callState("connected");
      document.dispatchEvent(new CustomEvent("ivr:transfer", { detail: data }));
      showState(data);
    },
    answered: (data) => { if (call && call.call_id === data.call_id) callState("connected"); showState(data); },
    ended: (data) => { if (call && call.call_id === data.call_id) callState("ended"); showState(data); },
    callback_dialled: (data) => { if (call && call.call_id === data.call_id) callState("dialling"); },
    gone: (data) => {
      if (call && call.call_id === data.call_id) {
        const known = ["abandoned", "missed", "consult_cancelled", "callback_no_answer", "callback_failed"];
        callState(known.includes(data.gone) ? data.gone : "expired");
      }
      showState(data);
    },
    supervisor: showSupervisor,
    // the caller's spoken name can be played now (behind Twilio it is stored after the pop)
    name: (data) => { if (call && call.call_id === data.call_id) document.getElementById("pop-clip").hidden = !data.clip; },
    resync: () => window.location.reload(),
  });
})();
