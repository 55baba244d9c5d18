// The demo page: draws the room the sandbox pushes over /api/live and
// sends the presenter's actions to /api. No framework, no build step; the
// words are in i18n.js.
"use strict";

const $ = (sel, el = document) => el.querySelector(sel);
const $$ = (sel, el = document) => [...el.querySelectorAll(sel)];
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const narrow = () => document.documentElement.clientWidth < 640;
const reducedMotion = () => window.matchMedia("(prefers-reduced-motion: reduce)").matches;

const state = { overview: null, replicas: null, phones: null, wallets: new Map(), events: [], payments: new Map(), recons: new Map(), run: null, scenarios: null, loaded: false };

// ---- words on the page ----
function applyLang() {
  rememberFocus();
  document.documentElement.lang = lang;
  document.title = t("title");
  for (const el of $$("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of $$("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(",")) {
      const [attr, key] = pair.split(":");
      el.setAttribute(attr, t(key));
    }
  }
  $("#tiers-title").textContent = t("tiers_title");
  for (const b of $$("[data-lang]")) b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
  $("#presenter-toggle").textContent = t(presenter.open ? "presenter_close" : "presenter_open");
  setConn(state.conn || "conn_connecting");
  // cards carry words in their structure: draw them anew
  for (const id of ["#bank-list", "#wallet-list", "#device-list", "#offline-result", "#sync-results", "#feed-list"]) $(id).innerHTML = "";
  drawAll();
  for (const e of [...state.events].reverse()) feedLine(e);
  drawPresenter();
  restoreFocus();
}
for (const b of $$("[data-lang]")) {
  b.addEventListener("click", () => {
    lang = b.dataset.lang;
    localStorage.setItem("lang", lang);
    applyLang();
    b.focus();
  });
}

function drawAll() {
  if (state.overview) { drawOverview(); drawBanks(); }
  drawReplicas();
  drawPhones();
  drawWallets();
  drawDevices();
  drawPayments();
  drawRecons();
  drawSequence();
  if (state.scenarios) drawScenarios();
  if (state.run) drawRun(state.run);
}

// ---- tabs ----
for (const b of $$("nav button")) b.addEventListener("click", () => showTab(b.dataset.tab));
function showTab(name) {
  for (const b of $$("nav button")) b.setAttribute("aria-pressed", String(b.dataset.tab === name));
  for (const s of $$("section.tab")) s.hidden = s.id !== name;
  history.replaceState(null, "", "#" + name);
  if (name === "overview" || name === "feed") requestAnimationFrame(drawAll); // sizes depend on the visible width
}
if (location.hash && $(location.hash + ".tab")) showTab(location.hash.slice(1));

// ---- API and messages ----
class APIError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}
async function api(method, path, body) {
  let res;
  try {
    res = await fetch(path, { method, headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined });
  } catch {
    throw new APIError("network", "");
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = data.error || { code: "failed", message: res.statusText };
    throw new APIError(e.code, e.message);
  }
  return data;
}

// say shows a message in the message area nearest to el: its card's, its
// form's or section's, or the page's. Errors stay until closed; the rest
// go after a while.
function say(el, kind, text) {
  const scope = (el && el.closest("[data-msgs]")) || null;
  const box = (scope && $(":scope > .msgs", scope)) || $("#messages");
  box.innerHTML = "";
  const m = document.createElement("div");
  m.className = "msg " + kind;
  m.setAttribute("role", kind === "err" ? "alert" : "status");
  m.innerHTML = `<span>${esc(text)}</span><button type="button" class="x" aria-label="${esc(t("dismiss"))}">×</button>`;
  $("button", m).addEventListener("click", () => {
    const next = m.closest("[data-msgs]")?.querySelector("input, select, button:not(.x)");
    m.remove();
    if (next && document.activeElement === document.body) next.focus();
  });
  box.appendChild(m);
  if (kind !== "err") setTimeout(() => m.remove(), 9000);
}

// run performs an action for a button: the button is busy meanwhile, the
// result or the error shows beside it, and focus stays on it.
async function run(button, f, done, where = button) {
  if (button) { button.disabled = true; button.setAttribute("aria-busy", "true"); }
  try {
    const r = await f();
    if (done) { const text = done(r); if (text) say(where, "ok", text); }
    return r;
  } catch (e) {
    say(where, "err", errText(e.code, e.message));
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      if (button.isConnected && (document.activeElement === document.body || !document.activeElement)) button.focus();
    }
  }
}

// amount reads a form's amount field, or says what is wrong with it.
function amount(form, name = "amount") {
  const v = form.elements[name].value.trim();
  if (!/^\d+$/.test(v)) throw new APIError("invalid_amount", "");
  return Number(v);
}

// Amount fields show the amount formatted beside them.
document.addEventListener("input", (e) => { if (e.target.matches("input.amount")) showAmount(e.target); });
function showAmount(input) {
  let out = input.parentElement.querySelector("output.amount-out");
  if (!out) {
    out = document.createElement("output");
    out.className = "amount-out";
    input.after(out);
  }
  const v = input.value.trim();
  out.textContent = /^\d+$/.test(v) ? t("amount_is", { v: Number(v) }) : "";
}
const amountField = (name, value, min = 1) =>
  `<label><span>${esc(t("amount"))}</span><input type="number" name="${name}" min="${min}" step="1" value="${value}" required class="amount"></label>`;
function showAmounts(el) { for (const i of $$("input.amount", el)) showAmount(i); }

// ---- live updates ----
function setConn(key) {
  state.conn = key;
  $("#conn").textContent = t(key);
  $("#conn").classList.toggle("down", key === "conn_down");
}
function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/live");
  ws.onopen = () => {
    setConn("conn_live");
    rememberFocus();
    // the sandbox sends the room again: start afresh
    state.events = [];
    state.wallets.clear();
    state.payments.clear();
    state.recons.clear();
    state.loaded = false;
    for (const id of ["#feed-list", "#wallet-list", "#device-list", "#offline-result", "#sync-results"]) $(id).innerHTML = "";
    setTimeout(() => { state.loaded = true; }, 1500);
  };
  ws.onclose = () => {
    setConn("conn_down");
    setTimeout(connect, 2000);
  };
  ws.onmessage = (m) => receive(JSON.parse(m.data));
}

let drawQueued = false;
function drawSoon() {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(() => { drawQueued = false; drawWallets(); drawDevices(); restoreFocus(); });
}

// The page redraws its cards when the sandbox comes back or the language
// changes: focus goes back to the same control of the same card.
let focusWas = null;
function rememberFocus() {
  const el = document.activeElement;
  const card = el && el.closest("[data-wallet], [data-device], [data-bank]");
  if (!card || el === card) return;
  const attr = ["data-wallet", "data-device", "data-bank"].find((a) => card.hasAttribute(a));
  const own = el.name ? `[name="${el.name}"]` : el.classList.length ? "." + [...el.classList].join(".") : el.tagName.toLowerCase();
  focusWas = `[${attr}="${CSS.escape(card.getAttribute(attr))}"] ${el.tagName.toLowerCase()}${own.startsWith("[") || own.startsWith(".") ? own : ""}`;
}
function restoreFocus() {
  if (!focusWas) return;
  const el = document.querySelector(focusWas);
  if (el && (document.activeElement === document.body || !document.activeElement)) { el.focus(); focusWas = null; }
}

