// The demo page: draws the state the sandbox pushes over /api/live and
// sends the presenter's actions to /api. No framework, no build step.
"use strict";

const $ = (sel, el = document) => el.querySelector(sel);
const yen = (v) => Number(v || 0).toLocaleString("en-US");
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

const state = { overview: null, wallets: new Map(), events: [] };

// ---- tabs ----
for (const b of document.querySelectorAll("nav button")) {
  b.addEventListener("click", () => showTab(b.dataset.tab));
}
function showTab(name) {
  for (const b of document.querySelectorAll("nav button")) b.setAttribute("aria-pressed", String(b.dataset.tab === name));
  for (const s of document.querySelectorAll("section.tab")) s.hidden = s.id !== name;
  history.replaceState(null, "", "#" + name);
}
if (location.hash && $(location.hash + ".tab")) showTab(location.hash.slice(1));

// ---- API ----
async function api(method, path, body) {
  const res = await fetch(path, {
    method, headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = data.error || { message: res.statusText };
    throw new Error((e.code ? e.code + ": " : "") + e.message);
  }
  return data;
}
let toastTimer;
function toast(msg) {
  const t = $("#toast");
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), 6000);
}
async function run(button, f) {
  if (button) button.disabled = true;
  try { await f(); } catch (e) { toast(e.message); } finally { if (button) button.disabled = false; }
}

// ---- live updates ----
function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/live");
  ws.onopen = () => {
    $("#conn").textContent = "live";
    $("#conn").classList.remove("down");
    // the sandbox sends its recent events and every wallet again: start afresh
    state.events = [];
    $("#feed-list").innerHTML = "";
    state.wallets.clear();
    $("#wallet-list").innerHTML = "";
    $("#device-list").innerHTML = "";
  };
  ws.onclose = () => {
    $("#conn").textContent = "disconnected from the sandbox; retrying…";
    $("#conn").classList.add("down");
    setTimeout(connect, 2000);
  };
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "state") { state.overview = msg.state; drawOverview(); drawBanks(); drawSequence(); }
    else if (msg.type === "event") addEvent(msg.event);
    else if (msg.type === "scenario") drawRun(msg.run);
    else if (msg.type === "wallet") {
      const old = state.wallets.get(msg.wallet.id);
      if (old && old.seq > msg.wallet.seq) return; // an older view that arrived late
      state.wallets.set(msg.wallet.id, msg.wallet);
      drawWallets();
      drawDevices();
    }
  };
}
connect();

