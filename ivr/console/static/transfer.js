// The transfer control of the operator's screen-pop: target (queue or operator), at once or
// with a consultation, a note; then complete / cancel for a consultation.  The pop itself
// comes from operator.js ("ivr:pop"); the first operator's transfer events ("ivr:transfer").
"use strict";
(function () {
  const { api, el, setText, time, t } = window.ivr;
  const has = (key) => t(key) !== key;
  const form = document.getElementById("transfer");
  const go = document.getElementById("transfer-go");
  let pop = null;          // the pop on screen (operator.js's data), or null
  let consulting = null;   // {call_id, next_name} while a consultation is under way
  let busy = false;        // a request is on its way: a second click does nothing
  let over = null;         // the call whose conversation has ended (its pop stays for the wrap-up)

  function message(key, values) {
    const node = document.getElementById("transfer-message");
    node.dataset.kind = key || "";
    node.hidden = !key;
    node.textContent = key ? t(key, values) : "";
  }

  function error(data) {
    const node = document.getElementById("transfer-error");
    const kind = (data && data.error) || (data ? "failed" : "");
    node.dataset.error = kind;
    node.hidden = !kind;
    node.textContent = !kind ? "" : has("op.error." + kind) ? t("op.error." + kind) : t("op.error.failed");
  }

  function showConsult(on) {
    document.getElementById("transfer-consult").hidden = !on;
    go.disabled = on;
    if (on) setText("transfer-consult-text", t("op.transfer.consulting", { name: consulting.next_name }));
  }

  async function loadTargets() {
    const result = await api("GET", "/operator/api/transfer/targets");
    if (!result.ok) return;
    const queues = document.getElementById("transfer-queues");
    const operators = document.getElementById("transfer-operators");
    queues.replaceChildren(...result.data.queues.map((q) => el("option", {
      value: "queue:" + q.id, dataset: { open: q.open ? "1" : "0" },
      text: (window.ivr.lang === "en" ? q.name_en : q.name) + (q.open ? "" : " — " + t("op.transfer.closed")) })));
    operators.replaceChildren(...result.data.operators.map((o) => el("option", {
      value: "operator:" + o.id, dataset: { ready: o.ready ? "1" : "0", name: o.name },  // name: a person's, data
      text: o.name + (o.ready ? "" : " — " + t("op.transfer.not_ready")) })));
  }

  function showTransfers(list) {
    const box = document.getElementById("pop-transfers");
    box.hidden = !list || !list.length;
    document.getElementById("pop-transfers-list").replaceChildren(...(list || []).map((r) => el("li", {
      class: "transfer-row", dataset: { by: r.by, mode: r.mode },
      text: t("op.transfer.row", { time: time(r.at), by: r.by_name || r.by, mode: t("op.transfer.mode." + r.mode),
                                   to: r.to_queue ? ((window.ivr.queues || {})[r.to_queue] || r.to_queue)
                                     : (r.next || r.to_operator) }) + (r.note ? " — «" + r.note + "»" : "") })));
  }

  document.addEventListener("ivr:pop", (event) => {
    pop = event.detail;
    consulting = null;
    showConsult(false);
    error(null);
    message(null);
    form.reset();
    form.to.disabled = false;
    // Only the call's own operator transfers it; the one consulted sees who asks.
    const mine = pop && pop.operator === document.getElementById("status-bar").dataset.operator && !pop.consult;
    form.hidden = !(pop && pop.kind === "call" && mine) || pop.call_id === over;
    const banner = document.getElementById("pop-consult");
    banner.hidden = !(pop && pop.consult);
    banner.textContent = pop && pop.consult ? t("op.transfer.consult_banner", { by: pop.consult_by }) : "";
    showTransfers(pop ? pop.transfers : []);
    if (!form.hidden) loadTargets();
  });

  // The conversation is over: nothing left to transfer, and no refusal of a moment ago left
  // on the wrap-up screen.
  document.addEventListener("ivr:call-state", (event) => {
    if (!["ended", "abandoned", "missed", "expired"].includes(event.detail)) return;
    over = pop ? pop.call_id : null;
    error(null);
    message(null);
    showConsult(false);
    form.hidden = true;
  });

  document.addEventListener("ivr:transfer", (event) => {
    const data = event.detail;
    if (!pop || data.call_id !== pop.call_id) return;
    if (data.what === "consult_over" && consulting) {
      consulting = null;
      showConsult(false);
      message(data.how === "cancelled" ? "op.transfer.consult_over" : null);
    } else if (data.what === "transfer_failed") {
      message("op.transfer.failed_back");
    }
  });

  async function post(url, body) {
    if (busy || !pop) return null;
    busy = true;
    for (const b of form.querySelectorAll("button")) b.disabled = true;
    try {
      return await api("POST", "/operator/api/calls/" + encodeURIComponent(pop.call_id) + url, body);
    } finally {
      busy = false;
      for (const b of form.querySelectorAll("button")) b.disabled = false;
      go.disabled = consulting !== null;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const [kind, id] = (form.to.value || ":").split(":");
    const body = { mode: form.mode.value, note: form.note.value };
    if (kind) body[kind] = id;
    error(null);
    message(null);
    const result = await post("/transfer", body);
    if (!result) return;
    if (!result.ok) { error(result.data); return; }
    if (result.data.consulting) {
      consulting = { call_id: pop.call_id, next_name: result.data.next_name };
      showConsult(true);
    } else {
      message("op.transfer.done");
      go.disabled = true;
      form.to.disabled = true;
    }
  });

  document.getElementById("transfer-complete").addEventListener("click", async () => {
    error(null);
    const result = await post("/transfer/complete", {});
    if (!result) return;
    if (!result.ok) { error(result.data); return; }
    consulting = null;
    showConsult(false);
    go.disabled = true;
    message("op.transfer.done");
  });

  document.getElementById("transfer-cancel").addEventListener("click", async () => {
    error(null);
    const was = consulting;
    consulting = null;  // its end, pushed meanwhile, is this click's: not "the colleague did not answer"
    const result = await post("/transfer/cancel", {});
    if (!result) { consulting = was; return; }
    showConsult(false);
    if (!result.ok) { error(result.data); return; }
    message("op.transfer.cancelled");
  });
})();
