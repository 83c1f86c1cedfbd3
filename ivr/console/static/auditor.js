// Recordings for the auditor: every listen or download asks for a reason and is audited by the store.
"use strict";
(function () {
  const { api, el, time } = window.ivr;

  async function access(id, action, reasonInput) {
    const reason = reasonInput.value.trim();
    const result = await api("POST", "/auditor/api/recordings/" + encodeURIComponent(id) + "/access", { reason, action });
    if (!result.ok) { document.getElementById("rec-status").textContent = result.data.message || "Отказано"; return; }
    if (action === "download") { window.location.assign(result.data.url); return; }
    // Fetched here, not by the <audio> element, so a refusal ("archive unavailable") is shown.
    const audio = await fetch(result.data.url, { credentials: "same-origin" });
    if (!audio.ok) {
      let message = "Запись не получена";
      try { message = (await audio.json()).message || message; } catch (e) { /* not JSON */ }
      document.getElementById("rec-status").textContent = message;
      audit("recordings");
      return;
    }
    document.getElementById("rec-status").textContent = "";
    const src = URL.createObjectURL(await audio.blob());
    document.getElementById("player").replaceChildren(el("p", { text: "Запись " + id }),
      el("audio", { controls: true, autoplay: true, src }));
  }

  async function load() {
    const result = await api("GET", "/auditor/api/recordings?days=30");
    if (!result.ok) return;
    document.getElementById("rec-status").textContent = result.data.enabled ? "" :
      "Ключ записей не настроен: записи не ведутся и не читаются.";
    document.querySelector("#recordings tbody").replaceChildren(...result.data.recordings.map((r) => {
      const reason = el("input", { placeholder: "Основание (обязательно)", maxlength: 500, class: "reason" });
      return el("tr", { id: "rec-" + r.id }, el("td", { text: time(r.created) }), el("td", { text: r.call_id }),
        el("td", { text: r.appeal || "—" }), el("td", { text: r.operator || "—" }), el("td", { text: r.queue || "—" }),
        el("td", { text: r.hold ? "на удержании" : time(r.expires) }), el("td", {}, reason),
        el("td", {}, el("button", { type: "button", onclick: () => access(r.id, "listen", reason), text: "Слушать" }),
          el("button", { type: "button", onclick: () => access(r.id, "download", reason), text: "Скачать" })));
    }));
  }

  async function audit(which) {
    const result = await api("GET", "/auditor/api/audit?log=" + which);
    if (!result.ok) return;
    document.getElementById("audit-chain").textContent = "Строк: " + result.data.lines + "; цепочка: " + result.data.chain;
    document.querySelector("#audit tbody").replaceChildren(...result.data.entries.map((e) =>
      el("tr", { class: e.outcome === "allowed" ? "" : "bad" }, el("td", { text: e.seq }), el("td", { text: e.at }),
        el("td", { text: e.actor }), el("td", { text: e.role }), el("td", { text: e.action }),
        el("td", { text: e.recording || e.call || "" }), el("td", { text: e.reason || "" }),
        el("td", { text: e.outcome + (e.detail ? " (" + e.detail + ")" : "") }))));
  }

  for (const button of document.querySelectorAll("button.audit-log")) {
    button.addEventListener("click", () => audit(button.dataset.log));
  }
  load();
  audit("recordings");
})();
