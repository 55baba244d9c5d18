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
    scanRequest: "The payee's request (scan or paste)", payOfflineButton: "Review the payment",
    showVoucher: "Show this to the payee:", voucherText: "The voucher as text", history: "History",
    addressQR: "your address as a QR code", requestQR: "the payment request as a QR code", voucherQR: "the voucher as a QR code",
    reasons: { payment: "payment", withdrawal: "from deposit", deposit: "to deposit", sweep: "over the limit, to deposit",
      top_up: "topped up from deposit", purse_fund: "to the purse", offline: "offline, settled" },
    confirmPay: (n, payee) => `Pay ¥${n} to purse ${payee}`, reviewPay: (n, payee) => `The request asks ¥${n} for purse ${payee}. Press again to pay.`,
    paid: (n) => `Paid ¥${n}.`, received: (n) => `¥${n} came in.`, moved: (n) => `¥${n} moved to digital yen.`,
    funded: (n) => `The purse holds ¥${n}.`, accepted: (n) => `Took ¥${n} offline; it settles when you sync.`,
    paidOffline: (n) => `Paid ¥${n} from the purse: show the voucher.`, requestShown: (n) => `Showing a request for ¥${n}.`,
    synced: (n, amount) => `Synced: ${n} settled (¥${amount}).`, syncRejected: (n) => ` ${n} rejected.`,
    syncConflicts: (kinds) => ` Conflicts: ${kinds}.`, revoked: " This purse is revoked: the bank no longer honours it.",
    alreadyPaid: "You paid this request already: ask the payee for a new one.",
    wrongWallet: (got, want) => `The bank says this wallet is ${got}, not ${want}.`,
    purseReady: "The purse is ready: fill it while online.", noPurse: "This wallet was built without its purse (make purse-wasm): it cannot work.",
    refused: (code, msg) => `Refused (${code}): ${msg}`, notOnline: "Not connected to the bank: try again when online.",
    inDoubt: "No answer from the bank: the wallet sends it again under the same id when it reconnects, and it happens once.",
    contacts: "Paid before:", incomingTitle: "Asked to pay", askTitle: "Ask to be paid", askPayer: "Their address",
    askMemo: "What for (optional)", ask: "Send the request", approve: "Pay", decline: "Decline",
    asks: (who, n, memo) => `${who} asks ¥${n}${memo ? " for " + memo : ""}`, asked: (n) => `Asked for ¥${n}.`,
    askPaid: (n) => `Your request for ¥${n} was paid.`, askDeclined: (n) => `Your request for ¥${n} was declined.`,
    declined: "Declined.", newAsk: (who, n) => `${who} asks you to pay ¥${n}.`,
    scan: "Scan a QR code", scanHelp: "Hold the QR code in front of the camera.", scanStop: "Stop scanning",
    scanned: "Read the QR code.", noCamera: (msg) => `No camera: ${msg}. Paste the text instead.`,
    resent: (n) => `Sent again after reconnecting: ${n}.`, storage: "This browser may delete the wallet's data under storage pressure: keep the phone's storage free.",
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
    scanRequest: "受取人の依頼（読み取りか貼り付け）", payOfflineButton: "支払い内容を確認",
    showVoucher: "受取人に見せてください：", voucherText: "証票のテキスト", history: "履歴",
    addressQR: "あなたのアドレスのQRコード", requestQR: "支払い依頼のQRコード", voucherQR: "証票のQRコード",
    reasons: { payment: "支払い", withdrawal: "預金から", deposit: "預金へ", sweep: "上限超過分を預金へ",
      top_up: "預金から補充", purse_fund: "財布へ", offline: "オフライン決済" },
    confirmPay: (n, payee) => `財布 ${payee} に ¥${n} を支払う`, reviewPay: (n, payee) => `財布 ${payee} への ¥${n} の依頼です。もう一度押すと支払います。`,
    paid: (n) => `¥${n} を支払いました。`, received: (n) => `¥${n} が入金されました。`, moved: (n) => `¥${n} をデジタル円に移しました。`,
    funded: (n) => `財布の残高は ¥${n} です。`, accepted: (n) => `¥${n} をオフラインで受け取りました。同期で決済されます。`,
    paidOffline: (n) => `財布から ¥${n} を支払いました。証票を見せてください。`, requestShown: (n) => `¥${n} の支払い依頼を表示しています。`,
    synced: (n, amount) => `同期しました：${n} 件決済（¥${amount}）。`, syncRejected: (n) => ` ${n} 件は拒否されました。`,
    syncConflicts: (kinds) => ` 不整合：${kinds}。`, revoked: " この財布は失効しました。銀行はもう受け付けません。",
    alreadyPaid: "この依頼には支払い済みです。受取人に新しい依頼を出してもらってください。",
    wrongWallet: (got, want) => `銀行はこのウォレットを ${want} ではなく ${got} だと応答しました。`,
    purseReady: "財布の用意ができました。オンラインのうちに入金してください。", noPurse: "このウォレットには財布が組み込まれていません（make purse-wasm）。動作できません。",
    refused: (code, msg) => `できませんでした（${code}）：${msg}`, notOnline: "銀行に接続していません。オンラインで再度お試しください。",
    inDoubt: "銀行から応答がありません。再接続したときに同じ番号で送り直すので、二重にはなりません。",
    contacts: "支払ったことのある相手：", incomingTitle: "支払いの依頼", askTitle: "支払いを依頼する", askPayer: "相手のアドレス",
    askMemo: "用途（任意）", ask: "依頼を送る", approve: "支払う", decline: "断る",
    asks: (who, n, memo) => `${who} から ¥${n} の依頼${memo ? "（" + memo + "）" : ""}`, asked: (n) => `¥${n} を依頼しました。`,
    askPaid: (n) => `¥${n} の依頼が支払われました。`, askDeclined: (n) => `¥${n} の依頼は断られました。`,
    declined: "断りました。", newAsk: (who, n) => `${who} から ¥${n} の支払い依頼が届きました。`,
    scan: "QRコードを読み取る", scanHelp: "QRコードをカメラに向けてください。", scanStop: "読み取りをやめる",
    scanned: "QRコードを読み取りました。", noCamera: (msg) => `カメラが使えません：${msg}。テキストを貼り付けてください。`,
    resent: (n) => `再接続後に送り直しました：${n}。`, storage: "このブラウザは容量不足のときにウォレットのデータを消すことがあります。空き容量を確保してください。",
    // The bank's and the purse's refusals, by code (docs/protocol.md,
    // docs/offline.md); in English the bank's own sentence is shown.
    codes: {
      bad_message: "メッセージの形式が正しくありません。", unknown_type: "この種類の指示は受け付けていません。",
      unsupported_version: "このプロトコルの版には対応していません。", message_too_large: "メッセージが大きすぎます。",
      not_authenticated: "まだ銀行にサインインしていません。", already_authenticated: "この接続はすでにサインイン済みです。",
      wrong_challenge: "サインインの確認に失敗しました。もう一度お試しください。", bad_signature: "署名を確認できません。",
      bad_public_key: "鍵が正しくありません。", unknown_wallet: "この銀行にこのウォレットは登録されていません。",
      wallet_exists: "この鍵のウォレットはすでに登録されています。", bad_customer: "お名前か本人確認番号が正しくありません。",
      bad_request_id: "指示の番号が正しくありません。", request_id_reused: "この番号は別の指示にすでに使われています。",
      invalid_amount: "金額は1円以上の整数で入力してください。", amount_overflow: "金額が大きすぎます。",
      bad_memo: "用途が長すぎるか、使えない文字が含まれています。", invalid_payee: "支払先がウォレットのアドレスではありません。",
      unknown_payee: "そのアドレスのウォレットはありません。", same_wallet: "自分自身には支払えません。",
      payment_limit: "1回の支払いの上限を超えています。", holding_limit: "保有上限を超えてしまいます。",
      insufficient_funds: "残高が足りません。", insufficient_deposit: "預金の残高が足りません。",
      rate_limited: "指示が多すぎます。少し待ってから同じ操作をしてください。",
      unknown_request: "その支払い依頼は見つかりません（支払い済みか、存在しません）。",
      request_closed: "その依頼はすでに支払い済み、辞退済み、または期限切れです。", request_mismatch: "依頼の相手か金額が違います。",
      bad_schedule: "予約の日時・間隔・回数が範囲外です。", unknown_schedule: "その予約はありません。",
      unknown_purse: "この財布はこのウォレットのものではありません。", purse_exists: "このウォレットにはすでに別の財布があります。",
      purse_cap: "財布の上限を超えてしまいます。", purse_revoked: "この財布は失効しています。同期と払い戻しだけができます。",
      too_many_vouchers: "一度に同期する証票が多すぎます。", offline_disabled: "この銀行はオフライン財布を提供していません。",
      busy: "処理中の指示が多すぎます。応答を待ってください。", unavailable: "銀行が中央台帳かほかの銀行に接続できませんでした。完了していない可能性があるので、残高と履歴を確かめてください。",
      internal: "銀行で予期しないエラーが起きました。同じ操作をもう一度お試しください。",
      malformed: "証票か依頼のテキストが読み取れません。", unknown_bank: "中央銀行が認証していない銀行の財布です。",
      certificate_expired: "財布の証明書が有効期間外です。", revoked: "支払人の財布は失効しています。",
      wrong_payee: "この証票はこの財布への支払いではありません。", amount_mismatch: "証票の金額が依頼と違います。",
      payment_cap: "オフライン支払い1回の上限を超えています。", sync_required: "前回の同期から支払いが多すぎます。先に同期してください。",
      counter_order: "この支払人の証票の順番が合いません（前の証票の後に古い証票）。", not_provisioned: "財布にまだ証明書がありません。",
      wrong_device: "別の財布あての証明書・受領書・証票です。", stale_receipt: "この受領書はすでに反映済みです。",
      limits_mismatch: "支払人の財布は、この財布と違う上限で認証されています。", invalid_policy: "オフラインの規則の値が正しくありません。",
      bad_request: "財布への指示が読み取れません。",
    },
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
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  const other = lang === "en" ? "ja" : "en";
  $("lang").textContent = other === "ja" ? "日本語" : "English";
  $("lang").lang = other;
  $("lang").setAttribute("aria-label", other === "ja" ? "日本語で表示" : "Show in English");
  showNet();
}

