// The digital-yen wallet in a browser. The wallet's key and its offline
// purse stay on this device (IndexedDB); signing and the purse's rules are
// the Go code compiled to WebAssembly (purse.wasm, cbdcPurse); the bank is
// reached over its wallet websocket, as docs/protocol.md describes.
"use strict";

const strings = {
  en: {
    title: "Digital yen wallet", connecting: "Connecting…", online: "Online", offline: "Offline: purse only",
    setupTitle: "Open a wallet", setupHelp: "Your bank checks who you are once; your key stays on this phone.",
    name: "Your name", person: "Your ID number", register: "Open the wallet", homeTitle: "Your wallet",
    balance: "Digital yen", deposit: "Bank deposit", receive: "Receive: show your address", payTitle: "Pay",
    payTo: "To (address)", amount: "Amount (yen)", pay: "Pay", withdrawTitle: "Move from your deposit",
    withdraw: "Move to digital yen", offlineTitle: "Offline purse",
    purseNone: "Pay with no network: set up a purse on this phone and fill it.", purseSetup: "Set up the purse",
    purseBalance: "In the purse", pursePending: "received, to sync", purseSince: "Payments since the last sync",
    fundAmount: "Fill the purse (yen)", fund: "Fill", sync: "Sync with the bank", getPaid: "Get paid offline",
    showRequest: "Show the payment request", requestText: "The request as text",
    scanVoucher: "The payer's voucher (scan or paste)", accept: "Take the payment", payOffline: "Pay offline",
    scanRequest: "The payee's request (scan or paste)", payOfflineButton: "Pay from the purse",
    showVoucher: "Show this to the payee:", voucherText: "The voucher as text", history: "History",
    paid: (n) => `Paid ¥${n}.`, received: (n) => `Received ¥${n}.`, moved: (n) => `¥${n} moved to digital yen.`,
    funded: (n) => `The purse holds ¥${n}.`, accepted: (n) => `Took ¥${n} offline; it settles when you sync.`,
    paidOffline: (n) => `Paid ¥${n} from the purse: show the voucher.`, synced: (n) => `Synced: ${n} vouchers settled.`,
    purseReady: "The purse is ready: fill it while online.", noPurse: "This wallet was built without its purse (run make purse-wasm).",
    refused: (code, msg) => `Refused (${code}): ${msg}`, notOnline: "Not connected to the bank: try again when online.",
  },
  ja: {
    title: "デジタル円ウォレット", connecting: "接続中…", online: "オンライン", offline: "オフライン：財布のみ",
    setupTitle: "ウォレットを開く", setupHelp: "本人確認は銀行が一度だけ行います。鍵はこの端末から出ません。",
    name: "お名前", person: "本人確認番号", register: "ウォレットを開く", homeTitle: "あなたのウォレット",
    balance: "デジタル円", deposit: "銀行預金", receive: "受け取る：アドレスを表示", payTitle: "支払う",
    payTo: "支払先（アドレス）", amount: "金額（円）", pay: "支払う", withdrawTitle: "預金から移す",
    withdraw: "デジタル円に移す", offlineTitle: "オフライン財布",
    purseNone: "通信なしで支払うには、この端末に財布を用意して入金します。", purseSetup: "財布を用意する",
    purseBalance: "財布の残高", pursePending: "受取済み・同期待ち", purseSince: "前回の同期からの支払い",
    fundAmount: "財布に入れる（円）", fund: "入金", sync: "銀行と同期", getPaid: "オフラインで受け取る",
    showRequest: "支払い依頼を表示", requestText: "依頼のテキスト",
    scanVoucher: "支払人の証票（読み取りか貼り付け）", accept: "受け取る", payOffline: "オフラインで支払う",
    scanRequest: "受取人の依頼（読み取りか貼り付け）", payOfflineButton: "財布から支払う",
    showVoucher: "受取人に見せてください：", voucherText: "証票のテキスト", history: "履歴",
    paid: (n) => `¥${n} を支払いました。`, received: (n) => `¥${n} を受け取りました。`, moved: (n) => `¥${n} をデジタル円に移しました。`,
    funded: (n) => `財布の残高は ¥${n} です。`, accepted: (n) => `¥${n} をオフラインで受け取りました。同期で決済されます。`,
    paidOffline: (n) => `財布から ¥${n} を支払いました。証票を見せてください。`, synced: (n) => `同期しました：${n} 件決済。`,
    purseReady: "財布の用意ができました。オンラインのうちに入金してください。", noPurse: "このウォレットには財布が組み込まれていません（make purse-wasm）。",
    refused: (code, msg) => `できませんでした（${code}）：${msg}`, notOnline: "銀行に接続していません。オンラインで再度お試しください。",
  },
};
let lang = localStorage.getItem("cbdc-lang") || (navigator.language.startsWith("ja") ? "ja" : "en");
const t = (key, ...args) => {
  const s = strings[lang][key];
  return typeof s === "function" ? s(...args) : s;
};
const $ = (id) => document.getElementById(id);