// ---- overview ----
function drawOverview() {
  const s = state.overview;
  const t = s.totals;
  const svg = $("#tiers");
  const banks = s.banks;
  const w = 900, bw = Math.min(250, (w - 40) / banks.length - 20);
  let out = `<title id="tiers-title">The central bank issues CBDC to intermediary banks; banks serve wallets</title>
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#4a4f5a"/></marker></defs>
    <rect x="250" y="10" width="400" height="86" rx="8" fill="#f8eef0" stroke="#7a1f2b" stroke-width="2"/>
    <text x="450" y="36" text-anchor="middle" font-weight="700">Central bank: the ledger</text>
    <text x="450" y="60" text-anchor="middle">CBDC in circulation ${yen(t.Circulation)} yen</text>
    <text x="450" y="82" text-anchor="middle" class="small">journal record ${yen(t.Seq)} · guarantee fund ${yen(t.Loss)} yen</text>`;
  banks.forEach((b, i) => {
    const x = 20 + i * ((w - 40) / banks.length) + ((w - 40) / banks.length - bw) / 2;
    out += `<line x1="450" y1="96" x2="${x + bw / 2}" y2="170" stroke="#4a4f5a" marker-end="url(#arrow)"/>
      <rect x="${x}" y="172" width="${bw}" height="96" rx="8" fill="#eef3fb" stroke="#1f4e99" stroke-width="2"/>
      <text x="${x + bw / 2}" y="196" text-anchor="middle" font-weight="700">${esc(b.bank)}</text>
      <text x="${x + bw / 2}" y="220" text-anchor="middle">${b.error ? "status unavailable" : "float " + yen(b.float) + " yen"}</text>
      <text x="${x + bw / 2}" y="242" text-anchor="middle" class="small">deposits ${yen(b.deposits)} · ${yen(b.customers)} customers</text>
      <text x="${x + bw / 2}" y="260" text-anchor="middle" class="small">${yen(b.wallets)} wallets${b.offline_losses ? " · offline losses " + yen(b.offline_losses) : ""}</text>
      <line x1="${x + bw / 2}" y1="268" x2="${x + bw / 2}" y2="330" stroke="#4a4f5a" marker-end="url(#arrow)"/>`;
  });
  out += `<rect x="20" y="332" width="860" height="86" rx="8" fill="#eef7f0" stroke="#236b33" stroke-width="2"/>
    <text x="450" y="360" text-anchor="middle" font-weight="700">Wallets</text>
    <text x="450" y="384" text-anchor="middle">held in wallets ${yen(t.Wallets)} yen · in offline purse escrow ${yen(t.Escrow)} yen</text>`;
  if (s.offline) {
    out += `<text x="450" y="406" text-anchor="middle" class="small">vouchers pending ${yen(s.offline.pending)} (${yen(s.offline.pending_amount)} yen) · settled ${yen(s.offline.settled)} · revoked purses ${yen(s.offline.revoked_devices)}</text>`;
  }
  svg.innerHTML = out;

  const losses = s.offline ? Object.values(s.offline.loss_by_bearer || {}).reduce((a, b) => a + b, 0) + (s.offline.loss_by_payees || 0) : 0;
  const figs = [
    ["cb", "CBDC in circulation", t.Circulation],
    ["cb", "guarantee fund", t.Loss],
    ["bank", "banks' float", t.Intermediaries],
    ["wallet", "held by wallets", t.Wallets],
    ["escrow", "offline escrow", t.Escrow],
    ["escrow", "vouchers pending", s.offline ? s.offline.pending : 0],
    ["bad", "offline losses", losses],
  ];
  $("#figures").innerHTML = figs.map(([cls, k, v]) => `<div class="figure ${cls}"><div class="v">${yen(v)}</div><div class="k">${k}${k.includes("vouchers") ? "" : " (yen)"}</div></div>`).join("");
  drawThroughput(s.throughput);
}

function drawThroughput(points) {
  const max = Math.max(1, ...points.map((p) => p.ops));
  const w = 900, h = 130, left = 50;
  const xy = points.map((p, i) => `${(left + (i * (w - left - 10)) / 59).toFixed(1)},${(h - (p.ops / max) * (h - 10)).toFixed(1)}`).join(" ");
  $("#throughput").innerHTML = `<line x1="${left}" y1="${h}" x2="${w - 10}" y2="${h}" stroke="#888"/>
    <line x1="${left}" y1="0" x2="${left}" y2="${h}" stroke="#888"/>
    <text x="${left - 6}" y="14" text-anchor="end" class="small">${max}/s</text>
    <text x="${left - 6}" y="${h}" text-anchor="end" class="small">0</text>
    <text x="${left}" y="${h + 20}" class="small">a minute ago</text><text x="${w - 10}" y="${h + 20}" text-anchor="end" class="small">now</text>
    <polyline fill="none" stroke="#1f4e99" stroke-width="2" points="${xy}"/>`;
}