function receive(msg) {
  switch (msg.type) {
    case "state":
      state.overview = msg.state;
      state.replicas = msg.state.replicas || null;
      state.phones = msg.state.phones || null;
      drawOverview(); drawBanks(); drawSequence(); drawReplicas(); drawPhones();
      break;
    case "replicas":
      state.replicas = msg.replicas;
      drawReplicas();
      break;
    case "phones":
      state.phones = msg.phones;
      drawPhones();
      break;
    case "event": addEvent(msg.event); break;
    case "scenario": drawRun(msg.run); break;
    case "wallet": {
      const old = state.wallets.get(msg.wallet.id);
      if (old && old.seq > msg.wallet.seq) return; // an older view that arrived late
      state.wallets.set(msg.wallet.id, msg.wallet);
      drawSoon();
      break;
    }
    case "payment":
      state.payments.set(msg.payment.seq, { ...msg.payment, fresh: state.loaded });
      drawPayments();
      break;
    case "reconciliation":
      state.recons.set(msg.reconciliation.seq, msg.reconciliation);
      drawRecons();
      break;
    case "reset":
      state.wallets.clear(); state.payments.clear(); state.recons.clear(); state.events = [];
      for (const id of ["#feed-list", "#wallet-list", "#device-list", "#offline-result", "#sync-results"]) $(id).innerHTML = "";
      drawAll();
      // The answer and this message race: the page that asked knows its
      // reset by number, or by still waiting for the answer.
      if (!resetting && msg.reset !== ownReset) say(null, "ok", t("reset_elsewhere"));
      break;
  }
}

// ---- overview ----
function drawOverview() {
  const s = state.overview;
  if (!s) return;
  const t0 = s.totals;
  const svg = $("#tiers");
  const banks = s.banks;
  const exposure = s.exposure || 0;
  const revoked = s.offline ? s.offline.revoked_devices : 0;
  const title = `<title id="tiers-title">${esc(t("tiers_title"))}</title>
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#4a4f5a"/></marker></defs>`;
  const box = (x, y, w, h, fill, stroke) => `<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="8" fill="${fill}" stroke="${stroke}" stroke-width="2"/>`;
  const text = (x, y, s, cls = "") => `<text x="${x}" y="${y}" text-anchor="middle"${cls ? ` class="${cls}"` : ""}>${esc(s)}</text>`;
  const bankText = (b, cx, y) => text(cx, y, b.bank, "b") + text(cx, y + 24, b.error ? t("status_unavailable") : t("float", { v: b.float })) +
    text(cx, y + 46, t("deposits_line", { v: b.deposits }), "small") + text(cx, y + 64, t("bank_line", { customers: b.customers, wallets: b.wallets }), "small");
  let out = title;
  if (narrow()) {
    // one column: the central bank, each bank below it, the wallets last
    const w = 360, bh = 96, top = 100;
    out += box(10, 10, 340, 76, "#f8eef0", "#7a1f2b") + text(180, 36, t("cb_box"), "b") + text(180, 58, t("in_circulation", { v: t0.Circulation })) +
      text(180, 78, t("journal_record", { v: t0.Seq }), "small");
    banks.forEach((b, i) => {
      const y = top + i * (bh + 16);
      out += `<line x1="180" y1="${y - 14}" x2="180" y2="${y}" stroke="#4a4f5a" marker-end="url(#arrow)"/>` + box(10, y, 340, bh, "#eef3fb", "#1f4e99") + bankText(b, 180, y + 20);
    });
    const wy = top + banks.length * (bh + 16);
    out += `<line x1="180" y1="${wy - 14}" x2="180" y2="${wy}" stroke="#4a4f5a" marker-end="url(#arrow)"/>` + box(10, wy, 340, 96, "#eef7f0", "#236b33") +
      text(180, wy + 24, t("wallets_box"), "b") + text(180, wy + 48, t("wallets_line", { wallets: t0.Wallets, escrow: t0.Escrow }), "small") +
      text(180, wy + 70, t("offline_line", { exposure, revoked }), "small");
    svg.setAttribute("viewBox", `0 0 ${w} ${wy + 106}`);
  } else {
    const w = 900, bw = Math.min(260, (w - 40) / banks.length - 20);
    out += box(250, 10, 400, 86, "#f8eef0", "#7a1f2b") + text(450, 36, t("cb_box"), "b") + text(450, 60, t("in_circulation", { v: t0.Circulation })) +
      text(450, 82, t("journal_record", { v: t0.Seq }), "small");
    banks.forEach((b, i) => {
      const x = 20 + i * ((w - 40) / banks.length) + ((w - 40) / banks.length - bw) / 2;
      out += `<line x1="450" y1="96" x2="${x + bw / 2}" y2="170" stroke="#4a4f5a" marker-end="url(#arrow)"/>` + box(x, 172, bw, 96, "#eef3fb", "#1f4e99") +
        bankText(b, x + bw / 2, 196) + `<line x1="${x + bw / 2}" y1="268" x2="${x + bw / 2}" y2="330" stroke="#4a4f5a" marker-end="url(#arrow)"/>`;
    });
    out += box(20, 332, 860, 86, "#eef7f0", "#236b33") + text(450, 358, t("wallets_box"), "b") +
      text(450, 382, t("wallets_line", { wallets: t0.Wallets, escrow: t0.Escrow })) + text(450, 406, t("offline_line", { exposure, revoked }), "small");
    svg.setAttribute("viewBox", "0 0 900 430");
  }
  svg.innerHTML = out;

  // circulation as its parts, and the check that they add up
  const parts = [["bank", "part_float", t0.Intermediaries], ["wallet", "part_wallets", t0.Wallets], ["escrow", "part_escrow", t0.Escrow], ["cb", "part_fund", t0.Loss]];
  const sum = parts.reduce((a, p) => a + p[2], 0);
  const ok = s.conserved;
  $("#parts").innerHTML = `<h3>${esc(t("parts_h"))}</h3>
    <p class="sum"><span class="eq">${esc(t("part_circ"))} <strong>${esc(yen(t0.Circulation))}</strong> =</span> ${parts.map(([c, k, v]) =>
      `<span class="part ${c}">${esc(t(k))} <strong>${esc(yen(v))}</strong></span>`).join(" <span aria-hidden=\"true\">+</span> ")}</p>
    <div class="bar" aria-hidden="true">${parts.map(([c, , v]) => `<span class="${c}" style="flex-grow:${Math.max(0, v)}"></span>`).join("")}</div>
    <p class="check ${ok ? "good" : "bad"}" role="status"><strong>${ok ? "✓ " + esc(t("conserved")) : "✗ " + esc(t("not_conserved"))}</strong> ${esc(ok
      ? t("conserved_text", { circ: t0.Circulation, seq: t0.Seq }) : t("not_conserved_text", { circ: t0.Circulation, sum }))}</p>`;

  const o = s.offline;
  const losses = o ? Object.values(o.loss_by_bearer || {}).reduce((a, b) => a + b, 0) + (o.loss_by_payees || 0) : 0;
  $("#figures").innerHTML = `<div class="figure escrow"><div class="k">${esc(t("exposure_h"))}</div><div class="v">${esc(yen(exposure))}</div>
      <div class="k">${esc(t("exposure_text", { on_devices: s.on_devices, count: s.on_device_count, pending: o ? o.pending_amount : 0 }))}</div></div>` +
    (o ? `<div class="figure bad"><div class="k">${esc(t("losses_h"))}</div><div class="v">${esc(yen(losses))}</div>
      <div class="k">${esc(t("losses_text", { total: losses, bearer: o.policy.loss_bearer }))}</div></div>` : "");
  if (o) $("#policy").textContent = t("policy_text", o.policy);
  drawThroughput(s.throughput);
}