function applyLanguage() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  const other = lang === "en" ? "ja" : "en";
  $("lang").textContent = other === "ja" ? "日本語" : "English";
  $("lang").lang = other;
  $("lang").setAttribute("aria-label", other === "ja" ? "日本語で表示" : "Show in English");
  showNet();
}

// --- storage: the wallet's key and purse, on this device only ---

const store = {
  db: null,
  async open() {
    this.db = await new Promise((resolve, reject) => {
      const r = indexedDB.open("cbdc-wallet", 1);
      r.onupgradeneeded = () => r.result.createObjectStore("kv");
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
  },
  get(key) {
    return new Promise((resolve, reject) => {
      const r = this.db.transaction("kv").objectStore("kv").get(key);
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
  },
  put(key, value) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction("kv", "readwrite");
      tx.objectStore("kv").put(value, key);
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
  },
};

// --- the purse and the key, in WebAssembly ---

let purseReady = false;
async function loadPurse() {
  if (typeof Go === "undefined") return false;
  try {
    const go = new Go();
    const r = await WebAssembly.instantiateStreaming(fetch("purse.wasm"), go.importObject);
    go.run(r.instance);
    return typeof cbdcPurse === "function";
  } catch (e) {
    console.warn("purse:", e);
    return false;
  }
}

class Refused extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// goCall calls the Go code in WebAssembly.
function goCall(method, args) {
  if (!purseReady) throw new Refused("no_purse", t("noPurse"));
  const out = JSON.parse(cbdcPurse(method, JSON.stringify(args)));
  if (out.error) throw new Refused(out.error.code, out.error.message);
  return out;
}

// purse calls the Go purse: its saved state goes in and comes back.
async function purse(method, args = {}) {
  if (method !== "new") {
    const state = await store.get("purse");
    if (state) args = { state, ...args };
  }
  const out = goCall(method, args);
  if (out.state) await store.put("purse", out.state);
  return out;
}

// --- the bank, over its wallet websocket ---

const bank = {
  ws: null,
  pending: new Map(),
  next: 1,
  prefix: Math.random().toString(36).slice(2, 8),
  welcome: null,
  connected: false,

  connect(first) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/wallet");
      this.ws = ws;
      let opened = false;
      ws.onmessage = async (ev) => {
        const env = JSON.parse(ev.data);
        if (env.type === "challenge") {
          try {
            const wallet = await store.get("wallet");
            const s = goCall("sign_session", { seed: wallet.seed, bank: env.body.bank, challenge: env.body.challenge });
            const body = { public_key: s.public_key, challenge: env.body.challenge, signature: s.signature };
            if (first) Object.assign(body, first);
            ws.send(JSON.stringify({ v: 1, type: first ? "register" : "hello", id: "open", body }));
          } catch (e) {
            reject(e);
          }
          return;
        }
        if (env.id === "open") {
          if (env.type === "welcome") {
            opened = true;
            this.welcome = env.body;
            this.connected = true;
            showNet();
            resolve(env.body);
          } else {
            reject(new Refused(env.body.code, env.body.message));
          }
          return;
        }
        const wait = env.id && this.pending.get(env.id);
        if (wait) {
          this.pending.delete(env.id);
          if (env.type === "error") wait.reject(new Refused(env.body.code, env.body.message));
          else wait.resolve(env.body);
          return;
        }
        pushed(env);
      };
      ws.onclose = () => {
        this.connected = false;
        for (const w of this.pending.values()) w.reject(new Refused("unavailable", t("notOnline")));
        this.pending.clear();
        showNet();
        if (!opened) reject(new Refused("unavailable", t("notOnline")));
        else reconnectSoon();
      };
    });
  },

  call(type, body = {}, id) {
    if (!this.connected) return Promise.reject(new Refused("unavailable", t("notOnline")));
    id = id || `${this.prefix}-${this.next++}`;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ v: 1, type, id, body }));
    });
  },

  async signed(type, body) {
    const wallet = await store.get("wallet");
    const id = `${this.prefix}-${this.next++}`;
    const s = goCall("sign", { seed: wallet.seed, type, wallet: this.welcome.wallet, id, body });
    return this.call(type, s.body, id);
  },
};