// ---- banks ----
function drawBanks() {
  const list = $("#bank-list");
  const sel = $("#new-wallet-bank");
  const banks = state.overview.banks;
  if (sel.options.length !== banks.length) sel.innerHTML = banks.map((b) => `<option>${esc(b.bank)}</option>`).join("");
  for (const b of banks) {
    let card = list.querySelector(`[data-bank="${b.bank}"]`);
    if (!card) {
      card = document.createElement("div");
      card.className = "card";
      card.dataset.bank = b.bank;
      card.innerHTML = `<h3>${esc(b.bank)}</h3><dl class="kv"></dl>
        <form class="actions"><label>Amount (yen) <input type="number" name="amount" min="1" value="10000000" required></label>
        <button type="submit" name="issue">Issue float</button>
        <button type="submit" name="redeem" class="quiet">Redeem float</button></form>
        <button type="button" class="quiet customers">Customers</button><div class="customer-list"></div>`;
      $("form", card).addEventListener("submit", (e) => {
        e.preventDefault();
        const kind = e.submitter.name;
        const amount = Number(new FormData(e.target).get("amount"));
        run(e.submitter, () => api("POST", `/api/banks/${b.bank}/${kind}`, { amount }));
      });
      const listCustomers = async () => {
        const r = await api("GET", `/api/banks/${b.bank}/customers`);
        const box = $(".customer-list", card);
        box.innerHTML = `<p class="hint">${r.count} customers; the newest:</p><ul class="notes">` +
          r.customers.slice(-20).reverse().map((c) => `<li>${esc(c.name)}: ${esc(c.tier.name)} tier (holding limit ${yen(c.tier.holding_limit)} yen), deposit ${yen(c.deposit)} yen, ${(c.wallets || []).length} wallet(s)
            <label class="inline">tier <select data-customer="${esc(c.id)}" aria-label="tier of ${esc(c.name)}">${r.tiers.map((t) => `<option${t.name === c.tier.name ? " selected" : ""}>${esc(t.name)}</option>`).join("")}</select></label></li>`).join("") + "</ul>";
        for (const sel of box.querySelectorAll("select[data-customer]")) {
          sel.addEventListener("change", () => run(sel, async () => {
            await api("POST", `/api/banks/${b.bank}/customers/${encodeURIComponent(sel.dataset.customer)}/tier`, { tier: sel.value });
            await listCustomers();
          }));
        }
      };
      $(".customers", card).addEventListener("click", (e) => run(e.target, listCustomers));
      list.appendChild(card);
    }
    if (b.error) { $("dl", card).innerHTML = `<dt>status</dt><dd class="err">unavailable: ${esc(b.error)}</dd>`; continue; }
    $("dl", card).innerHTML = [
      ["float (CBDC)", b.float], ["reserves at the central bank", b.reserves], ["customers' deposits", b.deposits],
      ["offline losses borne", b.offline_losses], ["customers", b.customers], ["wallets", b.wallets], ["open sessions", b.connections],
    ].map(([k, v]) => `<dt>${k}</dt><dd>${yen(v)}</dd>`).join("");
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
  });
});