function drawThroughput(points) {
  const max = Math.max(1, ...points.map((p) => p.ops));
  const w = narrow() ? 360 : 900, h = 130, left = narrow() ? 56 : 70;
  const xy = points.map((p, i) => `${(left + (i * (w - left - 10)) / 59).toFixed(1)},${(h - (p.ops / max) * (h - 10)).toFixed(1)}`).join(" ");
  const svg = $("#throughput");
  svg.setAttribute("viewBox", `0 0 ${w} 160`);
  svg.innerHTML = `<line x1="${left}" y1="${h}" x2="${w - 10}" y2="${h}" stroke="#767b86"/>
    <line x1="${left}" y1="0" x2="${left}" y2="${h}" stroke="#767b86"/>
    <text x="${left - 6}" y="14" text-anchor="end" class="small">${esc(t("per_s", { v: max }))}</text>
    <text x="${left - 6}" y="${h}" text-anchor="end" class="small">0</text>
    <text x="${left}" y="${h + 20}" class="small">${esc(t("a_minute_ago"))}</text><text x="${w - 10}" y="${h + 20}" text-anchor="end" class="small">${esc(t("now"))}</text>
    <polyline fill="none" stroke="#1f4e99" stroke-width="2" points="${xy}"/>`;
}

// ---- replicas ----
// A replicated central ledger's replicas, each with its role, and the
// control that stops the leader in front of the room; then the pause
// before payments went on, as the sandbox measured it.
const ROLE_BADGE = { leader: "on", follower: "plain", candidate: "warn", stopped: "off" };
function drawReplicas() {
  const v = state.replicas;
  $("#replica-panel").hidden = !v;
  if (!v) return;
  setText($("#replicas-hint"), t("replicas_hint", { n: v.replicas.length }));
  const list = $("#replica-list");
  for (const r of v.replicas) {
    let card = list.querySelector(`[data-replica="${CSS.escape(r.id)}"]`);
    if (!card) {
      card = document.createElement("article");
      card.className = "card replica";
      card.dataset.replica = r.id;
      card.innerHTML = `<h4 tabindex="-1"><span class="name"></span><span class="badge"></span></h4><dl class="kv"></dl>
        <button type="button" class="quiet start" hidden></button>`;
      $(".name", card).textContent = r.id;
      const start = $("button.start", card);
      start.addEventListener("click", () => run(start, () => api("POST", "/api/replicas/start", { replica: r.id }), (nv) => {
        state.replicas = nv;
        drawReplicas();
        return t("started_msg", { id: r.id });
      }, $("#stop-leader")).then(() => { if (start.hidden) $("h4", card).focus(); }));
      list.appendChild(card);
    }
    card.classList.toggle("stopped", r.role === "stopped");
    const badge = $(".badge", card);
    setText(badge, t("role_" + r.role));
    badge.className = "badge " + (ROLE_BADGE[r.role] || "plain");
    const down = r.role === "stopped";
    const dl = [["k_term", down ? "–" : num(r.term)], ["k_commit", down ? "–" : num(r.commit_index)], ["k_head", num(r.head)]]
      .map(([k, val]) => `<dt>${esc(t(k))}</dt><dd>${esc(val)}</dd>`).join("");
    if ($("dl", card).innerHTML !== dl) $("dl", card).innerHTML = dl;
    const start = $("button.start", card);
    start.hidden = r.role !== "stopped";
    setText(start, t("start_again"));
    start.setAttribute("aria-label", t("start_replica", { id: r.id }));
  }
  const stop = $("#stop-leader");
  setText(stop, t("stop_leader", { id: v.leader || "" }));
  if (!$("#replica-dialog").open && v.leader) setText($("#replica-title"), t("replica_title", { id: v.leader }));
  stop.setAttribute("aria-disabled", String(!v.leader || !!v.measuring || !!v.busy));
  const last = v.pauses[0];
  setText($("#pause-now"), v.measuring ? t("pause_waiting", { id: v.measuring.stopped, at: v.measuring.at }) : last ? pauseText(last) : "");
  const key = lang + JSON.stringify(v.pauses);
  const ol = $("#pause-list");
  if (ol.dataset.key !== key) {
    ol.dataset.key = key;
    ol.innerHTML = v.pauses.length ? v.pauses.map((p) => `<li><time>${esc(clock(p.at))}</time><span>${esc(pauseText(p))}</span></li>`).join("")
      : `<li><span></span><span class="hint">${esc(t("no_pauses"))}</span></li>`;
  }
}
// ---- phones ----
// The wallets opened on the room's own phones, each as its bank follows
// it; shown once the first has joined.
const STATUS_BADGE = { joined: "plain", purse: "plain", paid: "on", funded: "on", synced: "on", refused: "warn", offline: "off" };
function drawPhones() {
  const phones = (state.phones && state.phones.phones) || [];
  $("#phone-panel").hidden = !phones.length;
  if (!phones.length) return;
  setText($("#phones-hint"), t("phones_hint", { n: phones.length, online: phones.filter((p) => p.online).length }));
  const key = lang + JSON.stringify(phones);
  const ul = $("#phone-list");
  if (ul.dataset.key === key) return;
  ul.dataset.key = key;
  ul.innerHTML = phones.map((p) => {
    const facts = [t("phone_at", { bank: p.bank, at: p.joined })];
    if (p.paid) facts.push(t("phone_paid", { n: p.paid }));
    if (p.funded) facts.push(t("phone_funded", { amount: p.funded }));
    if (p.handed_in) facts.push(t("phone_handed", { n: p.handed_in }));
    if (p.settled) facts.push(t("phone_settled", { n: p.settled, amount: p.received }));
    if (p.refused) facts.push(t("phone_refused", { n: p.refused, code: p.last_code }));
    facts.push(t("phone_seen", { at: p.seen }));
    return `<li class="phone ${p.online ? "" : "away"}" data-phone="${esc(p.address)}"><span class="name">${esc(p.name || p.address)}</span>
      <span class="badge ${STATUS_BADGE[p.status] || "plain"}">${esc(t("status_" + p.status))}</span>
      <span class="facts">${esc(facts.join(" · "))}</span></li>`;
  }).join("");
}
function pauseText(p) {
  const a = { id: p.stopped, at: p.at, ms: p.pause_ms, leader: p.leader, seq: p.seq };
  if (p.unmeasured) return t("pause_unmeasured", a);
  return t(p.led ? "pause_done" : "pause_follower", a);
}
$("#stop-leader").addEventListener("click", () => {
  const v = state.replicas;
  if (!v) return;
  // Too few running is said first and at once: no confirmation for a
  // stop the ledger would refuse, election or not.
  const running = v.replicas.filter((r) => r.role !== "stopped").length;
  if (running - 1 < Math.floor(v.replicas.length / 2) + 1) {
    say($("#stop-leader"), "err", errText("no_majority"));
    return;
  }
  if (!v.leader || v.measuring || v.busy) {
    say($("#stop-leader"), "err", t(v.measuring ? "measuring_now" : v.busy ? "replicas_busy_now" : "no_leader_now"));
    return;
  }
  // The confirmation stops the replica it names, even if leadership
  // moves while it is open.
  $("#replica-dialog").dataset.replica = v.leader;
  $("#replica-title").textContent = t("replica_title", { id: v.leader });
  $("#replica-dialog").showModal();
});
$("#replica-no").addEventListener("click", () => $("#replica-dialog").close());
$("#replica-dialog").addEventListener("close", () => $("#stop-leader").focus());
$("#replica-yes").addEventListener("click", (e) => {
  run(e.currentTarget, async () => {
    const v = await api("POST", "/api/replicas/stop", { replica: $("#replica-dialog").dataset.replica });
    state.replicas = v;
    drawReplicas();
    return v;
  }, (v) => t("stopped_msg", { id: v.measuring ? v.measuring.stopped : "" }), $("#stop-leader")).finally(() => $("#replica-dialog").close());
});

