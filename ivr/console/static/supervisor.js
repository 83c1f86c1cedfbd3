// The live queue dashboard: figures pushed by the server, the last hour drawn as inline SVG.
"use strict";
(function () {
  const { el, svg, setText, duration, time, stream } = window.ivr;
  const STATE_NAMES = {
    offline: "не готов", available: "свободен", reserved: "назначен", on_call: "разговор",
    wrap_up: "обработка", break: "перерыв",
  };

  function percent(x) { return x === null || x === undefined ? "—" : Math.round(x * 100) + "%"; }

  function render(data) {
    const t = data.totals;
    setText("total-waiting", t.waiting);
    setText("total-callbacks", t.callbacks_pending);
    setText("total-answered", t.answered);
    setText("total-abandoned", t.abandoned);
    document.querySelector("#queues tbody").replaceChildren(...data.queues.map((q) => {
      const free = q.operators.available || 0;
      const busy = (q.operators.reserved || 0) + (q.operators.on_call || 0) + (q.operators.wrap_up || 0);
      const sl = q.service_level;
      return el("tr", { id: "queue-" + q.queue, class: q.waiting ? "busy" : "" },
        el("td", { text: q.name }), el("td", { text: q.open ? "да" : "нет" }),
        el("td", { class: "num waiting", text: q.waiting }), el("td", { text: duration(q.longest_wait) }),
        el("td", { text: duration(q.expected_wait) }),
        el("td", { class: sl !== null && sl < q.service_level_target ? "bad" : "",
          text: percent(sl) + " (цель " + percent(q.service_level_target) + " за " + q.service_level_seconds + " с)" }),
        el("td", { class: "num", text: q.abandoned }), el("td", { class: "num", text: q.callbacks_pending }),
        el("td", { text: free + " / " + busy }));
    }));
    document.getElementById("operator-states").replaceChildren(...Object.entries(t.operators).map(([s, n]) =>
      el("span", { class: "chip state-" + s, text: (STATE_NAMES[s] || s) + ": " + n })));
    document.querySelector("#operators tbody").replaceChildren(...data.operators.map((o) =>
      el("tr", { id: "op-" + o.id, class: "state-" + o.state }, el("td", { text: o.name + " (" + o.id + ")" }),
        el("td", { class: "op-state", text: STATE_NAMES[o.state] || o.state }),
        el("td", { text: o.since ? time(o.since) : "—" }), el("td", { text: o.call || "—" }))));
  }

  function chart(hour) {
    const width = 720, height = 160, pad = 24, series = ["enqueued", "answered", "abandoned"];
    const max = Math.max(1, ...hour.minutes.flatMap((m) => series.map((s) => m[s])));
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "hour", role: "img",
      "aria-label": "Вызовы по минутам за последний час" });
    const slot = (width - pad) / 60, bar = Math.max(1, slot / series.length - 1);
    root.append(svg("line", { x1: pad, y1: height - pad, x2: width, y2: height - pad, class: "axis" }));
    root.append(svg("text", { x: 0, y: 12, class: "tick", text: String(max) }));
    root.append(svg("text", { x: pad, y: height - 6, class: "tick", text: "−60 мин" }));
    root.append(svg("text", { x: width - 40, y: height - 6, class: "tick", text: "сейчас" }));
    hour.minutes.forEach((m, i) => {
      series.forEach((s, j) => {
        const h = (m[s] / max) * (height - 2 * pad);
        if (h <= 0) return;
        const rect = svg("rect", { x: pad + i * slot + j * (bar + 1), y: height - pad - h, width: bar, height: h, class: s });
        rect.append(svg("title", { text: `${60 - i} мин назад: ${s} ${m[s]}` }));
        root.append(rect);
      });
    });
    document.getElementById("hour-chart").replaceChildren(root);
  }

  stream("/supervisor/events", { dashboard: render, hour: chart });
})();