function drawWallets() {
  const list = $("#wallet-list");
  const all = [...state.wallets.values()].filter((w) => !w.clone); // a cloned device holds only a purse
  for (const w of all) {
    let card = list.querySelector(`[data-wallet="${w.id}"]`);
    if (!card) {
      card = document.createElement("article");
      card.className = "card";
      card.dataset.wallet = w.id;
      card.setAttribute("aria-label", "wallet of " + w.name);
      card.innerHTML = `<h3></h3><div class="balance"></div><div class="meta"></div><div class="asks-box"></div>
        <form class="actions pay"><label>Pay <select name="to"></select></label>
          <label>Amount (yen) <input type="number" name="amount" min="1" value="1000" required></label>
          <button type="submit" name="pay">Pay</button><button type="submit" name="request" class="quiet">Ask to pay</button></form>
        <form class="actions charge"><label>Amount (yen) <input type="number" name="amount" min="1" value="20000" required></label>
          <button type="submit" name="withdraw">Charge from deposit</button><button type="submit" name="deposit" class="quiet">Return to deposit</button></form>
        <fieldset class="actions settings"><legend class="hint">Settings</legend>
          <label class="check"><span><input type="checkbox" name="waterfall"> waterfall: credits over the holding limit go to the deposit account</span></label>
          <label class="check"><span><input type="checkbox" name="auto_charge"> auto-charge: a payment above the balance tops up from the deposit</span></label></fieldset>
        <ul class="notes" aria-label="notifications"></ul>`;
      $("form.pay", card).addEventListener("submit", (e) => {
        e.preventDefault();
        const f = new FormData(e.target);
        run(e.submitter, () => api("POST", `/api/wallets/${w.id}/${e.submitter.name}`, { to: f.get("to"), amount: Number(f.get("amount")) }));
      });
      $("form.charge", card).addEventListener("submit", (e) => {
        e.preventDefault();
        const f = new FormData(e.target);
        run(e.submitter, () => api("POST", `/api/wallets/${w.id}/${e.submitter.name}`, { amount: Number(f.get("amount")) }));
      });
      for (const box of card.querySelectorAll(".settings input")) {
        box.addEventListener("change", () => run(null, () => api("POST", `/api/wallets/${w.id}/settings`, {
          waterfall: $('[name="waterfall"]', card).checked, auto_charge: $('[name="auto_charge"]', card).checked,
        })));
      }
      list.appendChild(card);
    }
    $("h3", card).textContent = `${w.name} · ${w.bank}`;
    $(".balance", card).textContent = `${yen(w.balance)} yen`;
    $(".meta", card).innerHTML = `<div>deposit account ${yen(w.deposit)} yen · ${esc(w.tier)} tier, holding limit ${yen(w.holding_limit)} yen</div><div class="addr">${esc(w.address)}</div>` +
      (w.error ? `<div class="err">${esc(w.error)}</div>` : "");
    $('[name="waterfall"]', card).checked = w.waterfall;
    $('[name="auto_charge"]', card).checked = w.auto_charge;
    const sel = $('select[name="to"]', card);
    const others = all.filter((o) => o.id !== w.id);
    const opts = others.map((o) => `<option value="${o.id}">${esc(o.name)} (${esc(o.bank)})</option>`).join("");
    if (sel.dataset.opts !== opts) { const v = sel.value; sel.innerHTML = opts; sel.dataset.opts = opts; if (v) sel.value = v; }
    const asks = JSON.stringify((w.requests || []).map((q) => q.ref));
    if ($(".asks-box", card).dataset.asks !== asks) { // rebuilt only when the requests change, so focus stays put
      $(".asks-box", card).dataset.asks = asks;
      $(".asks-box", card).innerHTML = (w.requests || []).map((q) => `<div class="asks">Asked to pay ${yen(q.amount)} yen${q.memo ? " for " + esc(q.memo) : ""}
        <button type="button" data-ref="${esc(q.ref)}" data-act="approve">Approve</button> <button type="button" class="quiet" data-ref="${esc(q.ref)}" data-act="decline">Decline</button></div>`).join("");
      for (const b of card.querySelectorAll(".asks-box button")) {
        b.addEventListener("click", () => run(b, () => api("POST", `/api/wallets/${w.id}/${b.dataset.act}`, { ref: b.dataset.ref })));
      }
    }
    $(".notes", card).innerHTML = (w.notes || []).map((n) => `<li><time>${new Date(n.time).toLocaleTimeString()}</time> ${esc(n.text)}</li>`).join("");
  }
}

// ---- event feed ----
function addEvent(e) {
  state.events.unshift(e);
  if (state.events.length > 200) state.events.length = 200;
  const li = document.createElement("li");
  li.innerHTML = `<time>${new Date(e.time).toLocaleTimeString()}</time><span class="${e.error ? "err" : ""}"><strong>${esc(e.from)} → ${esc(e.to)}</strong>: ${esc(e.label)}${e.detail ? ` <span class="hint">(${esc(e.detail)})</span>` : ""}</span>`;
  const list = $("#feed-list");
  list.prepend(li);
  while (list.children.length > 200) list.lastChild.remove();
  drawSequence();
}