// --- storage: the wallet's key, purse and unanswered instructions, on this device only ---

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
      if (value === undefined) tx.objectStore("kv").delete(key);
      else tx.objectStore("kv").put(value, key);
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
  // fromPeer is a refusal the bank or the purse made, with its own
  // (English) sentence; the app's own refusals are worded already.
  static fromPeer(code, message) {
    const e = new Refused(code, message);
    e.peer = true;
    return e;
  }
}

// goCall calls the Go code in WebAssembly.
function goCall(method, args) {
  if (!purseReady) throw new Refused("no_purse", t("noPurse"));
  const out = JSON.parse(cbdcPurse(method, JSON.stringify(args)));
  if (out.error) throw Refused.fromPeer(out.error.code, out.error.message);
  return out;
}

// purse calls the Go purse: its saved state goes in, and the new state
// is saved before the call returns. Every call that changes the purse
// runs under the wallet's one lock (serially), so two never start from
// the same state.
async function purse(method, args = {}) {
  if (method !== "new") {
    const state = await store.get("purse");
    if (state) args = { state, ...args };
  }
  const out = goCall(method, args);
  if (out.state && method !== "show") await store.put("purse", out.state);
  return out;
}

let lock = Promise.resolve();
// serially runs fn after every action before it has finished.
function serially(fn) {
  const run = lock.then(fn, fn);
  lock = run.catch(() => {});
  return run;
}