let reconnectTimer = null;
function reconnectSoon() {
  if (reconnectTimer || !navigator.onLine) return;
  reconnectTimer = setTimeout(async () => {
    reconnectTimer = null;
    try {
      await bank.connect();
      await refresh();
    } catch {
      reconnectSoon();
    }
  }, 1000);
}

function showNet() {
  const net = $("net");
  const state = bank.connected ? "online" : navigator.onLine ? "connecting" : "offline";
  net.dataset.state = state;
  net.textContent = t(state);
}

// --- screens ---

const yen = (n) => "¥" + Number(n).toLocaleString(lang === "ja" ? "ja-JP" : "en-US");
function setAmount(id, n) {
  $(id).value = yen(n);
  $(id).textContent = yen(n);
  $(id).dataset.amount = String(n);
}
function say(text) {
  $("status").textContent = text;
}
function sayError(e) {
  say(e instanceof Refused ? t("refused", e.code, e.message) : String(e));
}

async function refresh() {
  if (!bank.connected) return;
  const b = await bank.call("balance");
  setAmount("balance", b.balance);
  setAmount("deposit", b.deposit);
  const h = await bank.call("history", {});
  const list = $("history");
  list.replaceChildren();
  for (const e of (h.entries || []).slice(0, 20)) {
    const li = document.createElement("li");
    li.textContent = `${yen(e.amount)} · ${e.reason}${e.counterparty ? " · " + e.counterparty : ""}`;
    list.append(li);
  }
}

async function showPurse() {
  if (!purseReady || !(await store.get("purse"))) return;
  const p = (await purse("show")).purse;
  if (!p.serial) return;
  $("purse").hidden = false;
  $("purse-setup").hidden = true;
  $("purse-none").hidden = true;
  setAmount("purse-balance", p.balance);
  setAmount("purse-pending", p.pending);
  $("purse-since").textContent = String(p.since_sync);
  $("purse-max").textContent = String(p.payments_before_sync);
  $("purse").dataset.serial = p.serial;
  $("purse").dataset.toUpload = String(p.to_upload);
}

function pushed(env) {
  if (env.type === "notify") {
    if (env.body.balance != null) setAmount("balance", env.body.balance);
    if (env.body.amount > 0) say(t("received", env.body.amount));
    refresh().catch(sayError);
  }
}

function qrInto(id, text, label) {
  const out = goCall("qr_svg", { text, label });
  $(id).innerHTML = out.svg;
}

async function showHome() {
  const wallet = await store.get("wallet");
  $("setup").hidden = true;
  $("home").hidden = false;
  $("address").textContent = wallet.address;
  if (purseReady) qrInto("address-qr", wallet.address, "your address as a QR code");
  await showPurse();
}