// drawSequence draws the last dozen messages as arrows between lifelines.
let seqPending = false;
function drawSequence() {
  if (seqPending) return;
  seqPending = true;
  requestAnimationFrame(() => {
    seqPending = false;
    const recent = state.events.slice(0, 12).reverse();
    const names = new Set([...state.wallets.values()].map((w) => w.name));
    const lanes = ["wallets", ...((state.overview && state.overview.banks.map((b) => b.bank)) || []), "ledger", "central bank"];
    for (const e of recent) for (const p of [e.from, e.to]) if (!names.has(p) && !lanes.includes(p)) lanes.push(p);
    const laneOf = (p) => (lanes.includes(p) ? p : "wallets");
    const w = 900, top = 30, step = 28, h = top + recent.length * step + 10;
    const x = (p) => 60 + (lanes.indexOf(laneOf(p)) * (w - 120)) / Math.max(1, lanes.length - 1);
    let out = lanes.map((l) => `<text x="${x(l)}" y="18" text-anchor="middle" font-weight="700">${esc(l)}</text><line x1="${x(l)}" y1="24" x2="${x(l)}" y2="${h}" stroke="#c9ccd3"/>`).join("");
    recent.forEach((e, i) => {
      const y = top + i * step + 14, x1 = x(e.from), x2 = x(e.to);
      const color = e.error ? "#a3231a" : "#1d1d1f";
      out += x1 === x2
        ? `<path d="M${x1},${y - 8} h30 v10 h-26" fill="none" stroke="${color}" marker-end="url(#seqarrow)"/>`
        : `<line x1="${x1}" y1="${y}" x2="${x2}" y2="${y}" stroke="${color}" marker-end="url(#seqarrow)"/>`;
      out += `<text x="${(x1 + x2) / 2 + (x1 === x2 ? 40 : 0)}" y="${y - 4}" text-anchor="${x1 === x2 ? "start" : "middle"}" class="small">${esc(e.label.slice(0, 60))}</text>`;
    });
    const svg = $("#sequence");
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    svg.innerHTML = `<defs><marker id="seqarrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1d1d1f"/></marker></defs>` + out;
  });
}

// ---- offline lab ----
function drawDevices() {
  const list = $("#device-list");
  const all = [...state.wallets.values()];
  for (const w of all) {
    let card = list.querySelector(`[data-device="${w.id}"]`);
    if (!card) {
      card = document.createElement("article");
      card.className = "card";
      card.dataset.device = w.id;
      card.innerHTML = `<h3></h3><dl class="kv"></dl>
        <form class="actions fund"><label>Amount (yen) <input type="number" name="amount" min="0" value="30000" required></label>
          <button type="submit">Fund purse</button></form>
        <div class="actions"><button type="button" class="quiet net"></button><button type="button" class="quiet clone">Clone purse</button></div>`;
      $("form.fund", card).addEventListener("submit", (e) => {
        e.preventDefault();
        const amount = Number(new FormData(e.target).get("amount"));
        run(e.submitter, () => api("POST", `/api/wallets/${w.id}/offline/fund`, { amount }));
      });
      $(".net", card).addEventListener("click", (e) => run(e.target, async () => {
        const cur = state.wallets.get(w.id);
        if (cur.online) return api("POST", `/api/wallets/${w.id}/offline/offline`, {});
        const r = await api("POST", `/api/wallets/${w.id}/offline/online`, {});
        showSync(cur.name, r);
      }));
      $(".clone", card).addEventListener("click", (e) => run(e.target, async () => {
        const c = await api("POST", `/api/wallets/${w.id}/offline/clone`, {});
        state.wallets.set(c.id, c);
        drawWallets();
        drawDevices();
      }));
      list.appendChild(card);
    }
    const p = w.purse;
    $("h3", card).innerHTML = `${esc(w.name)} · ${esc(w.bank)} <span class="badge ${w.online ? "on" : "off"}">${w.online ? "online" : "offline"}</span>` +
      (p && p.revoked ? `<span class="badge off">revoked</span>` : "") + (w.clone ? `<span class="badge warn">cloned device</span>` : "");
    $("dl", card).innerHTML = p
      ? [["purse", p.serial.slice(0, 16) + "…"], ["purse balance", yen(p.balance) + " yen"], ["received, not settled", yen(p.pending) + " yen"],
         ["payments made", p.counter], ["since last sync", p.since_sync], ["wallet balance", yen(w.balance) + " yen"]].map(([k, v]) => `<dt>${k}</dt><dd>${esc(v)}</dd>`).join("")
      : `<dt>purse</dt><dd>none yet: fund one (0 yen for a payee)</dd><dt>wallet balance</dt><dd>${yen(w.balance)} yen</dd>`;
    $(".net", card).textContent = w.online ? "Take offline" : "Bring online and sync";
    $("form.fund", card).hidden = w.clone;
    $(".clone", card).hidden = w.clone || !p;
  }
  const opts = all.filter((w) => w.purse).map((w) => `<option value="${w.id}">${esc(w.name)}</option>`).join("");
  for (const sel of document.querySelectorAll("#offline-pay select")) {
    if (sel.dataset.opts !== opts) { const v = sel.value; sel.innerHTML = opts; sel.dataset.opts = opts; if (v) sel.value = v; }
  }
}