// ---- banks ----
function drawBanks() {
  const list = $("#bank-list");
  const sel = $("#new-wallet-bank");
  const banks = state.overview.banks;
  const opts = banks.map((b) => `<option>${esc(b.bank)}</option>`).join("");
  if (sel.dataset.opts !== opts) { const v = sel.value; sel.innerHTML = opts; sel.dataset.opts = opts; if (v) sel.value = v; }
  for (const b of banks) {
    let card = list.querySelector(`[data-bank="${CSS.escape(b.bank)}"]`);
    if (!card) {
      card = document.createElement("article");
      card.className = "card";
      card.dataset.bank = b.bank;
      card.setAttribute("data-msgs", "");
      card.innerHTML = `<h3>${esc(b.bank)}</h3><dl class="kv"></dl>
        <form class="actions">${amountField("amount", 10000000)}
        <button type="submit" name="issue">${esc(t("issue_float"))}</button>
        <button type="submit" name="redeem" class="quiet">${esc(t("redeem_float"))}</button></form>
        <div class="msgs" aria-live="polite"></div>
        <button type="button" class="quiet customers">${esc(t("customers"))}</button><div class="customer-list"></div>`;
      $("form", card).addEventListener("submit", (e) => {
        e.preventDefault();
        const kind = e.submitter.name;
        run(e.submitter, async () => {
          const a = amount(e.target);
          const st = await api("POST", `/api/banks/${encodeURIComponent(b.bank)}/${kind}`, { amount: a });
          return { amount: a, float: st.float };
        }, (r) => t(kind === "issue" ? "issued" : "redeemed", { bank: b.bank, amount: r.amount, float: r.float }));
      });
      const listCustomers = async () => {
        const r = await api("GET", `/api/banks/${encodeURIComponent(b.bank)}/customers`);
        const box = $(".customer-list", card);
        box.innerHTML = `<p class="hint">${esc(t("customers_count", { n: r.count }))}</p><ul class="notes">` +
          r.customers.slice(-20).reverse().map((c) => `<li>${esc(t("customer_line", { name: c.name, tier: c.tier.name, limit: c.tier.holding_limit, deposit: c.deposit, wallets: (c.wallets || []).length }))}
            <label class="inline"><span>${esc(t("tier"))}</span> <select data-customer="${esc(c.id)}" aria-label="${esc(t("tier_of", { name: c.name }))}">${r.tiers.map((x) =>
              `<option value="${esc(x.name)}"${x.name === c.tier.name ? " selected" : ""}>${esc(tierName(x.name))}</option>`).join("")}</select></label></li>`).join("") + "</ul>";
        for (const s of $$("select[data-customer]", box)) {
          s.addEventListener("change", () => run(s, async () => {
            const c = await api("POST", `/api/banks/${encodeURIComponent(b.bank)}/customers/${encodeURIComponent(s.dataset.customer)}/tier`, { tier: s.value });
            await listCustomers();
            const again = box.querySelector(`select[data-customer="${CSS.escape(s.dataset.customer)}"]`);
            if (again) again.focus();
            return c;
          }, (c) => t("tier_set", { name: c.name, tier: c.tier.name }), $(".customers", card)));
        }
      };
      $(".customers", card).addEventListener("click", (e) => run(e.currentTarget, listCustomers));
      list.appendChild(card);
      showAmounts(card);
    }
    const dl = $("dl", card);
    const html = b.error ? `<dt>${esc(t("k_float"))}</dt><dd class="err" title="${esc(b.error)}">${esc(t("status_unavailable"))}</dd>` : [
      ["k_float", yen(b.float)], ["k_reserves", yen(b.reserves)], ["k_deposits", yen(b.deposits)],
      ["k_losses", yen(b.offline_losses)], ["k_customers", num(b.customers)], ["k_wallets", num(b.wallets)], ["k_sessions", num(b.connections)],
    ].map(([k, v]) => `<dt>${esc(t(k))}</dt><dd>${esc(v)}</dd>`).join("");
    if (dl.innerHTML !== html) dl.innerHTML = html;
  }
}

// ---- wallets ----
$("#new-wallet").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  run(e.submitter, async () => {
    const w = await api("POST", "/api/wallets", { name: f.get("name"), bank: f.get("bank"), tier: f.get("tier") });
    state.wallets.set(w.id, w);
    drawWallets();
    drawDevices();
    e.target.reset();
    return w;
  }, (w) => t("created", { name: w.name, bank: w.bank }));
});

const people = () => [...state.wallets.values()].filter((w) => !w.clone);

// who names a wallet or device for the page: a copied purse's device in
// the page's language ("Aiko (clone)", "Aiko（複製）").
function who(name) {
  for (const w of state.wallets.values()) {
    if (w.clone && w.name === name) {
      const n = Number((/ (\d+)\)$/.exec(name) || [])[1] || 1);
      return t("clone_name", { of: w.clone_of, n });
    }
  }
  return name;
}

