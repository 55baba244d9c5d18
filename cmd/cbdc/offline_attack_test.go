package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// The offline settlement rules end to end: a ledger and two banks as
// processes, wallets and purses driven with the CLI's verbs, and what an
// attacker adds done with nothing but the purse file and the wallet
// protocol.

// offlineWorld is a ledger started with offline flags, two banks, and
// helpers to run the CLI as a named person.
type offlineWorld struct {
	t     *testing.T
	dir   string
	led   *proc
	banks []*proc
	urls  map[string]string
	env   []string
}

func startOfflineWorld(t *testing.T, ledgerFlags ...string) *offlineWorld {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"ledger", "-data", dir, "-listen", "127.0.0.1:0", "-banks", "2", "-float", "50000000"}, ledgerFlags...)
	led := startProc(t, "ledger", args...)
	ledgerURL := led.waitFor(t, ledgerServing)[1]
	w := &offlineWorld{t: t, dir: dir, led: led, urls: map[string]string{}, env: []string{walletPassphraseEnv + "=" + testPassphrase}}
	w.banks = []*proc{startProc(t, "bank-1", bankArgs(dir, ledgerURL, "bank-1", "bank-1")...),
		startProc(t, "bank-2", bankArgs(dir, ledgerURL, "bank-2", "bank-2")...)}
	for _, b := range w.banks {
		m := b.waitFor(t, bankServing)
		w.urls[m[1]] = m[2]
	}
	return w
}

// cliPerson is a wallet owner: a key file, a purse file and a bank.
type cliPerson struct{ key, purse, bank string }

// person makes a wallet with the CLI, registers it and gives it a purse.
func (w *offlineWorld) person(name, bank string) cliPerson {
	w.t.Helper()
	p := cliPerson{filepath.Join(w.dir, name+".key"), filepath.Join(w.dir, name+".purse"), w.urls[bank]}
	mustCLI(w.t, w.env, "wallet", "new", "-key", p.key, "-kdf-memory", "1024")
	w.cli(p, nil, "register", "-name", name, "-person", "P-"+name)
	w.cli(p, nil, "purse-provision")
	return p
}

// cli runs `cbdc wallet VERB` as p and decodes its JSON into out.
func (w *offlineWorld) cli(p cliPerson, out any, verb string, args ...string) {
	w.t.Helper()
	args = append([]string{"wallet", verb}, args...)
	args = append(args, "-key", p.key, "-json")
	if !strings.HasPrefix(verb, "purse") || verb == "purse-provision" || verb == "purse-fund" || verb == "purse-sync" ||
		verb == "purse-defund" || verb == "purse-retire" {
		args = append(args, "-bank", p.bank)
	}
	if strings.HasPrefix(verb, "purse") && verb != "purse-retire" {
		args = append(args, "-purse", p.purse, "-kdf-memory", "1024")
	}
	s := mustCLI(w.t, w.env, args...)
	if out != nil {
		if err := json.Unmarshal([]byte(s), out); err != nil {
			w.t.Fatalf("%v printed %q: %v", args, s, err)
		}
	}
}

// payOffline runs an offline payment with the CLI: the payee's request,
// the payer's voucher (from a purse file of the payer's), the payee's
// acceptance.
func (w *offlineWorld) payOffline(payer cliPerson, payerPurse string, payee cliPerson, amount int64) {
	w.t.Helper()
	var req struct{ Request string }
	w.cli(payee, &req, "purse-request", "-amount", fmt.Sprint(amount))
	var paid struct{ Voucher string }
	p := payer
	p.purse = payerPurse
	w.cli(p, &paid, "purse-pay", "-request", req.Request)
	w.cli(payee, nil, "purse-accept", "-voucher", paid.Voucher)
}

// syncs runs purse-sync as p and returns its answers.
func (w *offlineWorld) sync(p cliPerson) []protocol.PurseSynced {
	w.t.Helper()
	var out []protocol.PurseSynced
	w.cli(p, &out, "purse-sync")
	return out
}

