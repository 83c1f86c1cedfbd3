// Shared helpers of the console pages: CSRF-carrying fetch, safe DOM building, formatting.
// No innerHTML with data: every value from the server goes in as text.
"use strict";
(function () {
  // The page's language, the hotline's time zone and every text in that language
  // (ivr/console/texts.py), embedded by base.html: one language per page.
  const catalogue = JSON.parse(document.getElementById("ivr-texts").textContent);
  const lang = catalogue.language, zone = catalogue.zone;

  // t("dash.target", {target: "80%"}): a text of the page's language, values filled in.
  function t(key, values) {
    let text = catalogue.texts[key];
    if (text === undefined) return key;
    for (const [name, value] of Object.entries(values || {})) text = text.split("{" + name + "}").join(String(value));
    return text;
  }

  // The plural form of n (ivr/console/i18n.py plural_form): ru one/few/many, en one/other.
  function pluralForm(n) {
    n = Math.abs(Math.trunc(n));
    if (lang === "ru") {
      if (n % 10 === 1 && n % 100 !== 11) return 0;
      if (n % 10 >= 2 && n % 10 <= 4 && !(n % 100 >= 12 && n % 100 <= 14)) return 1;
      return 2;
    }
    return n === 1 ? 0 : 1;
  }

  function word(n, key) {
    const forms = catalogue.texts[key];
    return forms[Math.min(pluralForm(n), forms.length - 1)];
  }

  // count(5, "dash.callbacks") -> "5 обратных звонков"
  function count(n, key) { return n + " " + word(n, key); }

  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  async function api(method, url, body) {
    const headers = { "Accept": "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = csrf();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (response.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(location.pathname)); }
    return { ok: response.ok, status: response.status, data: data || {} };
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value; else node.setAttribute(key, String(value));
    }
    return node;
  }

  function setText(id, value) {
    const node = document.getElementById(id);
    if (node) node.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
  }

  function time(epoch) {
    if (!epoch) return "—";
    return new Date(epoch * 1000).toLocaleString(lang === "ru" ? "ru-RU" : "en-GB", { timeZone: zone });
  }

  // An EventSource that shows its connection state in #connection.
  function stream(url, handlers) {
    const status = document.getElementById("connection");
    const source = new EventSource(url);
    source.onopen = () => { if (status) status.textContent = t("common.online"); };
    source.onerror = () => { if (status) status.textContent = t("common.reconnecting"); };
    for (const [name, handler] of Object.entries(handlers)) {
      source.addEventListener(name, (event) => handler(JSON.parse(event.data), event));
    }
    source.addEventListener("logout", () => { source.close(); window.location.assign("/login"); });
    return source;
  }

  // How a caller left a menu node, in the page's words: "fallback:timeout" -> "запасной путь
  // (тайм-аут)", "key:1" -> "клавиша 1", "open:payments" -> "открыто (Платежи)", a number
  // typed ("key", no detail) -> "введено с клавиатуры", "key:skipped" -> "пропустил (#)".
  function exitWords(exit, detail) {
    const has = (key) => t(key) !== key;
    if (exit === "key" && (!detail || detail === "skipped")) return t(detail ? "exit.key_skipped" : "exit.keyed");
    const detailWords = !detail ? "" : has("detail." + detail) ? t("detail." + detail) : (catalogue.queues[detail] || detail);
    const key = has("exit." + exit) ? "exit." + exit : "exit.none";
    const text = t(key, { detail: detailWords });
    return detailWords && !t(key).includes("{detail}") ? text + " (" + detailWords + ")" : text;
  }

  window.ivr = { api, el, svg, setText, duration, time, stream, csrf, t, count, word, lang, zone, exitWords,
    queues: catalogue.queues };
})();