$("#offline-pay").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  run(e.submitter, async () => {
    const r = await api("POST", `/api/wallets/${f.get("from")}/offline/pay`, { to: f.get("to"), amount: Number(f.get("amount")) });
    const box = document.createElement("article");
    box.className = "card";
    box.innerHTML = r.payer_error
      ? `<h3>${esc(r.payer)} → ${esc(r.payee)}: ${yen(r.amount)} yen</h3><p class="err">The payer's purse refused: ${esc(r.payer_error)}</p>`
      : !r.accepted
      ? `<h3>${esc(r.payer)} → ${esc(r.payee)}: ${yen(r.amount)} yen <span class="badge off">refused by the payee</span></h3>
        <p class="hint">The payer's purse had already signed the voucher: it is spent from the payer's purse and settles to the payee when the payer syncs.</p>
        <ul class="checks">${r.checks.map((c) => `<li class="${c.result}">${esc(c.name)}${c.detail ? ": " + esc(c.detail) : ""}</li>`).join("")}</ul>`
      : `<h3>${esc(r.payer)} → ${esc(r.payee)}: ${yen(r.amount)} yen ${r.accepted ? '<span class="badge on">accepted</span>' : '<span class="badge off">refused</span>'}</h3>
        <div class="row"><div class="qr">${r.voucher_qr}</div>
        <div style="flex:1;min-width:14em"><p class="hint">The voucher ${esc(r.hash.slice(0, 16))}…, as the QR code the payee scans and as text:</p>
        <textarea class="voucher" readonly aria-label="voucher text">${esc(r.voucher)}</textarea></div></div>
        <p class="hint">The payee's purse checks, in order:</p>
        <ul class="checks">${r.checks.map((c) => `<li class="${c.result}">${esc(c.name)}${c.detail ? ": " + esc(c.detail) : ""}</li>`).join("")}</ul>`;
    const out = $("#offline-result");
    out.prepend(box);
    while (out.children.length > 4) out.lastChild.remove();
  });
});

function showSync(name, r) {
  const li = document.createElement("li");
  const lines = r.vouchers.map((v) => `${esc(v.outcome)}${v.reason ? " (" + esc(v.reason) + ")" : ""}: ${yen(v.amount)} yen, voucher ${esc(v.hash.slice(0, 8))}` +
    (v.from_bearer ? `, ${yen(v.from_bearer)} yen borne by ${esc(v.bearer)}` : "") + (v.payee_loss ? `, payee goes without ${yen(v.payee_loss)} yen` : ""));
  const conflicts = r.conflicts.map((c) => `<div class="conflict">${esc(c.kind)} by ` +
    (c.kind === "bank_certificate" ? `bank ${esc(c.bank)}` : `${esc(c.wallet)}'s purse ${esc(c.device.slice(0, 8))}`) +
    `${c.revokes ? ": revoked" : ""}. ${esc(c.detail)}</div>`);
  li.innerHTML = `<time>${new Date().toLocaleTimeString()}</time><div><strong>${esc(name)} synced</strong>: ${r.vouchers.length} vouchers handed in` +
    (lines.length ? `<ul>${lines.map((l) => `<li>${l}</li>`).join("")}</ul>` : "") + conflicts.join("") + `</div>`;
  $("#sync-results").prepend(li);
  while ($("#sync-results").children.length > 20) $("#sync-results").lastChild.remove();
}

