// The operator's page: state buttons, the pushed screen-pop, audited "show", wrap-up, after-call timer.
"use strict";
(function () {
  const { api, el, setText, duration, time, stream, t } = window.ivr;
  const has = (key) => t(key) !== key;
  // A step's way out in words: "клавиша 1", "дальше (записано)", "согласие: «да»".
  function exitWords(s) {
    if (!s.exit) return "—";
    const key = has("exit." + s.exit) ? "exit." + s.exit : "exit.none";
    const detail = !s.detail ? "" : has("detail." + s.detail) ? t("detail." + s.detail) : s.detail;
    const text = t(key, { detail });
    return detail && !t(key).includes("{detail}") ? text + " (" + detail + ")" : text;
  }
  const failureWords = (f) => f.startsWith("key:") ? t("exit.key", { detail: f.slice(4) }) :
    has("detail." + f) ? t("detail." + f) : f;
  const STATE_NAMES = {
    offline: "Не готов", available: "Готов", reserved: "Вызов назначен", on_call: "Разговор",
    wrap_up: "Поствызывная обработка", break: "Перерыв",
  };
  const RECORDING = {
    recording: "идёт запись разговора", no_consent: "не записывается (нет согласия)",
    no_key: "не записывается (запись отключена: нет ключа)",
  };
  let call = null;          // the call on screen: {call_id, appeal, kind}
  let clockOffset = 0;      // server clock - browser clock, seconds
  let acwUntil = null;
  const timings = [];       // {call, eventMs, receivedMs, shownMs}: assignment -> on screen (tests, benchmark)
  window.ivrConsole = { timings, current: () => call };

  function showState(data) {
    if (data.now) clockOffset = data.now - Date.now() / 1000;
    const node = document.getElementById("state");
    node.textContent = STATE_NAMES[data.state] || data.state;
    node.dataset.state = data.state;
    document.body.dataset.state = data.state;
    setText("state-since", data.since ? "с " + time(data.since) : "");
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

  function showPop(pop, eventMs, receivedMs) {
    call = { call_id: pop.call_id, appeal: pop.appeal, kind: pop.kind };
    document.getElementById("idle").hidden = true;
    document.getElementById("done").hidden = true;
    document.getElementById("pop").hidden = false;
    document.getElementById("pop").dataset.call = pop.call_id;
    setText("pop-kind", pop.kind === "callback" ? "Обратный звонок" : "Входящий вызов");
    setText("pop-name", pop.name.text || "ФИО не распознано");
    setText("pop-confidence", pop.name.confidence === null ? "—" : Math.round(pop.name.confidence * 100) + "%");
    document.getElementById("pop-clip").hidden = !pop.name.clip;
    document.getElementById("pop-clip-player").replaceChildren();
    const clipNote = document.getElementById("pop-clip-note");
    clipNote.hidden = pop.name.clip_note !== "no_key";
    clipNote.textContent = "запись имени не сохранена: нет ключа записи";
    setText("pop-appeal", pop.appeal);
    setText("pop-call-state", pop.connected ? "на связи" : pop.kind === "callback" ? "набираем абонента…" : "соединение…");
    document.getElementById("pop-answered").hidden = !(pop.answer_here && !pop.connected);
    setText("pop-inn", pop.inn);
    setText("pop-snils", pop.snils);
    document.getElementById("show-inn").hidden = !pop.inn;
    document.getElementById("show-snils").hidden = !pop.snils;
    setText("pop-identity", pop.identity_confirmed ? "подтверждена в меню" : "не подтверждена");
    setText("pop-topic", pop.topic_label);
    setText("pop-queue", pop.queue_name);
    setText("pop-language", pop.language_label);
    setText("pop-waited", duration(pop.waited) + " в очереди, " + duration(pop.in_menu) + " в меню");
    setText("pop-callback", pop.kind === "callback" ? "обратный звонок на " + (pop.callback_number || "—") : "живой вызов");
    const c = pop.consent;
    setText("pop-consent", c === null ? "не спрашивали" :
      (c.granted ? "согласие дано" : "отказ") + " (" + (c.method === "voice" ? "голосом" : "клавишей") +
      (c.heard ? ": «" + c.heard + "»" : "") + ")");
    setText("pop-recording", RECORDING[pop.recording] || "—");
    setText("pop-caller", pop.caller);
    setText("pop-menu-version", "v" + pop.menu_version);
    document.getElementById("pop-repeat").hidden = !pop.repeat;
    fill(document.querySelector("#pop-previous tbody"), pop.previous.length ? pop.previous.map((a) =>
      el("tr", { class: a.resolved ? "" : "unresolved" }, el("td", { text: a.number }),
        el("td", { text: a.topic_label }), el("td", { text: a.status_name }),
        el("td", { text: time(a.opened_at) }), el("td", { text: time(a.updated_at) })))
      : [el("tr", {}, el("td", { colspan: 5, class: "muted", text: "нет" }))]);
    fill(document.querySelector("#pop-path tbody"), pop.path.map((s) =>
      el("tr", { class: s.failures.length ? "failed" : "", dataset: { node: s.node } },
        el("td", { text: (s.label && (s.label[window.ivr.lang] || s.label.ru)) || s.node }),
        el("td", { text: "+" + duration(s.at) }), el("td", { text: duration(s.seconds) }),
        el("td", { text: exitWords(s) }),
        el("td", { text: s.attempts }), el("td", { text: s.failures.map(failureWords).join(", ") || "—" }))));
    const form = document.getElementById("wrap-up");
    form.reset();
    document.getElementById("wrap-error").hidden = true;
    if (eventMs) timings.push({ call: pop.call_id, eventMs, receivedMs, shownMs: Date.now() });
    if (timings.length > 1000) timings.shift();
  }

  function showPending(pending) {
    call = pending;
    document.getElementById("pop-answered").hidden = true;
    document.getElementById("idle").hidden = true;
    document.getElementById("pop").hidden = false;
    document.getElementById("pop").dataset.call = pending.call_id;
    setText("pop-name", "Разговор окончен — заполните итог");
    setText("pop-appeal", pending.appeal);
  }

  function callState(text) {
    setText("pop-call-state", text);
    if (text !== "соединение…") document.getElementById("pop-answered").hidden = true;
  }

  // No telephony event says that the conversation began (no AMI): the operator does.
  document.getElementById("pop-answered").addEventListener("click", async () => {
    if (!call) return;
    const result = await api("POST", "/operator/api/calls/" + encodeURIComponent(call.call_id) + "/answered", {});
    const error = document.getElementById("status-error");
    error.hidden = result.ok;
    if (!result.ok) { error.textContent = result.data.message || "Не удалось"; return; }
    callState("на связи");
    showState(result.data);
  });

  async function setState(state) {
    const result = await api("POST", "/operator/api/state", { state });
    const error = document.getElementById("status-error");
    error.hidden = result.ok;
    if (!result.ok) error.textContent = result.data.message || "Не удалось";
    else showState(result.data);
  }

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
        setText("pop-" + field, result.data.message || "недоступно");
      }
    });
  }

  document.getElementById("pop-clip").addEventListener("click", () => {
    if (!call) return;
    const audio = el("audio", { controls: true, autoplay: true,
      src: "/operator/calls/" + encodeURIComponent(call.call_id) + "/name-clip" });
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
      error.textContent = result.data.message || "Не удалось";
      return;
    }
    document.getElementById("pop").hidden = true;
    document.getElementById("done").hidden = false;
    setText("done-appeal", result.data.appeal);
    setText("done-status", result.data.appeal_status);
    call = null;
    showState(result.data);
  });

  stream("/operator/events", {
    hello: (data) => {
      showState(data);
      if (data.pop) showPop(data.pop, null);
      else if (data.pending) showPending(data.pending);
    },
    pop: (pop) => {
      const receivedMs = Date.now();
      showPop(pop, pop.event_ms, receivedMs);
      if (pop.operator_state) showState(pop.operator_state);
    },
    state: showState,
    answered: (data) => { if (call && call.call_id === data.call_id) callState("на связи"); showState(data); },
    ended: (data) => { if (call && call.call_id === data.call_id) callState("разговор окончен"); showState(data); },
    callback_dialled: (data) => { if (call && call.call_id === data.call_id) callState("набираем абонента…"); },
    gone: (data) => {
      if (call && call.call_id === data.call_id) {
        callState(data.why === "abandoned" ? "абонент положил трубку" : "бронь истекла, вызов вернулся в очередь");
      }
      showState(data);
    },
    resync: () => window.location.reload(),
  });
})();