function drawWallets() {
  const list = $("#wallet-list");
  const all = people();
  for (const card of $$("[data-wallet]", list)) if (!state.wallets.has(card.dataset.wallet)) card.remove();
  for (const w of all) {
    let card = list.querySelector(`[data-wallet="${w.id}"]`);
    if (!card) {
      card = document.createElement("article");
      card.className = "card";
      card.dataset.wallet = w.id;
      card.setAttribute("data-msgs", "");
      card.setAttribute("aria-label", t("wallet_of", { name: w.name }));
      card.innerHTML = `<h3 tabindex="-1"></h3><div class="balance"></div><div class="meta"></div><div class="asks-box"></div>
        <div class="msgs" aria-live="polite"></div>
        <form class="actions pay"><label><span>${esc(t("pay_to"))}</span><select name="to"></select></label>
          ${amountField("amount", 1000)}
          <label class="memo"><span>${esc(t("memo"))}</span><input name="memo" maxlength="140" autocomplete="off"></label>
          <button type="submit" name="pay">${esc(t("pay"))}</button><button type="submit" name="request" class="quiet">${esc(t("ask"))}</button></form>
        <form class="actions charge">${amountField("amount", 20000)}
          <button type="submit" name="withdraw">${esc(t("charge"))}</button><button type="submit" name="deposit" class="quiet">${esc(t("return_dep"))}</button></form>
        <fieldset class="settings"><legend>${esc(t("settings"))}</legend>
          <label class="check"><input type="checkbox" name="waterfall"> <span>${esc(t("waterfall"))}</span></label>
          <label class="check"><input type="checkbox" name="auto_charge"> <span>${esc(t("auto_charge"))}</span></label></fieldset>
        <ul class="notes" aria-label="${esc(t("notifications"))}"></ul>`;
      $("form.pay", card).addEventListener("submit", (e) => {
        e.preventDefault();
        const act = e.submitter.name;
        const to = e.target.elements.to.value;
        run(e.submitter, async () => {
          if (!to) throw new APIError("unknown_payee", "");
          const a = amount(e.target);
          await api("POST", `/api/wallets/${w.id}/${act}`, { to, amount: a, memo: act === "request" ? e.target.elements.memo.value : "" });
          return { amount: a, to: state.wallets.get(to)?.name || to };
        }, (r) => t(act === "pay" ? "done_pay" : "done_request", r));
      });
      $("form.charge", card).addEventListener("submit", (e) => {
        e.preventDefault();
        const act = e.submitter.name;
        run(e.submitter, async () => {
          const a = amount(e.target);
          await api("POST", `/api/wallets/${w.id}/${act}`, { amount: a });
          return { amount: a };
        }, (r) => t(act === "withdraw" ? "done_withdraw" : "done_deposit", r));
      });
      for (const box of $$(".settings input", card)) {
        box.addEventListener("change", () => run(box, () => api("POST", `/api/wallets/${w.id}/settings`, {
          waterfall: $('[name="waterfall"]', card).checked, auto_charge: $('[name="auto_charge"]', card).checked,
        }), () => t("done_settings")));
      }
      list.appendChild(card);
      showAmounts(card);
    }
    setText($("h3", card), `${w.name} · ${w.bank}`);
    setText($(".balance", card), yen(w.balance));
    const meta = `<div>${esc(t("deposit_line", { deposit: w.deposit, tier: w.tier, limit: w.holding_limit }))}</div><div class="addr">${esc(w.address)}</div>` +
      (!w.connected ? `<div class="err">${esc(t("reconnecting"))}</div>` : "");
    if ($(".meta", card).innerHTML !== meta) $(".meta", card).innerHTML = meta;
    $('[name="waterfall"]', card).checked = w.waterfall;
    $('[name="auto_charge"]', card).checked = w.auto_charge;
    const sel = $('select[name="to"]', card);
    const others = all.filter((o) => o.id !== w.id);
    const opts = others.length ? others.map((o) => `<option value="${o.id}">${esc(o.name)} (${esc(o.bank)})</option>`).join("") : `<option value="">${esc(t("no_other_wallet"))}</option>`;
    if (sel.dataset.opts !== opts) { const v = sel.value; sel.innerHTML = opts; sel.dataset.opts = opts; if (v && others.some((o) => o.id === v)) sel.value = v; }
    drawAsks(card, w);
    const notes = (w.notes || []).map((n) => `<li><time>${esc(clock(n.time))}</time> ${esc(noteText(n.kind, n))}</li>`).join("");
    if ($(".notes", card).innerHTML !== notes) $(".notes", card).innerHTML = notes;
  }
}

// setText changes an element's text only when it differs, so a screen
// reader is not told the same again.
function setText(el, s) { if (el.textContent !== s) el.textContent = s; }

function drawAsks(card, w) {
  const box = $(".asks-box", card);
  const asks = w.requests || [];
  const key = JSON.stringify(asks.map((q) => q.ref));
  if (box.dataset.asks === key) return; // rebuilt only when the requests change, so focus stays put
  const hadFocus = box.contains(document.activeElement);
  box.dataset.asks = key;
  box.innerHTML = asks.map((q) => `<div class="asks" role="group" aria-label="${esc(t("asked_to_pay", { merchant: q.merchant_name, amount: q.amount, memo: q.memo }))}">
      <span>${esc(t("asked_to_pay", { merchant: q.merchant_name, amount: q.amount, memo: q.memo }))}</span>
      <button type="button" data-ref="${esc(q.ref)}" data-act="approve">${esc(t("approve"))}</button>
      <button type="button" class="quiet" data-ref="${esc(q.ref)}" data-act="decline">${esc(t("decline"))}</button></div>`).join("");
  for (const b of $$("button", box)) {
    const q = asks.find((x) => x.ref === b.dataset.ref);
    b.addEventListener("click", () => run(b, async () => {
      await api("POST", `/api/wallets/${w.id}/${b.dataset.act}`, { ref: b.dataset.ref });
      return { merchant: q.merchant_name, amount: q.amount };
    }, (r) => t(b.dataset.act === "approve" ? "done_approve" : "done_decline", r), $("h3", card)).then(() => {
      if (!b.isConnected) $("h3", card).focus(); // the request is gone: keep focus in its wallet
    }));
  }
  if (hadFocus && !box.contains(document.activeElement)) $("h3", card).focus();
}

// ---- event feed ----
function addEvent(e) {
  state.events.unshift(e);
  if (state.events.length > 200) state.events.length = 200;
  feedLine(e, true);
  drawSequenceSoon();
}
function feedLine(e, first) {
  const li = document.createElement("li");
  li.innerHTML = `<time>${esc(clock(e.time))}</time><span class="${e.error ? "err" : ""}"><strong>${esc(who(party(e.from)))} → ${esc(who(party(e.to)))}</strong>: ${esc(eventText(e))}</span>`;
  const list = $("#feed-list");
  if (first) list.prepend(li); else list.appendChild(li);
  while (list.children.length > 200) list.lastChild.remove();
}

let seqPending = false;
function drawSequenceSoon() {
  if (seqPending) return;
  seqPending = true;
  requestAnimationFrame(() => { seqPending = false; drawSequence(); });
}