// act runs an action from a form or button, saying how it went.
function act(form, fn) {
  const el = $(form);
  const handler = async (ev) => {
    ev.preventDefault();
    try {
      await fn();
    } catch (e) {
      sayError(e);
    }
  };
  if (el.tagName === "FORM") el.addEventListener("submit", handler);
  else el.addEventListener("click", handler);
}

function wire() {
  $("lang").addEventListener("click", () => {
    lang = lang === "en" ? "ja" : "en";
    localStorage.setItem("cbdc-lang", lang);
    say("");
    applyLanguage();
  });
  act("register-form", async () => {
    const key = goCall("key_new", {});
    await store.put("wallet", { seed: key.seed });
    const w = await bank.connect({ name: $("name").value.trim(), person_id: $("person").value.trim() });
    await store.put("wallet", { seed: key.seed, address: w.wallet, bank: w.bank, name: $("name").value.trim() });
    await showHome();
    await refresh();
  });
  act("pay-form", async () => {
    const amount = Number($("pay-amount").value);
    await bank.signed("pay", { to: $("pay-to").value.trim(), amount });
    say(t("paid", amount));
    await refresh();
  });
  act("withdraw-form", async () => {
    const amount = Number($("withdraw-amount").value);
    await bank.signed("withdraw", { amount });
    say(t("moved", amount));
    await refresh();
  });
  act("purse-setup", async () => {
    if (!bank.connected) throw new Refused("unavailable", t("notOnline"));
    const p = await purse("new");
    const certs = await bank.signed("purse_provision", { public_key: p.purse.public_key });
    await purse("install_certificates", { answer: certs });
    say(t("purseReady"));
    await showPurse();
  });
  act("fund-form", async () => {
    const amount = Number($("fund-amount").value);
    const serial = $("purse").dataset.serial;
    const funded = await bank.signed("purse_fund", { serial, amount });
    const out = await purse("apply_funding", { answer: funded });
    say(t("funded", out.purse.balance));
    await showPurse();
    await refresh();
  });
  act("sync", async () => {
    if (!bank.connected) throw new Refused("unavailable", t("notOnline"));
    const { messages } = await purse("sync_messages");
    let settled = 0;
    for (const m of messages) {
      const answer = await bank.call("purse_sync", m);
      settled += answer.settled;
      const out = await purse("apply_synced", { answer });
      if (out.new_revocations) {
        const rl = await bank.call("revocations", {});
        await purse("apply_revocations", { list: rl.list });
      }
    }
    say(t("synced", settled));
    await showPurse();
    await refresh();
  });
  act("request-form", async () => {
    const out = await purse("request", { amount: Number($("request-amount").value) });
    $("request-text").value = out.text;
    qrInto("request-qr", out.text, "the payment request as a QR code");
    $("request-out").hidden = false;
  });
  act("payoff-form", async () => {
    const out = await purse("pay", { text: $("scan-request").value.trim() });
    $("voucher-text").value = out.text;
    qrInto("voucher-qr", out.text, "the voucher as a QR code");
    $("voucher-out").hidden = false;
    say(t("paidOffline", out.amount));
    await showPurse();
  });
  act("accept-form", async () => {
    const out = await purse("accept", { text: $("scan-voucher").value.trim() });
    $("scan-voucher").value = "";
    say(t("accepted", out.amount));
    await showPurse();
  });
  window.addEventListener("offline", () => {
    if (bank.ws) bank.ws.close();
    showNet();
  });
  window.addEventListener("online", () => {
    showNet();
    reconnectSoon();
  });
}

async function main() {
  applyLanguage();
  wire();
  await store.open();
  purseReady = await loadPurse();
  if (!purseReady) say(t("noPurse"));
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});
  const wallet = await store.get("wallet");
  if (!wallet || !wallet.address) {
    $("setup").hidden = false;
    showNet();
    return;
  }
  await showHome();
  try {
    await bank.connect();
    await refresh();
  } catch (e) {
    showNet();
    reconnectSoon();
  }
  document.body.dataset.ready = "true";
}

main().catch(sayError).finally(() => {
  document.body.dataset.ready = "true";
});
