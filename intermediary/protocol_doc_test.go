package intermediary_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// These tests hold a bank to docs/protocol.md, the page outside clients
// are written from: they send what the page shows and expect what the
// page says, so a bank and its documentation cannot drift apart unseen.

func readProtocolDoc(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// docBlock returns the fenced block after <!-- example:name -->.
func docBlock(t *testing.T, doc, name string) []string {
	t.Helper()
	_, after, ok := strings.Cut(doc, "<!-- example:"+name+" -->")
	if !ok {
		t.Fatalf("docs/protocol.md has no example %s", name)
	}
	lines := strings.Split(after, "\n")
	var out []string
	open := false
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "```") && !open:
			open = true
		case l == "```" && open:
			return out
		case open:
			out = append(out, l)
		}
	}
	t.Fatalf("example %s is not a closed block", name)
	return nil
}

func docKey(t *testing.T, doc, name string) ed25519.PrivateKey {
	t.Helper()
	seed, err := hex.DecodeString(strings.TrimSpace(docBlock(t, doc, name)[0]))
	if err != nil || len(seed) != ed25519.SeedSize {
		t.Fatalf("example %s is not a seed: %v", name, err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

// answer reads the next message that answers a request: one with an id,
// or an error (which may have none). Pushes are skipped.
func (r *rawConn) answer() protocol.Envelope {
	r.t.Helper()
	for {
		env := r.read()
		if env.ID != "" || env.Type == protocol.TypeError {
			return env
		}
	}
}

// goWords returns a word of Go's that a message meant for people shows.
func goWords(msg string) string {
	for _, w := range []string{"Go ", "struct field", "of type ", "int64", "uint64", "int32", "[]uint8", "[]byte", "unmarshal",
		"time.Time", "json:", "reflect", "encoding/", "2006-01-02", "edwards25519"} {
		if strings.Contains(msg, w) {
			return w
		}
	}
	return ""
}

// TestDoc_RefusalExamplesAtABank sends each of section 9's "Examples of
// refusals", exactly as printed, from wallet A in the state the page
// describes, and expects the answer the page gives. The examples cover
// the envelope's rules, reading a body (required, optional and null
// fields; base64; times; numbers), public keys, settings, and which
// error wins when several apply.
func TestDoc_RefusalExamplesAtABank(t *testing.T) {
	doc := readProtocolDoc(t)
	n := newOfflineNet(t, 2, offline.DefaultPolicy())
	keyA, keyB := docKey(t, doc, "seed-a"), docKey(t, doc, "seed-b")
	if b := n.registerKey("bank-2", "Wallet B", "P-B", keyB); b.Address() != "w-c945cbf2a5602002141e@bank-2" {
		t.Fatalf("key B registered as %s", b.Address())
	}
	r := dialRaw(t, n.banks["bank-1"].url, nil)
	pub := keyA.Public().(ed25519.PublicKey)
	r.sendMsg(protocol.TypeRegister, "open-1", protocol.Register{PublicKey: pub, Name: "Hanako Yamada", PersonID: "JP-1234-5678-9012",
		Challenge: r.ch.Challenge, Signature: ed25519.Sign(keyA, protocol.SessionBytes(r.ch.Bank, r.ch.Challenge, pub))})
	if env := r.answer(); env.Type != protocol.TypeWelcome || !strings.Contains(string(env.Body), "w-65b60673d6ed884bf01c@bank-1") {
		t.Fatalf("register = %s %s", env.Type, env.Body)
	}
	examples := docRefusals(t, doc)
	for _, ex := range examples {
		r.send(ex.msg)
		env := r.answer()
		var e protocol.Error
		json.Unmarshal(env.Body, &e)
		got := env.Type
		if got == protocol.TypeError {
			got = e.Code
		}
		var sentID struct{ ID any }
		json.Unmarshal([]byte(ex.msg), &sentID)
		wantID, _ := sentID.ID.(string)
		if ex.noID {
			wantID = ""
		}
		if got != ex.answer || env.ID != wantID {
			t.Errorf("line %d: %s\nanswered %s (id %q): %s\nthe document says %s (id %q)", ex.line, ex.msg, got, env.ID, env.Body, ex.answer, wantID)
		}
		if env.Type == protocol.TypeError && (e.Message == "" || goWords(e.Message) != "") {
			t.Errorf("line %d: the message %q is not plain words", ex.line, e.Message)
		}
	}
	r.stillUsable()
}

type docRefusal struct {
	line        int
	msg, answer string
	noID        bool
}

func docRefusals(t *testing.T, doc string) []docRefusal {
	t.Helper()
	lines := docBlock(t, doc, "refusals")
	var out []docRefusal
	for i := 0; i < len(lines); i++ {
		msg, ok := strings.CutPrefix(lines[i], "→ ")
		if !ok {
			continue
		}
		ans, ok := strings.CutPrefix(lines[i+1], "← ")
		if !ok {
			t.Fatalf("refusal example %d has no answer line", i+1)
		}
		ans, noID := strings.CutSuffix(ans, " without id")
		out = append(out, docRefusal{line: i + 1, msg: msg, answer: ans, noID: noID})
	}
	if len(out) < 40 {
		t.Fatalf("only %d refusal examples", len(out))
	}
	return out
}

// rejectedHash is how section 5 says a purse_sync outcome names bytes
// that are not a genuine voucher, handed in by the purse serial.
func rejectedHash(serial, raw []byte) string {
	h := sha256.New()
	h.Write([]byte("cbdc-sandbox/settlement/rejected"))
	h.Write([]byte{0})
	h.Write(serial)
	h.Write(raw)
	return hex.EncodeToString(h.Sum(nil))
}

// TestDoc_BytesThatAreNotVouchers: the hash a purse_sync reports for
// bytes that are not a voucher is the one the page's formula and worked
// example give; such bytes charge every purse that hands them in, and
// only the same purse handing them in again is a duplicate.
func TestDoc_BytesThatAreNotVouchers(t *testing.T) {
	doc := readProtocolDoc(t)
	ex := docBlock(t, doc, "rejected-hash")
	serial, _ := hex.DecodeString(ex[0])
	var text string
	json.Unmarshal([]byte(ex[1]), &text)
	if got := rejectedHash(serial, []byte(text)); got != ex[2] {
		t.Fatalf("the page's formula gives %s for its own example, which says %s", got, ex[2])
	}

	n := newOfflineNet(t, 2, offline.DefaultPolicy())
	alice, bob := n.register("bank-1", "Alice", "P-ALICE"), n.register("bank-2", "Bob", "P-BOB")
	pa, pb := n.provision(alice), n.provision(bob)
	junk := []byte("not a voucher")
	sync := func(c *wallet.Client, p *offline.Purse) protocol.PurseSynced {
		t.Helper()
		var r protocol.PurseSynced
		m := protocol.PurseSync{Serial: p.Serial().String(), Received: [][]byte{junk}}
		if err := c.Call(n.ctx, protocol.TypePurseSync, c.NewRequestID(), &m, protocol.TypePurseSynced, &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Vouchers) != 1 {
			t.Fatalf("purse_synced has %d outcomes for one upload: %+v", len(r.Vouchers), r)
		}
		return r
	}
	charged := func(r protocol.PurseSynced, p *offline.Purse) bool {
		return slices.ContainsFunc(r.Conflicts, func(c protocol.OfflineConflict) bool {
			return c.Kind == string(offline.Forgery) && c.Device == p.Serial().String() && c.Revokes
		})
	}
	snA, snB := pa.Serial(), pb.Serial()
	want := protocol.VoucherOutcome{Hash: rejectedHash(snA[:], junk), Payer: strings.Repeat("0", 32), Outcome: "rejected", Reason: "malformed"}
	first := sync(alice, pa)
	if first.Vouchers[0] != want || first.Rejected != 1 || !charged(first, pa) {
		t.Errorf("junk from A's purse: %+v, conflicts %+v\nwant %+v and a forgery that revokes it", first.Vouchers[0], first.Conflicts, want)
	}
	second := sync(bob, pb)
	want.Hash = rejectedHash(snB[:], junk)
	if second.Vouchers[0] != want || second.Duplicate != 0 || !charged(second, pb) {
		t.Errorf("the same junk from B's purse: %+v, conflicts %+v\nwant %+v and a forgery that revokes it", second.Vouchers[0], second.Conflicts, want)
	}
	again := sync(alice, pa)
	want = protocol.VoucherOutcome{Hash: rejectedHash(snA[:], junk), Payer: strings.Repeat("0", 32), Outcome: "duplicate", Reason: "first outcome: rejected"}
	if again.Vouchers[0] != want || len(again.Conflicts) != 0 {
		t.Errorf("A's purse again: %+v, conflicts %+v\nwant %+v and no new conflict", again.Vouchers[0], again.Conflicts, want)
	}
}

// notAPoint is 32 bytes that decode to no point of the curve.
var notAPoint = append([]byte{2}, make([]byte, 31)...)

// smallOrder is the identity point, which every signature "verifies"
// under in the cofactored equation.
var smallOrder = append([]byte{1}, make([]byte, 31)...)

// TestDoc_PublicKeysThatAreNotPoints: hello and register with a key that
// is 32 bytes but not a usable point are refused with bad_public_key, as
// the page says, before the challenge and the signature are looked at;
// the connection stays open for a proper hello.
func TestDoc_PublicKeysThatAreNotPoints(t *testing.T) {
	n := newTestNet(t, 1, nil)
	key := newKey(t)
	n.registerKey("bank-1", "Alice", "P-ALICE", key)
	r := dialRaw(t, n.banks["bank-1"].url, nil)
	for i, pub := range [][]byte{notAPoint, smallOrder} {
		sig := make([]byte, 64) // neither the challenge nor the signature is what is refused
		r.sendMsg(protocol.TypeHello, fmt.Sprintf("h%d", i), protocol.Hello{PublicKey: pub, Challenge: []byte("another"), Signature: sig})
		r.expectError(fmt.Sprintf("h%d", i), protocol.CodeBadPublicKey)
		r.sendMsg(protocol.TypeRegister, fmt.Sprintf("g%d", i), protocol.Register{PublicKey: pub, Name: "M", PersonID: "P-M",
			Challenge: r.ch.Challenge, Signature: sig})
		r.expectError(fmt.Sprintf("g%d", i), protocol.CodeBadPublicKey)
	}
	if env := r.hello(key); env.Type != protocol.TypeWelcome {
		t.Fatalf("a proper hello after the refusals = %s %s", env.Type, env.Body)
	}
}

// TestDoc_SchedulesListsAtMost40: the page says schedules lists at most
// 40, the first 40 by ref as text, and says it once.
func TestDoc_SchedulesListsAtMost40(t *testing.T) {
	m := regexp.MustCompile(`at most (\d+): a wallet with more sees the first\s+(\d+) in that order`).FindStringSubmatch(readProtocolDoc(t))
	if m == nil || m[1] != "40" || m[2] != "40" {
		t.Fatalf("the schedules section says %q; want at most 40, and the first 40", m)
	}
	n := newTestNet(t, 1, nil)
	alice, bob := n.register("bank-1", "Alice", "P-ALICE"), n.register("bank-1", "Bob", "P-BOB")
	var refs []string
	at := time.Now().Add(time.Hour)
	for range 45 {
		s, err := alice.Schedule(n.ctx, "", bob.Address(), 10, at, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, s.Ref)
	}
	list, err := alice.Schedules(n.ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(refs)
	var got []string
	for _, s := range list {
		got = append(got, s.Ref)
	}
	if !slices.Equal(got, refs[:40]) {
		t.Errorf("schedules lists %v\nwant the first 40 by ref as text: %v", got, refs[:40])
	}
}

// TestDoc_SettingsNeedsBothFields: a settings without auto_charge (or
// with it null) is refused and changes nothing; it never turns
// auto-charge off by default.
func TestDoc_SettingsNeedsBothFields(t *testing.T) {
	n := newTestNet(t, 1, nil)
	key := newKey(t)
	alice := n.registerKey("bank-1", "Alice", "P-ALICE", key)
	if _, err := alice.SetSettings(n.ctx, "", true, true); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, n.banks["bank-1"].url, nil)
	r.hello(key)
	for i, body := range []string{`{"waterfall":true,"signature":%q}`, `{"waterfall":true,"auto_charge":null,"signature":%q}`} {
		id := fmt.Sprintf("s%d", i)
		m := &protocol.Settings{Waterfall: true} // what a server reading a missing field as false would verify
		protocol.Sign(key, protocol.TypeSettings, r.addr, id, m)
		r.send(fmt.Sprintf(`{"v":1,"type":"settings","id":%q,"body":`+body+`}`, id, b64(m.Signature)))
		r.expectError(id, protocol.CodeBadMessage)
	}
	again := dialRaw(t, n.banks["bank-1"].url, nil)
	env := again.hello(key)
	var w protocol.Welcome
	json.Unmarshal(env.Body, &w)
	if !w.Settings.Waterfall || !w.Settings.AutoCharge {
		t.Errorf("after refused settings the wallet's settings are %+v, want both still on", w.Settings)
	}
}

// TestDoc_ErrorsNameTheFieldInPlainWords sends bodies of the wrong shape
// to every kind of field and expects messages that name the field and
// what it should be, in words rather than Go's types.
func TestDoc_ErrorsNameTheFieldInPlainWords(t *testing.T) {
	n := newOfflineNet(t, 1, offline.DefaultPolicy())
	key := newKey(t)
	n.registerKey("bank-1", "Alice", "P-ALICE", key)
	r := dialRaw(t, n.banks["bank-1"].url, nil)
	r.hello(key)
	for i, c := range []struct{ typ, body, field string }{
		{"pay", `{"to":5,"amount":1,"signature":"AA=="}`, "to"},
		{"pay", `{"to":"x","amount":"1","signature":"AA=="}`, "amount"},
		{"pay", `{"to":"x","amount":1,"signature":7}`, "signature"},
		{"pay", `{"to":"x","amount":1,"signature":"AA"}`, "signature"},
		{"settings", `{"waterfall":1,"auto_charge":true,"signature":"AA=="}`, "waterfall"},
		{"schedule", `{"to":"x","amount":1,"at":"tomorrow","signature":"AA=="}`, "at"},
		{"schedule", `{"to":"x","amount":1,"at":"2025-04-25T00:00:00Z","times":1.5,"signature":"AA=="}`, "times"},
		{"schedule", `{"to":"x","amount":1,"at":"2025-04-25T00:00:00Z","times":99999999999999999999,"signature":"AA=="}`, "times"},
		{"history", `{"cursor":"1"}`, "cursor"},
		{"history", `{"limit":[]}`, "limit"},
		{"purse_sync", `{"serial":"x","counter":-1,"received_before":0}`, "counter"},
		{"purse_sync", `{"serial":"x","counter":0,"received_before":0,"received_total":1e3}`, "received_total"},
		{"purse_sync", `{"serial":"x","counter":0,"received_before":0,"sent":"AA=="}`, "sent"},
		{"purse_sync", `{"serial":"x","counter":0,"received_before":0,"received":["AA==",{}]}`, "received[1]"},
		{"purse_provision", `{"public_key":{},"signature":"AA=="}`, "public_key"},
	} {
		id := fmt.Sprintf("m%d", i)
		r.send(fmt.Sprintf(`{"v":1,"type":%q,"id":%q,"body":%s}`, c.typ, id, c.body))
		env := r.answer()
		var e protocol.Error
		json.Unmarshal(env.Body, &e)
		if env.Type != protocol.TypeError || env.ID != id || e.Code != protocol.CodeBadMessage ||
			!strings.HasPrefix(e.Message, c.field+" ") || goWords(e.Message) != "" {
			t.Errorf("%s %s: answered %s %s\nwant bad_message naming %s in plain words", c.typ, c.body, env.Type, env.Body, c.field)
		}
	}
}