// --- the bank, over its wallet websocket ---

function randomHex(n) {
  return Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");
}

const callWait = 20000; // ms an answer may take before the call is in doubt

const bank = {
  ws: null,
  pending: new Map(),
  next: 1,
  prefix: randomHex(8),
  welcome: null,
  connected: false,

  // connect opens a session: hello for a registered wallet, register
  // (first: the name and ID number) for a new one, signed with seed.
  connect(seed, first) {
    if (this.ws) this.drop();
    return new Promise((resolve, reject) => {
      const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/wallet");
      this.ws = ws;
      let opened = false;
      const fail = (e) => {
        if (!opened) {
          opened = true; // settled: later events change nothing
          ws.close();
          reject(e);
        }
      };
      ws.onmessage = (ev) => {
        if (this.ws !== ws) return; // a session replaced by a newer one
        const env = JSON.parse(ev.data);
        if (env.type === "challenge") {
          try {
            const s = goCall("sign_session", { seed, bank: env.body.bank, challenge: env.body.challenge });
            const body = { public_key: s.public_key, challenge: env.body.challenge, signature: s.signature };
            if (first) Object.assign(body, first);
            ws.send(JSON.stringify({ v: 1, type: first ? "register" : "hello", id: "open", body }));
          } catch (e) {
            fail(e);
          }
          return;
        }
        if (env.id === "open") {
          if (env.type !== "welcome") fail(Refused.fromPeer(env.body.code, env.body.message));
          else if (!opened) {
            opened = true;
            this.welcome = env.body;
            this.connected = true;
            showNet();
            resolve(env.body);
          }
          return;
        }
        const wait = env.id && this.pending.get(env.id);
        if (wait) {
          this.pending.delete(env.id);
          clearTimeout(wait.timer);
          if (env.type === "error") wait.reject(Refused.fromPeer(env.body.code, env.body.message));
          else wait.resolve(env.body);
          return;
        }
        pushed(env);
      };
      ws.onclose = () => {
        if (this.ws !== ws) return;
        const was = this.drop();
        fail(new Refused("unavailable", t("notOnline")));
        if (was) reconnectSoon();
      };
    });
  },

  // drop ends the session at once, as when the phone loses its network:
  // calls waiting for answers are in doubt, and the socket's own close,
  // which a dead network can delay, changes nothing more. It says
  // whether a session was open.
  drop() {
    const ws = this.ws, was = this.connected;
    this.ws = null;
    this.connected = false;
    for (const w of this.pending.values()) {
      clearTimeout(w.timer);
      w.reject(new Refused("unavailable", t("inDoubt")));
    }
    this.pending.clear();
    if (ws) ws.close();
    showNet();
    return was;
  },

  call(type, body = {}, id) {
    if (!this.connected) return Promise.reject(new Refused("unavailable", t("notOnline")));
    id = id || `${this.prefix}-${this.next++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Refused("unavailable", t("inDoubt")));
      }, callWait);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ v: 1, type, id, body }));
    });
  },

  // signed signs an instruction and sends it. It is kept in the outbox
  // until answered, so one whose answer was lost is sent again under the
  // same id when the wallet reconnects, and the bank makes it once.
  async signed(type, body) {
    if (!this.connected) throw new Refused("unavailable", t("notOnline"));
    const wallet = await store.get("wallet");
    const id = `${this.prefix}-${this.next++}`;
    const s = goCall("sign", { seed: wallet.seed, type, wallet: this.welcome.wallet, id, body });
    await outbox.add({ id, type, body: s.body });
    const answer = await this.call(type, s.body, id);
    await outbox.done(id);
    return answer;
  },
};

const outbox = {
  async list() {
    return (await store.get("outbox")) || [];
  },
  async add(entry) {
    await store.put("outbox", [...(await this.list()), entry]);
  },
  async done(id) {
    await store.put("outbox", (await this.list()).filter((e) => e.id !== id));
  },
  // resend sends every unanswered instruction again under its own id and
  // applies what comes back, as the first answer would have been.
  async resend() {
    const done = [];
    for (const e of await this.list()) {
      try {
        const answer = await bank.call(e.type, e.body, e.id);
        if (e.type === "purse_fund") await purse("apply_funding", { answer });
        done.push(e.type);
      } catch (err) {
        if (err.code === "unavailable") return; // still in doubt: next time
        sayError(err);
      }
      await this.done(e.id);
    }
    if (done.length) say(t("resent", done.join(", ")));
  },
};

let reconnectTimer = null;
let reconnectWait = 1000;
async function reconnectSoon() {
  const wallet = await store.get("wallet");
  if (reconnectTimer || !navigator.onLine || !wallet || !wallet.address) return;
  reconnectTimer = setTimeout(() => {
    reconnectTimer = null;
    serially(async () => {
      try {
        await connectWallet(wallet);
        reconnectWait = 1000;
      } catch {
        reconnectWait = Math.min(reconnectWait * 2, 30000);
        reconnectSoon();
        return;
      }
      await outbox.resend();
      await refresh();
      await showPurse();
    }).catch(sayError);
  }, reconnectWait);
}

// connectWallet opens the registered wallet's session and checks the bank
// knows it by the address it was registered under.
async function connectWallet(wallet) {
  const w = await bank.connect(wallet.seed);
  if (w.wallet !== wallet.address) {
    bank.drop();
    throw new Refused("wrong_wallet", t("wrongWallet", w.wallet, wallet.address));
  }
  return w;
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
  $(id).textContent = yen(n);
  $(id).dataset.amount = String(n);
}
function say(text, error) {
  const s = $("status");
  s.classList.toggle("error", !!error);
  // Emptied first, so the same words said again are announced again.
  s.textContent = "";
  setTimeout(() => (s.textContent = text), 30);
}
function sayError(e) {
  if (!(e instanceof Refused)) return say(String(e), true);
  const words = (e.peer && (strings[lang].codes || {})[e.code]) || e.message;
  say(e.code === "unavailable" && !e.peer ? e.message : t("refused", e.code, words), true);
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
    li.textContent = `${yen(e.amount)} · ${t("reasons")[e.reason] || e.reason}${e.counterparty ? " · " + e.counterparty : ""}`;
    list.append(li);
  }
  showContacts(h.entries || []);
  showIncoming((await bank.call("requests", {})).incoming || []);
}

// showContacts offers the wallets this one paid or was paid by, newest
// first, to pay again with a tap.
// The buttons are made again only when the list changes, so a tap is
// never lost to a refresh.
function showContacts(entries) {
  const box = $("contacts");
  const seen = new Set();
  for (const e of entries) {
    if (e.reason === "payment" && e.counterparty && seen.size < 5) seen.add(e.counterparty);
  }
  const key = [...seen].join(" ");
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  for (const b of box.querySelectorAll("button")) b.remove();
  for (const address of seen) {
    const e = { counterparty: address };
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = e.counterparty.split("@")[0].slice(0, 10) + "…@" + e.counterparty.split("@")[1];
    b.setAttribute("aria-label", e.counterparty);
    b.dataset.address = e.counterparty;
    b.addEventListener("click", () => {
      $("pay-to").value = e.counterparty;
      $("pay-amount").focus();
    });
    box.append(b);
  }
  box.hidden = seen.size === 0;
}

// showIncoming lists the requests to pay this wallet has not answered.
function showIncoming(requests) {
  const list = $("incoming");
  const pending = requests.filter((r) => r.status === "pending");
  const key = pending.map((r) => r.ref).join(" ") + "|" + lang;
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren();
  for (const r of pending) {
    const li = document.createElement("li");
    li.dataset.ref = r.ref;
    const p = document.createElement("p");
    p.textContent = t("asks", r.merchant, r.amount, r.memo);
    const actions = document.createElement("div");
    actions.className = "actions";
    for (const [action, label] of [["approve", t("approve")], ["decline", t("decline")]]) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.dataset.action = action;
      b.setAttribute("aria-label", `${label}: ${p.textContent}`);
      actions.append(b);
    }
    li.append(p, actions);
    list.append(li);
  }
  $("incoming-card").hidden = pending.length === 0;
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
  if (env.type === "payment_request") {
    const r = env.body.request;
    say(t("newAsk", r.merchant, r.amount));
    refresh().catch(sayError);
    return;
  }
  if (env.type === "request_update") {
    const r = env.body.request;
    if (r.status === "paid") say(t("askPaid", r.amount));
    else if (r.status === "declined") say(t("askDeclined", r.amount), true);
    return;
  }
  if (env.type === "notify") {
    if (env.body.balance != null) setAmount("balance", env.body.balance);
    if (env.body.amount > 0 && env.body.reason === "payment") say(t("received", env.body.amount));
    refresh().catch(sayError);
  }
}

function qrInto(id, text, label) {
  $(id).innerHTML = goCall("qr_svg", { text, label: t(label) }).svg; // Go's SVG: the label is escaped, the text is not in it
}

async function showHome(focus) {
  const wallet = await store.get("wallet");
  $("setup").hidden = true;
  $("home").hidden = false;
  $("address").textContent = wallet.address;
  if (purseReady) qrInto("address-qr", wallet.address, "addressQR");
  await showPurse();
  if (focus) $("home-title").focus();
}

// act runs an action from a form or button under the wallet's lock, its
// controls disabled while it runs, saying how it went.
function act(id, fn) {
  const el = $(id);
  const handler = (ev) => {
    ev.preventDefault();
    busyWhile(fn);
  };
  if (el.tagName === "FORM") el.addEventListener("submit", handler);
  else el.addEventListener("click", handler);
}

// scanner reads QR codes from the camera, decoded by the Go code in
// WebAssembly (cbdcDecodeQR), into the field a Scan button names.
const scanner = {
  stream: null,
  timer: null,
  async start(fieldId, button) {
    this.stop();
    this.button = button;
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (e) {
      say(t("noCamera", e.message || e.name), true);
      return;
    }
    const video = $("camera");
    video.srcObject = this.stream;
    $("scanner").hidden = false;
    $("scan-stop").focus();
    await video.play().catch(() => {});
    const canvas = document.createElement("canvas");
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    const look = () => {
      if (!this.stream) return;
      if (video.videoWidth > 0) {
        const scale = Math.min(1, 800 / video.videoWidth);
        canvas.width = Math.round(video.videoWidth * scale);
        canvas.height = Math.round(video.videoHeight * scale);
        ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
        const frame = ctx.getImageData(0, 0, canvas.width, canvas.height);
        const text = cbdcDecodeQR(new Uint8Array(frame.data.buffer), canvas.width, canvas.height);
        if (text) {
          const field = $(fieldId);
          field.value = text;
          field.dispatchEvent(new Event("input"));
          this.stop();
          say(t("scanned"));
          field.focus();
          return;
        }
      }
      this.timer = setTimeout(look, 200);
    };
    look();
  },
  stop() {
    clearTimeout(this.timer);
    if (this.stream) this.stream.getTracks().forEach((tr) => tr.stop());
    this.stream = null;
    $("camera").srcObject = null;
    $("scanner").hidden = true;
  },
};

// busyWhile runs fn under the wallet's lock with every control disabled.
function busyWhile(fn) {
  const busy = document.querySelectorAll("main button");
  busy.forEach((b) => (b.disabled = true));
  $("main").setAttribute("aria-busy", "true");
  return serially(fn)
    .catch(sayError)
    .finally(() => {
      busy.forEach((b) => (b.disabled = false));
      $("main").removeAttribute("aria-busy");
    });
}

// review is the payment request the payer was shown, awaiting a second
// press to pay.
let review = null;

function wire() {
  $("lang").addEventListener("click", () => {
    lang = lang === "en" ? "ja" : "en";
    localStorage.setItem("cbdc-lang", lang);
    applyLanguage();
    for (const id of ["balance", "deposit", "purse-balance", "purse-pending"]) setAmount(id, $(id).dataset.amount || 0);
    if (bank.connected) refresh().catch(sayError);
  });
  act("register-form", async () => {
    // A key made before an attempt that got no answer is used again: the
    // bank registers a key once, so a retry finds the same wallet.
    let wallet = await store.get("wallet");
    if (!wallet || !wallet.seed) wallet = { seed: goCall("key_new", {}).seed };
    wallet.name = $("name").value.trim();
    wallet.person = $("person").value.trim();
    await store.put("wallet", wallet);
    const w = await bank.connect(wallet.seed, { name: wallet.name, person_id: wallet.person });
    wallet.address = w.wallet;
    wallet.bank = w.bank;
    await store.put("wallet", wallet);
    await showHome(true);
    await refresh();
  });
  act("pay-form", async () => {
    const amount = Number($("pay-amount").value);
    await bank.signed("pay", { to: $("pay-to").value.trim(), amount });
    $("pay-form").reset();
    say(t("paid", amount));
    await refresh();
  });
  act("ask-form", async () => {
    const amount = Number($("ask-amount").value);
    await bank.signed("request_payment", { payer: $("ask-payer").value.trim(), amount, memo: $("ask-memo").value.trim() });
    $("ask-form").reset();
    say(t("asked", amount));
  });
  $("incoming").addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-action]");
    if (!b) return;
    const ref = b.closest("li").dataset.ref;
    busyWhile(async () => {
      const { incoming } = await bank.call("requests", {});
      const r = (incoming || []).find((x) => x.ref === ref);
      if (!r) return;
      if (b.dataset.action === "approve") {
        await bank.signed("approve", { ref: r.ref, merchant: r.merchant, amount: r.amount });
        say(t("paid", r.amount));
      } else {
        await bank.signed("decline", { ref: r.ref });
        say(t("declined"));
      }
      await refresh();
      $("incoming-title").focus();
    });
  });
  act("withdraw-form", async () => {
    const amount = Number($("withdraw-amount").value);
    await bank.signed("withdraw", { amount });
    $("withdraw-form").reset();
    say(t("moved", amount));
    await refresh();
  });
  act("purse-setup", async () => {
    if (!bank.connected) throw new Refused("unavailable", t("notOnline"));
    // A purse made before a setup that got no answer is used again: the
    // bank certifies a key once.
    const stored = (await store.get("purse")) ? (await purse("show")).purse : null;
    const p = stored && !stored.serial ? stored : (await purse("new")).purse;
    const certs = await bank.signed("purse_provision", { public_key: p.public_key });
    await purse("install_certificates", { answer: certs });
    say(t("purseReady"));
    await showPurse();
    $("offline-title").focus();
  });
  act("fund-form", async () => {
    const amount = Number($("fund-amount").value);
    const serial = $("purse").dataset.serial;
    const funded = await bank.signed("purse_fund", { serial, amount });
    const out = await purse("apply_funding", { answer: funded });
    $("fund-form").reset();
    say(t("funded", out.purse.balance));
    await showPurse();
    await refresh();
  });
  act("sync", async () => {
    if (!bank.connected) throw new Refused("unavailable", t("notOnline"));
    const { messages } = await purse("sync_messages");
    let settled = 0, amount = 0, rejected = 0, revoked = false;
    const conflicts = [];
    for (const m of messages) {
      const answer = await bank.call("purse_sync", m);
      settled += answer.settled;
      amount += answer.settled_amount;
      rejected += answer.rejected;
      for (const c of answer.conflicts || []) {
        conflicts.push(c.kind);
        revoked = revoked || (c.revokes && c.device === $("purse").dataset.serial);
      }
      const out = await purse("apply_synced", { answer });
      if (out.new_revocations) {
        const rl = await bank.call("revocations", {});
        await purse("apply_revocations", { list: rl.list });
      }
    }
    let text = t("synced", settled, amount);
    if (rejected) text += t("syncRejected", rejected);
    if (conflicts.length) text += t("syncConflicts", conflicts.join(", "));
    if (revoked) text += t("revoked");
    say(text, rejected > 0 || revoked);
    await showPurse();
    await refresh();
  });
  act("request-form", async () => {
    const out = await purse("request", { amount: Number($("request-amount").value) });
    $("request-text").value = out.text;
    qrInto("request-qr", out.text, "requestQR");
    $("request-out").hidden = false;
    say(t("requestShown", out.amount));
  });
  for (const b of document.querySelectorAll("[data-scan]")) {
    b.addEventListener("click", () => {
      if (!purseReady) return sayError(new Refused("no_purse", t("noPurse")));
      scanner.start(b.dataset.scan, b);
    });
  }
  $("scan-stop").addEventListener("click", () => {
    const back = scanner.button;
    scanner.stop();
    if (back) back.focus();
  });
  $("scan-request").addEventListener("input", () => {
    review = null;
    $("pay-offline").textContent = t("payOfflineButton");
  });
  act("payoff-form", async () => {
    const text = $("scan-request").value.trim();
    const q = goCall("parse_request", { text });
    const paid = (await store.get("paid-requests")) || [];
    if (paid.includes(q.nonce)) throw new Refused("already_paid", t("alreadyPaid"));
    if (!review || review.text !== text) {
      // First press: show what the request asks, and whom it pays.
      review = { text };
      const payee = q.payee.slice(-8);
      $("pay-offline").textContent = t("confirmPay", q.amount, payee);
      say(t("reviewPay", q.amount, payee));
      return;
    }
    review = null;
    const out = await purse("pay", { text });
    await store.put("paid-requests", [...paid.slice(-199), q.nonce]);
    $("scan-request").value = "";
    $("pay-offline").textContent = t("payOfflineButton");
    $("voucher-text").value = out.text;
    qrInto("voucher-qr", out.text, "voucherQR");
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
  window.addEventListener("offline", () => bank.drop());
  window.addEventListener("online", () => {
    showNet();
    reconnectWait = 1000;
    reconnectSoon();
  });
}

async function main() {
  applyLanguage();
  wire();
  await store.open();
  purseReady = await loadPurse();
  if (!purseReady) say(t("noPurse"), true);
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});
  if (navigator.storage && navigator.storage.persist) {
    navigator.storage.persist().then((kept) => kept || console.info(t("storage")));
  }
  const wallet = await store.get("wallet");
  if (!wallet || !wallet.address) {
    $("setup").hidden = false;
    if (wallet) {
      $("name").value = wallet.name || "";
      $("person").value = wallet.person || "";
    }
    showNet();
    return;
  }
  await showHome(false);
  try {
    await serially(async () => {
      await connectWallet(wallet);
      await outbox.resend();
      await refresh();
    });
  } catch (e) {
    showNet();
    reconnectSoon();
  }
}

main().catch(sayError).finally(() => {
  document.body.dataset.ready = "true";
});