// drawSequence draws the last dozen messages as arrows between lifelines;
// at phone width each label has a line of its own above its arrow.
function drawSequence() {
  const recent = state.events.slice(0, 12).reverse();
  const names = new Set([...state.wallets.values()].map((w) => w.name));
  const lanes = ["wallets", ...((state.overview && state.overview.banks.map((b) => b.bank)) || []), "ledger", "central bank"];
  for (const e of recent) for (const p of [e.from, e.to]) if (!names.has(p) && !lanes.includes(p)) lanes.push(p);
  const laneOf = (p) => (lanes.includes(p) ? p : "wallets");
  const small = narrow();
  const w = small ? 360 : 900, top = small ? 44 : 30, step = small ? 40 : 28, h = top + recent.length * step + 10;
  const x = (p) => (small ? 30 : 60) + (lanes.indexOf(laneOf(p)) * (w - (small ? 60 : 120))) / Math.max(1, lanes.length - 1);
  const laneTitle = (l) => {
    const words = party(l).split(" ");
    if (!small || words.length === 1) return `<text x="${x(l)}" y="18" text-anchor="middle" class="${small ? "small b" : "b"}">${esc(party(l))}</text>`;
    return `<text x="${x(l)}" y="14" text-anchor="middle" class="small b">${words.map((wd, i) => `<tspan x="${x(l)}" dy="${i ? 13 : 0}">${esc(wd)}</tspan>`).join("")}</text>`;
  };
  let out = lanes.map((l) => laneTitle(l) + `<line x1="${x(l)}" y1="${top - 6}" x2="${x(l)}" y2="${h}" stroke="#9ba0aa"/>`).join("");
  recent.forEach((e, i) => {
    const y = top + i * step + (small ? 26 : 14), x1 = x(e.from), x2 = x(e.to);
    const color = e.error ? "#a3231a" : "#1d1d1f";
    out += x1 === x2
      ? `<path d="M${x1},${y - 8} h24 v10 h-20" fill="none" stroke="${color}" marker-end="url(#seqarrow)"/>`
      : `<line x1="${x1}" y1="${y}" x2="${x2}" y2="${y}" stroke="${color}" marker-end="url(#seqarrow)"/>`;
    let label = eventText(e);
    const max = (small ? 50 : 64) / (lang === "ja" ? 1.9 : 1); // a Japanese character is about twice as wide
    if (label.length > max) label = label.slice(0, max - 1) + "…";
    out += small
      ? `<text x="6" y="${y - 8}" class="small">${esc(label)}</text>`
      : `<text x="${(x1 + x2) / 2 + (x1 === x2 ? 34 : 0)}" y="${y - 4}" text-anchor="${x1 === x2 ? "start" : "middle"}" class="small">${esc(label)}</text>`;
  });
  const svg = $("#sequence");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.innerHTML = `<defs><marker id="seqarrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1d1d1f"/></marker></defs>` + out;
}

// ---- offline lab ----
function drawDevices() {
  const list = $("#device-list");
  const all = [...state.wallets.values()];
  for (const card of $$("[data-device]", list)) if (!state.wallets.has(card.dataset.device)) card.remove();
  for (const w of all) {
    let card = list.querySelector(`[data-device="${w.id}"]`);
    if (!card) {
      card = document.createElement("article");
      card.className = "card";
      card.dataset.device = w.id;
      card.setAttribute("data-msgs", "");
      card.innerHTML = `<h3 tabindex="-1"></h3><p class="hint clone-of"></p><dl class="kv"></dl>
        <form class="actions fund">${amountField("amount", 30000, 0)}<button type="submit">${esc(t("fund"))}</button></form>
        <div class="actions"><button type="button" class="quiet net"></button><button type="button" class="quiet clone">${esc(t("clone"))}</button></div>
        <div class="msgs" aria-live="polite"></div>`;
      $("form.fund", card).addEventListener("submit", (e) => {
        e.preventDefault();
        run(e.submitter, async () => {
          const a = amount(e.target);
          const r = await api("POST", `/api/wallets/${w.id}/offline/fund`, { amount: a });
          return { name: w.name, amount: a, balance: r.purse_balance };
        }, (r) => t("funded", r));
      });
      $(".net", card).addEventListener("click", (e) => run(e.currentTarget, async () => {
        const cur = state.wallets.get(w.id);
        if (cur.online) {
          await api("POST", `/api/wallets/${w.id}/offline/offline`, {});
          cur.online = false; // at once, before the pushed view
          drawDevices();
          return { offline: true, name: cur.name };
        }
        return api("POST", `/api/wallets/${w.id}/offline/online`, {}); // the reconciliation arrives for every page
      }, (r) => (r.offline ? t("went_offline", r) : r.handed ? t("recon_title", { device: r.device, n: r.handed }) : t("recon_nothing", r))));
      $(".clone", card).addEventListener("click", (e) => run(e.currentTarget, async () => {
        const c = await api("POST", `/api/wallets/${w.id}/offline/clone`, {});
        state.wallets.set(c.id, c);
        drawWallets();
        drawDevices();
        return { name: who(c.name), of: w.name };
      }, (r) => t("cloned_msg", r)));
      list.appendChild(card);
      showAmounts(card);
    }
    const p = w.purse;
    const revoked = p && p.revoked;
    const h3 = `${esc(who(w.name))} · ${esc(w.bank)} <span class="badge ${w.online ? "on" : "off"}">${esc(t(w.online ? "online" : "offline"))}</span>` +
      (revoked ? `<span class="badge off">${esc(t("revoked"))}</span>` : "") + (w.clone ? `<span class="badge warn">${esc(t("cloned"))}</span>` : "");
    if ($("h3", card).innerHTML !== h3) $("h3", card).innerHTML = h3;
    setText($(".clone-of", card), w.clone ? t("clone_of", { name: w.clone_of }) : "");
    const rows = p
      ? [["k_purse", p.serial.slice(0, 12) + "…"], ["k_purse_balance", revoked ? t("k_void") : yen(p.balance), revoked ? "void" : ""],
         ...(p.escrow !== undefined && p.escrow !== null ? [["k_escrow", yen(p.escrow)]] : []),
         ["k_received", yen(p.pending)], ["k_payments", num(p.counter)], ["k_since_sync", num(p.since_sync)], ["k_unsynced", yen(p.unsynced)],
         ...(w.clone ? [] : [["k_wallet_balance", yen(w.balance)]])]
      : [["k_purse", t("no_purse")], ["k_wallet_balance", yen(w.balance)]];
    const dl = rows.map(([k, v, cls]) => `<dt>${esc(t(k))}</dt><dd${cls ? ` class="${cls}"` : ""}>${esc(v)}</dd>`).join("");
    if ($("dl", card).innerHTML !== dl) $("dl", card).innerHTML = dl;
    setText($(".net", card), t(w.online ? "take_offline" : "bring_online"));
    $("form.fund", card).hidden = w.clone;
    $(".clone", card).hidden = w.clone || !p;
  }
  // payer: a purse that can pay, offline first; payee: another purse
  const purses = all.filter((w) => w.purse);
  const opts = purses.map((w) => `<option value="${w.id}">${esc(who(w.name))}</option>`).join("");
  const from = $('#offline-pay select[name="from"]'), to = $('#offline-pay select[name="to"]');
  const key = opts + lang;
  if (from.dataset.opts !== key) {
    const fv = from.value, tv = to.value;
    from.innerHTML = to.innerHTML = opts;
    from.dataset.opts = to.dataset.opts = key;
    const payer = purses.find((w) => w.id === fv) || purses.find((w) => w.purse.balance > 0 && !w.online && !w.purse.revoked) ||
      purses.find((w) => w.purse.balance > 0 && !w.purse.revoked) || purses[0];
    if (payer) from.value = payer.id;
    const payee = purses.find((w) => w.id === tv && w.id !== from.value) || purses.find((w) => w.id !== from.value && w.purse.serial !== payer.purse.serial);
    if (payee) to.value = payee.id;
  }
  $("#offline-pay button").disabled = purses.length < 2;
  $("#offline-pay button").title = purses.length < 2 ? t("need_two_purses") : "";
}
$('#offline-pay select[name="from"]').addEventListener("change", (e) => {
  const to = $('#offline-pay select[name="to"]');
  if (to.value === e.target.value) {
    const other = [...to.options].find((o) => o.value !== e.target.value);
    if (other) to.value = other.value;
  }
});