// ---- scenarios ----
async function loadScenarios() {
  const r = await api("GET", "/api/scenarios");
  $("#scenario-list").innerHTML = r.scenarios.map((sc) => `<article class="card"><h3>${esc(sc.name)}</h3>
    <p>${esc(sc.description)}</p><p class="hint">${sc.banks} banks, ${yen(sc.wallets)} wallets${sc.seconds ? ", " + Math.round(sc.seconds) + " s of payments" : ""}</p>
    <button type="button" data-run="${esc(sc.name)}">Run ${esc(sc.name)}</button></article>`).join("");
  for (const b of document.querySelectorAll("[data-run]")) {
    b.addEventListener("click", () => run(b, () => api("POST", `/api/scenarios/${b.dataset.run}/run`, {})));
  }
  if (r.run) drawRun(r.run);
}
loadScenarios().catch((e) => toast(e.message));

function drawRun(r) {
  const box = $("#scenario-run");
  const t = r.tick;
  let html = `<h3>${esc(r.name)}: ${esc(r.phase)}</h3>`;
  if (r.phase === "running" || r.phase === "reconciling" || r.phase === "opening") {
    const max = t && t.planned ? t.planned : t && t.duration ? t.duration / 1e9 : 0;
    const now = t ? (t.planned ? t.answered : t.elapsed / 1e9) : 0;
    const label = `aria-label="progress of ${esc(r.name)}"`;
    html += max && r.phase === "running" ? `<progress ${label} max="${max}" value="${Math.min(now, max)}"></progress>` : `<progress ${label}></progress>`;
    if (t) html += `<p>${yen(t.answered)} payments answered; last second ${yen(t.last_second)}/s, of which ${yen(t.offline)} offline and ${yen(t.failed)} failed</p>`;
    if (r.phase === "opening") html += `<p class="hint">Opening ${r.sessions} wallet sessions…</p>`;
  } else if (r.phase === "failed") {
    html += `<p class="err">${esc(r.error)}</p>`;
  } else if (r.report) {
    const rep = r.report, o = rep.offline;
    const caught = o && o.attacks ? o.attacks.reduce((a, x) => a + x.caught, 0) : 0;
    const committed = o && o.attacks ? o.attacks.reduce((a, x) => a + x.committed, 0) : 0;
    html += `<div class="cards">
      <div class="figure bank"><div class="v">${yen(Math.round(rep.achieved_per_s))}/s</div><div class="k">paid a second${rep.target_per_s ? " of " + yen(Math.round(rep.target_per_s)) + " target" : ""}</div></div>
      <div class="figure bank"><div class="v">${rep.p99_ms.toFixed(1)} ms</div><div class="k">p99 latency (p50 ${rep.p50_ms.toFixed(1)} ms)</div></div>
      <div class="figure wallet"><div class="v">${yen(rep.paid)}</div><div class="k">paid of ${yen(rep.payments)}</div></div>
      ${o ? `<div class="figure escrow"><div class="v">${yen(o.paid)}</div><div class="k">paid offline; ${yen(o.settled)} vouchers settled</div></div>
      <div class="figure bad"><div class="v">${caught} of ${committed}</div><div class="k">attacks caught; ${o.honest_revoked} honest purses revoked</div></div>` : ""}
      <div class="figure ${rep.conserved ? "cb" : "bad"}"><div class="v">${rep.conserved ? "conserved" : "NOT conserved"}</div><div class="k">money</div></div></div>
      <iframe class="report" title="the scenario's report with charts" src="/api/scenarios/report?t=${Date.now()}"></iframe>`;
  }
  box.innerHTML = html;
}
