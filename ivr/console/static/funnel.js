// The menu funnel: per node reached / timed out / failed / hung up, as a table and bars.
"use strict";
(function () {
  const { api, el, svg } = window.ivr;
  const menu = document.getElementById("funnel-menu");
  const version = document.getElementById("funnel-version");
  const days = document.getElementById("funnel-days");

  function chart(rows, calls) {
    const width = 720, rowH = 18, label = 160;
    const root = svg("svg", { viewBox: `0 0 ${width} ${Math.max(1, rows.length) * rowH + 4}`, class: "funnel", role: "img",
      "aria-label": "Сколько звонков дошло до каждого узла и сколько там потеряно" });
    const max = Math.max(1, calls, ...rows.map((r) => r.reached));
    rows.forEach((r, i) => {
      const y = i * rowH + 2, scale = (width - label - 50) / max;
      root.append(svg("text", { x: 0, y: y + 12, class: "tick", text: r.node }));
      root.append(svg("rect", { x: label, y, width: Math.max(1, r.reached * scale), height: rowH - 4, class: "reached" }));
      const lost = r.hangup;
      if (lost) root.append(svg("rect", { x: label, y, width: Math.max(1, lost * scale), height: rowH - 4, class: "lost" }));
      const failed = r.timeout + r.invalid + r.no_match;
      if (failed) root.append(svg("rect", { x: label + lost * scale, y, width: Math.max(1, failed * scale), height: rowH - 4, class: "failed" }));
      root.append(svg("text", { x: label + r.reached * scale + 4, y: y + 12, class: "tick", text: String(r.reached) }));
    });
    document.getElementById("funnel-chart").replaceChildren(root);
  }

  async function load() {
    const query = new URLSearchParams({ menu: menu.value, version: version.value, days: days.value });
    const result = await api("GET", "/supervisor/api/funnel?" + query);
    if (!result.ok) return;
    const d = result.data;
    const chosen = version.value;
    version.replaceChildren(el("option", { value: "", text: "все" }),
      ...d.versions.map((v) => el("option", { value: v, text: "v" + v, selected: String(v) === chosen })));
    const outcomes = Object.entries(d.outcomes).map(([k, n]) => k + ": " + n).join(", ");
    document.getElementById("funnel-summary").textContent =
      "Звонков: " + d.calls + (outcomes ? " (" + outcomes + ")" : "") + " за " + d.days + " дн.";
    document.querySelector("#funnel-table tbody").replaceChildren(...d.rows.map((r) =>
      el("tr", { id: "funnel-" + r.node, class: r.hangup ? "lossy" : "" },
        el("td", { text: r.node }), el("td", { text: r.kind }), el("td", { class: "num reached", text: r.reached }),
        el("td", { class: "num", text: r.share === null ? "—" : Math.round(r.share * 100) + "%" }),
        el("td", { class: "num", text: r.timeout }), el("td", { class: "num", text: r.no_match }),
        el("td", { class: "num", text: r.invalid }), el("td", { class: "num", text: r.corrected }),
        el("td", { class: "num hangup", text: r.hangup }),
        el("td", { class: "exits", text: Object.entries(r.exits).map(([k, n]) => k + " " + n).join(" · ") }))));
    chart(d.rows, d.calls);
  }

  for (const control of [menu, version, days]) control.addEventListener("change", load);
  load();
})();