$("#offline-pay").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = e.target.elements;
  run(e.submitter, async () => {
    const a = amount(e.target);
    const r = await api("POST", `/api/wallets/${f.from.value}/offline/pay`, { to: f.to.value, amount: a });
    state.payments.set(r.seq, { ...r, fresh: true });
    drawPayments();
    return r;
  });
});

// drawPayments shows the room's latest offline payments; a new one ticks
// its checks one by one, as the payee's purse makes them.
function drawPayments() {
  const out = $("#offline-result");
  const latest = [...state.payments.values()].sort((a, b) => b.seq - a.seq).slice(0, 4);
  for (const el of $$("[data-payment]", out)) if (!latest.some((p) => String(p.seq) === el.dataset.payment)) el.remove();
  latest.forEach((r, i) => {
    let box = out.querySelector(`[data-payment="${r.seq}"]`);
    if (!box) {
      box = document.createElement("article");
      box.className = "card";
      box.dataset.payment = r.seq;
      box.innerHTML = paymentHTML(r);
      if (r.fresh) tickChecks(box);
      r.fresh = false;
    }
    if (out.children[i] !== box) out.insertBefore(box, out.children[i] || null);
  });
}
function paymentHTML(r) {
  r = { ...r, payer: who(r.payer), payee: who(r.payee) };
  const title = esc(t("op_title", r));
  const checks = `<p class="hint">${esc(t("checks_intro"))}</p><ol class="checks">${(r.checks || []).map((c) =>
    `<li class="${c.result}"><span class="vh">${esc(t("check_" + c.result))}: </span>${esc(t("check_" + c.step))}${c.result === "failed" ? ": " + esc(errText(c.code, c.detail)) : ""}</li>`).join("")}</ol>`;
  if (r.payer_code || r.payer_error) {
    return `<h4>${title} <span class="badge off">${esc(t("refused_payer"))}</span></h4><p class="err">${esc(t("payer_refused", { payer: r.payer, code: r.payer_code, message: r.payer_error }))}</p>`;
  }
  if (!r.accepted) return `<h4>${title} <span class="badge off">${esc(t("refused_payee"))}</span></h4><p class="hint">${esc(t("refused_note"))}</p>` + checks;
  return `<h4>${title} <span class="badge on">${esc(t("accepted"))}</span></h4>
    <div class="row"><div class="qr">${r.voucher_qr.replace(/aria-label="[^"]*"/, `aria-label="${esc(t("voucher_qr"))}"`)}</div>
    <div class="voucher-text"><p class="hint">${esc(t("voucher_intro", { hash: r.hash.slice(0, 16), counter: r.counter, payer: r.payer }))}</p>
    <textarea class="voucher" readonly aria-label="${esc(t("voucher_text"))}">${esc(r.voucher)}</textarea></div></div>` + checks;
}
function tickChecks(box) {
  if (reducedMotion()) return;
  const items = $$(".checks li", box);
  items.forEach((li) => li.classList.add("waiting"));
  items.forEach((li, i) => setTimeout(() => li.classList.remove("waiting"), 350 * (i + 1)));
}

function drawRecons() {
  const list = $("#sync-results");
  const all = [...state.recons.values()].sort((a, b) => b.seq - a.seq).slice(0, 20);
  for (const el of $$("[data-recon]", list)) if (!all.some((r) => String(r.seq) === el.dataset.recon)) el.remove();
  all.forEach((r, i) => {
    let li = list.querySelector(`[data-recon="${r.seq}"]`);
    if (!li) {
      li = document.createElement("li");
      li.dataset.recon = r.seq;
      li.innerHTML = reconHTML(r);
    }
    if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
  });
}
function reconHTML(r) {
  r = { ...r, device: who(r.device), paid: r.paid.map((p) => ({ ...p, name: who(p.name) })), unpaid: r.unpaid.map((p) => ({ ...p, name: who(p.name) })) };
  const lines = [
    ...r.paid.map((p) => ["good", t("recon_paid", p)]),
    ...(r.from_escrow ? [["", t("recon_escrow", { amount: r.from_escrow })]] : []),
    ...r.borne.map((p) => ["bad", t("recon_borne", p)]),
    ...r.unpaid.map((p) => ["bad", t("recon_unpaid", p)]),
    ...r.conflicts.map((c) => ["bad", t("recon_conflict", c)]),
    ...r.revoked.map((n) => ["bad", t("recon_revoked", { name: n })]),
    ...(r.waiting ? [["", t("recon_waiting", { n: r.waiting })]] : []),
    ...(r.rejected ? [["bad", t("recon_rejected", { n: r.rejected })]] : []),
    ...(r.error ? [["bad", t("recon_error", r.error)]] : []),
  ];
  const vouchers = r.vouchers.map((v) => esc(t("voucher_line", { payer: v.payer_name, payee: v.payee_name, amount: v.amount, outcome: v.outcome, reason: v.reason })) +
    (v.from_escrow ? esc(t("v_escrow", { v: v.from_escrow })) : "") + (v.from_bearer ? esc(t("v_bearer", { v: v.from_bearer, name: v.bearer })) : "") +
    (v.payee_loss ? esc(t("v_loss", { v: v.payee_loss })) : ""));
  return `<time>${esc(clock(r.time))}</time><div><strong>${esc(r.handed ? t("recon_title", { device: r.device, n: r.handed }) : t("recon_nothing", r))}</strong>` +
    (lines.length ? `<ul class="summary">${lines.map(([c, l]) => `<li class="${c}">${esc(l)}</li>`).join("")}</ul>` : "") +
    (vouchers.length ? `<details><summary>${esc(t("recon_details"))}</summary><ul>${vouchers.map((l) => `<li>${l}</li>`).join("")}</ul></details>` : "") + `</div>`;
}

// ---- scenarios ----
async function loadScenarios() {
  const r = await api("GET", "/api/scenarios");
  state.scenarios = r.scenarios;
  drawScenarios();
  if (r.run) drawRun(r.run);
}
function scenarioRunning() { return state.run && !["done", "failed"].includes(state.run.phase); }
function drawScenarios() {
  const card = (sc) => `<article class="card"><h4>${esc(sc.name)}</h4>
    <p>${esc((sc.descriptions || {})[lang] || sc.description)}</p><p class="hint">${esc(t("scen_meta", sc))}</p>
    <button type="button" data-run="${esc(sc.name)}">${esc(t("run_it", sc))}</button></article>`;
  const room = state.scenarios.filter((s) => s.audience !== "developer"), dev = state.scenarios.filter((s) => s.audience === "developer");
  $("#scenario-list").innerHTML = room.map(card).join("");
  $("#scenario-dev").innerHTML = dev.map(card).join("");
  $(".dev").hidden = dev.length === 0;
  for (const b of $$("[data-run]")) {
    b.addEventListener("click", () => run(b, async () => {
      const r = await api("POST", `/api/scenarios/${encodeURIComponent(b.dataset.run)}/run`, {});
      drawRun(r);
      return r;
    }, (r) => t("scen_started", r)).then(lockRuns));
  }
  lockRuns();
}
function lockRuns() { for (const b of $$("[data-run]")) b.disabled = !!scenarioRunning(); }

