// The live queue dashboard: figures pushed by the server, the last hour drawn as inline SVG.
"use strict";
(function () {
  const { api, el, svg, setText, duration, time, stream, t, word } = window.ivr;
  const stateName = (s) => t("state." + s);

  function total(id, n, key) {
    setText(id, n);
    setText(id + "-label", word(n, key));
  }

  // What an operator is busy with, in words: the queue the call came from, not its id.
  function callOf(o, queues) {
    if (!o.call) return "—";
    const name = o.call_queue ? (queues[o.call_queue] || o.call_queue) : null;
    return name ? t("dash.call_on", { queue: name, since: time(o.since) }) : t("dash.call_any");
  }

  function percent(x) { return x === null || x === undefined ? "—" : Math.round(x * 100) + "%"; }

  function render(data) {
    const sums = data.totals;
    total("total-waiting", sums.waiting, "dash.waiting");
    total("total-callbacks", sums.callbacks_pending, "dash.callbacks");
    total("total-answered", sums.answered, "dash.answered");
    total("total-abandoned", sums.abandoned, "dash.abandoned");
    const queueNames = Object.assign(Object.fromEntries(data.queues.map((q) => [q.queue, q.name])), window.ivr.queues || {});
    document.querySelector("#queues tbody").replaceChildren(...data.queues.map((q) => {
      const free = q.operators.available || 0;
      const busy = (q.operators.reserved || 0) + (q.operators.on_call || 0) + (q.operators.wrap_up || 0);
      const sl = q.service_level;
      return el("tr", { id: "queue-" + q.queue, class: q.waiting ? "busy" : "" },
        el("td", { text: (window.ivr.queues || {})[q.queue] || q.name }), el("td", { text: q.open ? t("common.yes") : t("common.no") }),
        el("td", { class: "num waiting", text: q.waiting }), el("td", { text: duration(q.longest_wait) }),
        el("td", { class: "expected", text: q.expected_wait === null ? t("dash.nobody_on_duty") : duration(q.expected_wait) }),
        el("td", { class: sl !== null && sl < q.service_level_target ? "bad" : "",
          text: percent(sl) + " (" + t("dash.target", { target: percent(q.service_level_target), seconds: q.service_level_seconds }) + ")" }),
        el("td", { class: "num", text: q.abandoned }), el("td", { class: "num", text: q.callbacks_pending }),
        el("td", { text: free + " / " + busy }));
    }));
    document.getElementById("operator-states").replaceChildren(...Object.entries(sums.operators).map(([s, n]) =>
      el("span", { class: "chip state-" + s, text: stateName(s) + ": " + n })));
    document.querySelector("#operators tbody").replaceChildren(...data.operators.map((o) =>
      el("tr", { id: "op-" + o.id, class: "state-" + o.state + (o.attention ? " attention" : ""), dataset: { operator: o.id } },
        el("td", { class: "op-name", text: o.name }),
        el("td", { class: "op-state", text: stateName(o.state) + (o.why === "missed" ? " — " + t("state.why_missed") : "") +
          (o.attention ? " (" + t("dash.missed_in_a_row", { n: o.missed }) + ")" : "") }),
        el("td", { text: o.since ? time(o.since) : "—" }), el("td", { class: "op-call", text: callOf(o, queueNames) }),
        el("td", { class: "op-supervise" }, ...superviseCell(o)))));
    showMine(data.operators);
  }

  // -- supervisors on live calls: listen, whisper, barge --------------------------------------
  const panel = document.getElementById("supervise");
  const me = panel.dataset.me;
  const MODES = ["listen", "whisper", "barge"];
  // Supervision requests go one after another, in the order clicked: a click while one is on
  // its way (the dashboard may already show its effect) waits its turn, not dropped; the same
  // request twice in a row is sent once (no second ring of the supervisor's phone).
  let queue = Promise.resolve();
  let pendingKey = null;
  function inTurn(key, work) {
    if (key === pendingKey) return queue;
    pendingKey = key;
    queue = queue.then(work).catch(() => {}).finally(() => { if (pendingKey === key) pendingKey = null; });
    return queue;
  }

  // The buttons of a live call's row; the mode I am in is marked; other supervisors named.
  function superviseCell(o) {
    if (!o.live) {  // on a call no telephony lets the engine join: say so, not an empty cell
      return o.live === false && o.call && o.state === "on_call"
        ? [el("span", { class: "muted supervise-not-live", id: "supervise-" + o.id + "-not-live", text: t("sup.not_live") })] : [];
    }
    const mine = (o.supervisors || []).find((s) => s.by === me);
    const buttons = el("span", { class: "supervise-buttons" }, ...MODES.map((mode) =>
      el("button", { type: "button", class: "supervise" + (mine && mine.mode === mode ? " active" : ""),
        id: "supervise-" + o.id + "-" + mode, title: t("sup." + mode + "_hint"), dataset: { call: o.call, mode },
        onclick: () => supervise(o.call, mode), text: t("sup." + mode) })));
    const others = (o.supervisors || []).filter((s) => s.by !== me).map((s) =>
      el("span", { class: "muted", text: " " + t("sup.others", { who: s.by, mode: t("sup.mode." + s.mode) }) }));
    return [buttons, ...others];
  }

  // Where I am, from the dashboard's push (every second): the panel and its Leave button.
  function showMine(operators) {
    let row = null, mine = null;
    for (const o of operators) {
      const s = (o.supervisors || []).find((x) => x.by === me);
      if (s) { row = o; mine = s; }
    }
    panel.dataset.mode = mine ? mine.mode : "";
    panel.dataset.call = mine ? row.call : "";
    setText("supervise-state", mine ? t("sup.on", { operator: row.name, mode: t("sup.mode." + mine.mode) }) : t("sup.idle"));
    document.getElementById("supervise-stop").hidden = !mine;
  }

  function failed(result) {
    const error = document.getElementById("supervise-error");
    error.hidden = result.ok;
    if (!result.ok) {
      const key = "sup.error." + ((result.data && result.data.error) || "failed");
      error.dataset.error = (result.data && result.data.error) || "failed";
      error.textContent = t(key) === key ? t("sup.error.failed") : t(key);
    }
    return !result.ok;
  }

  function supervise(call, mode) {
    return inTurn(call + " " + mode, async () => {
      setText("supervise-state", t("sup.ringing"));
      const result = await api("POST", "/supervisor/api/supervise", { call, mode });
      if (failed(result)) return;
      panel.dataset.mode = result.data.watch.mode;
      panel.dataset.call = result.data.watch.call;
    });
  }

  document.getElementById("supervise-stop").addEventListener("click", () => inTurn("stop", async () => {
    const result = await api("POST", "/supervisor/api/supervise/stop", {});
    if (failed(result)) return;
    panel.dataset.mode = "";
    panel.dataset.call = "";
    setText("supervise-state", t("sup.idle"));
    document.getElementById("supervise-stop").hidden = true;
  }));

  function chart(hour) {
    const width = 720, height = 160, pad = 24, series = ["enqueued", "answered", "abandoned"];
    const max = Math.max(1, ...hour.minutes.flatMap((m) => series.map((s) => m[s])));
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "hour", role: "img",
      "aria-label": t("dash.hour_label") });
    const slot = (width - pad) / 60, bar = Math.max(1, slot / series.length - 1);
    root.append(svg("line", { x1: pad, y1: height - pad, x2: width, y2: height - pad, class: "axis" }));
    root.append(svg("text", { x: 0, y: 12, class: "tick", text: String(max) }));
    root.append(svg("text", { x: pad, y: height - 6, class: "tick", text: t("dash.minus_hour") }));
    root.append(svg("text", { x: width - 40, y: height - 6, class: "tick", text: t("dash.now") }));
    hour.minutes.forEach((m, i) => {
      series.forEach((s, j) => {
        const h = (m[s] / max) * (height - 2 * pad);
        if (h <= 0) return;
        const rect = svg("rect", { x: pad + i * slot + j * (bar + 1), y: height - pad - h, width: bar, height: h, class: s });
        rect.append(svg("title", { text: `${t("dash.minutes_ago", { n: 60 - i })}: ${t("series." + s)} ${m[s]}` }));
        root.append(rect);
      });
    });
    document.getElementById("hour-chart").replaceChildren(root);
  }

  stream("/supervisor/events", { dashboard: render, hour: chart });
})();
