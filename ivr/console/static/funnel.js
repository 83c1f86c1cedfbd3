// The menu funnel: per node reached / timed out / failed / hung up, as a table and bars.
"use strict";
(function () {
  const { api, el, svg, t, count } = window.ivr;
  const has = (key) => t(key) !== key;

  // "fallback:timeout" -> "запасной путь (тайм-аут)": the exit and its detail in the page's words.
  function exitWords(way) {
    const cut = way.indexOf(":");
    return window.ivr.exitWords(cut < 0 ? way : way.slice(0, cut), cut < 0 ? "" : way.slice(cut + 1));
  }

  function outcomeWords(outcome) {
    return has("outcome." + outcome) ? t("outcome." + outcome) : t("outcome.none");
  }

  const menu = document.getElementById("funnel-menu");
  const version = document.getElementById("funnel-version");
  const days = document.getElementById("funnel-days");

  function chart(rows, calls) {
    const width = 720, rowH = 18, label = 160;
    const root = svg("svg", { viewBox: `0 0 ${width} ${Math.max(1, rows.length) * rowH + 4}`, class: "funnel", role: "img",
      "aria-label": t("funnel.chart") });
    const max = Math.max(1, calls, ...rows.map((r) => r.reached));
    rows.forEach((r, i) => {
      const y = i * rowH + 2, scale = (width - label - 50) / max;
      root.append(svg("text", { x: 0, y: y + 12, class: "tick", text: r.label }));
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
    version.replaceChildren(el("option", { value: "", text: t("common.all") }),
      ...d.versions.map((v) => el("option", { value: v, text: "v" + v, selected: String(v) === chosen })));
    const outcomes = Object.entries(d.outcomes).map(([k, n]) => outcomeWords(k) + ": " + n).join(", ");
    document.getElementById("funnel-summary").textContent = t("funnel.summary", {
      calls: d.calls, outcomes: outcomes ? " (" + outcomes + ")" : "", days: count(d.days, "funnel.day_count") });
    document.querySelector("#funnel-table tbody").replaceChildren(...d.rows.map((r) =>
      el("tr", { id: "funnel-" + r.node, class: r.hangup ? "lossy" : "" },
        el("td", { class: "node", text: r.label }),
        el("td", { text: r.kind ? t("kind." + r.kind) : t("funnel.not_in_version") }), el("td", { class: "num reached", text: r.reached }),
        el("td", { class: "num", text: r.share === null ? "—" : Math.round(r.share * 100) + "%" }),
        el("td", { class: "num", text: r.timeout }), el("td", { class: "num", text: r.no_match }),
        el("td", { class: "num", text: r.invalid }), el("td", { class: "num", text: r.corrected }),
        el("td", { class: "num hangup", text: r.hangup }),
        el("td", { class: "exits", text: Object.entries(r.exits).map(([k, n]) => exitWords(k) + " " + n).join(" · ") }))));
    chart(d.rows, d.calls);
  }

  for (const control of [menu, version, days]) control.addEventListener("change", load);
  load();
})();