function drawRun(r) {
  state.run = r;
  lockRuns();
  const box = $("#scenario-run");
  const tk = r.tick;
  let html = `<h3>${esc(r.name)}: <span>${esc(t("phase_" + r.phase))}</span></h3>`;
  if (["running", "reconciling", "opening"].includes(r.phase)) {
    const max = tk && tk.planned ? tk.planned : tk && tk.duration ? tk.duration / 1e9 : 0;
    const now = tk ? (tk.planned ? tk.answered : tk.elapsed / 1e9) : 0;
    const label = `aria-label="${esc(t("progress_of", r))}"`;
    html += max && r.phase === "running" ? `<progress ${label} max="${max}" value="${Math.min(now, max)}"></progress>` : `<progress ${label}></progress>`;
    if (tk) html += `<p>${esc(t("tick", { answered: tk.answered, last: tk.last_second, offline: tk.offline, failed: tk.failed }))}</p>`;
    if (r.phase === "opening") html += `<p class="hint">${esc(t("opening", { n: r.sessions }))}</p>`;
    box.innerHTML = html;
    return;
  }
  if (r.phase === "failed") {
    box.innerHTML = html + `<p class="err">${esc(t("scen_failed_text"))}</p><pre class="detail">${esc(r.error)}</pre>`;
    return;
  }
  if (!r.report) { box.innerHTML = html; return; }
  const rep = r.report, o = rep.offline;
  const caught = o && o.attacks ? o.attacks.reduce((a, x) => a + x.caught, 0) : 0;
  const committed = o && o.attacks ? o.attacks.reduce((a, x) => a + x.committed, 0) : 0;
  const fig = (cls, v, k) => `<div class="figure ${cls}"><div class="v">${esc(v)}</div><div class="k">${esc(k)}</div></div>`;
  html += `<div class="cards">` +
    fig("bank", t("per_s", { v: Math.round(rep.achieved_per_s) }), t("r_rate", { target: rep.target_per_s ? Math.round(rep.target_per_s) : 0 })) +
    fig("bank", `${rep.p99_ms.toFixed(1)} ms`, t("r_p99", { p50: rep.p50_ms.toFixed(1) })) +
    fig("wallet", num(rep.paid), t("r_paid", { n: rep.payments })) +
    (o ? fig("escrow", num(o.paid), t("r_offline", { settled: o.settled })) + fig("bad", `${caught} / ${committed}`, t("r_attacks", { honest: o.honest_revoked })) : "") +
    fig(rep.conserved ? "cb" : "bad", t(rep.conserved ? "r_conserved" : "r_not_conserved"), t("r_money")) + `</div>`;
  const frame = box.querySelector("iframe.report");
  const src = `/api/scenarios/report?t=${Date.parse(r.started) || 0}`;
  if (frame && frame.dataset.src === src) {
    box.querySelector(".cards")?.remove();
    box.querySelector("h3").outerHTML = html; // keep the loaded report
    return;
  }
  box.innerHTML = html + `<iframe class="report" title="${esc(t("report_title"))}" data-src="${src}" src="${src}"></iframe>`;
  const f = $("iframe.report", box);
  f.addEventListener("load", () => fitFrame(f));
}
// fitFrame sizes the report's frame to its content, so nothing is clipped
// and the page, not the frame, scrolls.
function fitFrame(f) {
  try {
    const doc = f.contentDocument;
    const fit = () => { f.style.height = doc.documentElement.scrollHeight + 4 + "px"; };
    fit();
    new ResizeObserver(fit).observe(doc.documentElement);
  } catch { /* not the sandbox's page */ }
}

// ---- presenter mode ----
const presenter = { open: false, step: Number(sessionStorage.getItem("step") || 0) };
$("#presenter-toggle").addEventListener("click", () => (presenter.open ? closePresenter() : openPresenter()));
$("#presenter-close").addEventListener("click", () => closePresenter());
$("#presenter-next").addEventListener("click", () => (presenter.step + 1 >= STEPS[lang].length ? closePresenter() : goStep(presenter.step + 1)));
$("#presenter-back").addEventListener("click", () => goStep(presenter.step - 1));
document.addEventListener("keydown", (e) => { if (e.key === "Escape" && presenter.open && !$("#reset-dialog").open && !$("#replica-dialog").open) closePresenter(); });
function openPresenter() {
  presenter.open = true;
  goStep(presenter.step);
}
function closePresenter() {
  presenter.open = false;
  for (const el of $$(".spotlight")) el.classList.remove("spotlight");
  drawPresenter();
  $("#presenter-toggle").focus();
}
function goStep(i) {
  presenter.step = Math.max(0, Math.min(STEPS[lang].length - 1, i));
  sessionStorage.setItem("step", presenter.step);
  const st = STEPS[lang][presenter.step];
  showTab(st.tab);
  drawPresenter();
  for (const el of $$(".spotlight")) el.classList.remove("spotlight");
  let target = $(st.target);
  if (target && target.getBoundingClientRect().height < 24) target = target.closest("section"); // nothing there yet: the whole tab
  if (target) {
    target.classList.add("spotlight");
    target.scrollIntoView({ block: "center", behavior: reducedMotion() ? "auto" : "smooth" });
  }
  $("#presenter-title").focus({ preventScroll: true });
}
function drawPresenter() {
  const p = $("#presenter");
  p.hidden = !presenter.open;
  document.body.classList.toggle("presenting", presenter.open);
  $("#presenter-toggle").setAttribute("aria-expanded", String(presenter.open));
  $("#presenter-toggle").textContent = t(presenter.open ? "presenter_close" : "presenter_open");
  if (!presenter.open) return;
  const steps = STEPS[lang], st = steps[presenter.step], w = STEP_WORDS[lang];
  $("#presenter-no").textContent = w.step({ n: presenter.step + 1, of: steps.length });
  $("#presenter-title").textContent = st.title;
  $("#presenter-text").textContent = st.text;
  $("#presenter-back").textContent = w.back;
  $("#presenter-back").disabled = presenter.step === 0;
  $("#presenter-next").textContent = presenter.step + 1 >= steps.length ? w.finish : w.next;
}

// ---- reset the room ----
let resetting = false;
let ownReset = 0; // the number of the last reset this page asked for
$("#reset").addEventListener("click", () => $("#reset-dialog").showModal());
$("#reset-no").addEventListener("click", () => $("#reset-dialog").close());
$("#reset-dialog").addEventListener("close", () => $("#reset").focus());
$("#reset-yes").addEventListener("click", (e) => {
  resetting = true;
  run(e.currentTarget, () => api("POST", "/api/room/reset", {}), (r) => { ownReset = r.reset; return t("reset_done", r); }).finally(() => {
    resetting = false;
    $("#reset-dialog").close();
  });
});

// ---- start ----
window.addEventListener("resize", () => { drawOverview(); drawSequence(); });
applyLang();
connect();
loadScenarios().catch((e) => say($("#scenario-list"), "err", errText(e.code, e.message)));