// stop interrupts the processes and audits the ledger; the audit must
// pass, and its text is returned.
func (w *offlineWorld) stop() string {
	w.t.Helper()
	for _, b := range w.banks {
		b.interrupt(w.t)
	}
	w.led.interrupt(w.t)
	out, errOut, code := cli(w.t, nil, "audit", w.dir)
	if code != 0 || !strings.Contains(out, "verdict: OK") {
		w.t.Fatalf("cbdc audit: exit status %d\n%s%s", code, out, errOut)
	}
	return out
}

func (w *offlineWorld) session(p cliPerson) *wallet.Client {
	w.t.Helper()
	key, err := wallet.ReadKeyFile(p.key, []byte(testPassphrase))
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startWait)
	w.t.Cleanup(cancel)
	return dialWallet(w.t, ctx, p.bank, key, "", "")
}

// TestMultiProcess_CapBreakingVoucherDrawsOnNobody: an attacker reads its
// purse's key from the purse file, signs one voucher of 50,000,000 yen and
// has an accomplice hand it in. It draws on nobody: no bank pays, the
// accomplice bears it and is marked, and the purse is revoked.
func TestMultiProcess_CapBreakingVoucherDrawsOnNobody(t *testing.T) {
	w := startOfflineWorld(t)
	alice, mallory := w.person("alice", "bank-1"), w.person("mallory", "bank-2")
	w.cli(alice, nil, "withdraw", "-amount", "30000")
	w.cli(alice, nil, "purse-fund", "-amount", "1000")
	purse, err := wallet.ReadPurseFile(alice.purse, []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	mp, err := wallet.ReadPurseFile(mallory.purse, []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	saved := purse.Save()
	key := ed25519.NewKeyFromSeed(saved[2 : 2+ed25519.SeedSize])
	v := offline.Voucher{Chain: *purse.Chain(), Payer: purse.Serial(), Counter: 1, Payee: mp.Serial(), Amount: 50_000_000,
		Time: time.Now().Truncate(time.Millisecond)}
	rand.Read(v.Nonce[:])
	copy(v.Signature[:], ed25519.Sign(key, v.SignedBytes()))

	m := w.session(mallory)
	total := uint64(1)
	var r protocol.PurseSynced
	err = m.Call(context.Background(), protocol.TypePurseSync, m.NewRequestID(),
		&protocol.PurseSync{Serial: mp.Serial().String(), Received: [][]byte{v.Marshal()}, ReceivedTotal: &total},
		protocol.TypePurseSynced, &r)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Vouchers) != 1 || r.Vouchers[0].Reason != offline.ReasonPayeeFault || r.Vouchers[0].Fault != "payment_cap" ||
		r.Vouchers[0].PayeeLoss != 50_000_000 || r.Vouchers[0].FromBearer != 0 {
		t.Fatalf("the cap-breaking voucher: %+v", r.Vouchers)
	}
	kinds := map[string]bool{}
	for _, c := range r.Conflicts {
		kinds[c.Kind] = c.Revokes
	}
	if revokes, ok := kinds["rule_breach"]; !ok || !revokes {
		t.Errorf("conflicts %+v", r.Conflicts)
	}
	if revokes, ok := kinds["accepted_invalid"]; !ok || revokes {
		t.Errorf("conflicts %+v", r.Conflicts)
	}
	m.Close()
	out := w.stop()
	if !regexp.MustCompile(`refused\s+50000000 yen of vouchers an honest payee refuses`).MatchString(out) || strings.Contains(out, "borne by") {
		t.Errorf("the audit does not show the voucher refused and no loss borne:\n%s", out)
	}
	if !regexp.MustCompile(`intermediaries\s+99970000 yen`).MatchString(out) {
		t.Errorf("the banks' floats changed:\n%s", out)
	}
}

// TestMultiProcess_HonestIntermittentCycle: Y pays X, X pays Y back, Y pays
// W, all offline with the CLI, and they sync in the order that once had an
// honest purse revoked, with the settlement window closing in between.
// Everything settles; nobody is revoked or bears a loss.
func TestMultiProcess_HonestIntermittentCycle(t *testing.T) {
	w := startOfflineWorld(t, "-offline-mode", "intermittent", "-offline-window", "1s")
	y, x, wp := w.person("yuki", "bank-1"), w.person("xin", "bank-2"), w.person("wen", "bank-1")
	w.cli(y, nil, "withdraw", "-amount", "20000")
	w.cli(y, nil, "purse-fund", "-amount", "10000")
	w.payOffline(y, y.purse, x, 10_000)
	w.payOffline(x, x.purse, y, 10_000)
	w.payOffline(y, y.purse, wp, 10_000)
	for _, p := range []cliPerson{wp, x, y} {
		w.sync(p)
		time.Sleep(1500 * time.Millisecond) // a window closes
	}
	for _, p := range []cliPerson{y, x, wp} {
		for _, a := range w.sync(p) {
			if len(a.Conflicts) != 0 {
				t.Errorf("conflicts: %+v", a.Conflicts)
			}
		}
	}
	out := w.stop()
	for _, want := range []*regexp.Regexp{regexp.MustCompile(`0 revoked`), regexp.MustCompile(`vouchers\s+3: 3 settled \(30000 yen\), 0 pending`)} {
		if !want.MatchString(out) {
			t.Errorf("audit lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "borne by") || strings.Contains(out, "conflicts") {
		t.Errorf("losses or conflicts in the audit:\n%s", out)
	}
}

// TestMultiProcess_RetiredPurseCopyKeepsPaying: the owner retires a purse
// whose copy a thief holds. The copy keeps paying payees whose revocation
// lists are old; the escrow pays them (the owner's loss, as with cash),
// stays reserved until none of the purse's vouchers can be honoured, then
// goes back to the owner, and what the copy pays after that is its payee's
// loss, not the bank's.
func TestMultiProcess_RetiredPurseCopyKeepsPaying(t *testing.T) {
	w := startOfflineWorld(t, "-offline-cert-days", "0.0004", "-offline-upload-grace", "2s", "-offline-window", "1s")
	alice, bob, carol := w.person("alice", "bank-1"), w.person("bob", "bank-2"), w.person("carol", "bank-2")
	w.cli(alice, nil, "withdraw", "-amount", "30000")
	w.cli(alice, nil, "purse-fund", "-amount", "10000")
	var info struct {
		Serial  string
		Expires time.Time
	}
	w.cli(alice, &info, "purse")
	if info.Expires.IsZero() {
		t.Fatal("the purse shows no certificate expiry")
	}
	thief := filepath.Join(w.dir, "thief.purse")
	raw, err := os.ReadFile(alice.purse)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(thief, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	w.cli(alice, nil, "purse-retire", "-serial", info.Serial)
	w.payOffline(alice, thief, bob, 3_000)
	w.payOffline(alice, thief, carol, 2_000)
	if a := w.sync(bob); a[0].Settled != 1 || a[0].Vouchers[0].FromEscrow != 3_000 || len(a[0].Conflicts) != 0 {
		t.Fatalf("bob's sync: %+v", a)
	}
	balance := func() int64 {
		var b protocol.BalanceResult
		w.cli(alice, &b, "balance")
		return b.Balance
	}
	if got := balance(); got != 20_000 {
		t.Fatalf("alice holds %d before the deadline; her escrow went back early", got)
	}
	// The certificate lasts 0.0004 days (34.56 s); the escrow returns once
	// the upload grace after its expiry has passed too.
	deadline := info.Expires.Add(2 * time.Second)
	for time.Now().Before(deadline.Add(30 * time.Second)) {
		if balance() == 27_000 {
			break
		}
		time.Sleep(time.Second)
	}
	if got := balance(); got != 27_000 || time.Now().Before(deadline) {
		t.Fatalf("alice holds %d %s after the deadline; want her 7000 back after it, not before", got, time.Since(deadline).Round(100*time.Millisecond))
	}
	a := w.sync(carol)
	if a[0].Vouchers[0].Reason != offline.ReasonLate || a[0].Vouchers[0].PayeeLoss != 2_000 {
		t.Errorf("the copy's voucher handed in after the deadline: %+v", a[0].Vouchers)
	}
	out := w.stop()
	if strings.Contains(out, "borne by") {
		t.Errorf("a bank bore a loss for the retired purse's copy:\n%s", out)
	}
}
