package intermediary_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/intermediary/gateway"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// testNet is a central ledger with banks serving wallets over real
// websockets on loopback. At cleanup it checks that no bank's books moved
// (reserves + float − deposits), that money is conserved at the ledger and
// that the ledger's audit passes.
type testNet struct {
	t      testing.TB
	ctx    context.Context
	dir    string
	ledger *ledger.Ledger
	banks  map[string]*testBank

	settler *settlement.Settler // offline settlement, when the net offers purses
}

type testBank struct {
	*intermediary.Bank
	gw    *gateway.Server
	url   string // the wallet websocket
	http  string // the admin API
	books int64
	srv   *httptest.Server
}

const testAdminToken = "test-admin-token-0123456789"

var testHolderKey = []byte("holder-key-shared-by-the-banks!!")

func newTestNet(t testing.TB, banks int, tweak func(*intermediary.Config)) *testNet {
	t.Helper()
	return newNet(t, banks, nil, tweak)
}

// newOfflineNet is a test net whose banks offer offline purses under policy.
func newOfflineNet(t *testing.T, banks int, policy offline.Policy) *testNet {
	t.Helper()
	return newNet(t, banks, &policy, nil)
}

func newNet(t testing.TB, banks int, policy *offline.Policy, tweak func(*intermediary.Config)) *testNet {
	t.Helper()
	return newNetWith(t, banks, policy, tweak, nil)
}

// newNetWithClock is a test net whose ledger settlement and banks read the
// time from now.
func newNetWithClock(t testing.TB, banks int, policy *offline.Policy, now func() time.Time) *testNet {
	t.Helper()
	return newNetWith(t, banks, policy, func(c *intermediary.Config) { c.Now = now }, now)
}

func newNetWith(t testing.TB, banks int, policy *offline.Policy, tweak func(*intermediary.Config), now func() time.Time) *testNet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	n := &testNet{t: t, ctx: ctx, dir: t.TempDir(), banks: map[string]*testBank{}}
	l, err := ledger.Open(filepath.Join(n.dir, "ledger"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n.ledger = l
	t.Cleanup(n.check)
	if policy != nil {
		if n.settler, err = settlement.Open(ctx, l, settlement.Config{Policy: *policy, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= banks; i++ {
		n.addBank(fmt.Sprintf("bank-%d", i), tweak)
	}
	return n
}

func (n *testNet) addBank(id string, tweak func(*intermediary.Config)) *testBank {
	t := n.t
	aid := ledger.AccountID(id)
	if _, err := n.ledger.OpenAccount(n.ctx, "open-"+id, ledger.AccountSpec{ID: aid, Kind: ledger.KindIntermediary}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.ledger.Issue(n.ctx, "float-"+id, aid, 50_000_000); err != nil {
		t.Fatal(err)
	}
	cfg := intermediary.Config{ID: aid, Ledger: n.ledger.Intermediary(aid), Path: filepath.Join(n.dir, id+".db"),
		HolderKey: testHolderKey, AdminToken: testAdminToken, RatePerSecond: 1000, RateBurst: 1000}
	if n.settler != nil {
		cfg.Offline, cfg.OfflineKey = n.settler.ForBank(aid), newKey(t)
	}
	if tweak != nil {
		tweak(&cfg)
	}
	b, err := intermediary.Open(n.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	gw := gateway.New(b)
	srv := httptest.NewServer(gw.Handler())
	tb := &testBank{Bank: b, gw: gw, srv: srv, http: srv.URL, url: "ws" + strings.TrimPrefix(srv.URL, "http") + protocol.Path}
	st, err := b.Status(n.ctx)
	if err != nil {
		t.Fatal(err)
	}
	tb.books = st.Books
	n.banks[id] = tb
	return tb
}

// check runs at cleanup: close the banks, then check books, conservation
// and the audit.
func (n *testNet) check() {
	t := n.t
	for id, b := range n.banks {
		st, err := b.Status(context.Background())
		for deadline := time.Now().Add(10 * time.Second); err == nil && st.PendingIntents > 0 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond) // intents the bank is still resolving
			st, err = b.Status(context.Background())
		}
		if err != nil {
			t.Errorf("%s status: %v", id, err)
		} else if st.PendingIntents > 0 || st.Books != b.books {
			t.Errorf("%s books moved from %d to %d: money created or lost at the bank (%+v)", id, b.books, st.Books, st)
		}
		b.srv.CloseClientConnections()
		if err := b.Close(); err != nil {
			t.Errorf("%s close: %v", id, err)
		}
		b.srv.Close()
	}
	if n.settler != nil {
		if err := n.settler.Close(); err != nil {
			t.Errorf("settlement close: %v", err)
		}
	}
	if tot := n.ledger.Totals(); !tot.Conserved() {
		t.Errorf("ledger totals not conserved: %+v", tot)
	}
	if err := n.ledger.Close(); err != nil {
		t.Errorf("ledger close: %v", err)
	}
	rep, err := ledger.Audit(filepath.Join(n.dir, "ledger"))
	if err != nil || !rep.OK() {
		var sb strings.Builder
		if rep != nil {
			rep.WriteText(&sb)
		}
		t.Errorf("audit: %v\n%s", err, sb.String())
	}
}

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// register onboards a new customer at bank through its wallet.
func (n *testNet) register(bank, name, personID string) *wallet.Client {
	n.t.Helper()
	return n.registerKey(bank, name, personID, newKey(n.t))
}

// onboard opens a customer through the bank, as after KYC at a branch, and
// connects its wallet.
func (n *testNet) onboard(bank, name, personID string) *wallet.Client {
	n.t.Helper()
	key := newKey(n.t)
	_, err := n.banks[bank].Onboard(n.ctx, bankadmin.CustomerSpec{Name: name, PersonID: personID,
		Deposit: intermediaryOpening, PublicKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}})
	if err != nil {
		n.t.Fatalf("onboard %s at %s: %v", name, bank, err)
	}
	c, err := wallet.Dial(n.ctx, n.banks[bank].url, key, wallet.DialOptions{})
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { c.Close() })
	return c
}

func (n *testNet) registerKey(bank, name, personID string, key ed25519.PrivateKey) *wallet.Client {
	n.t.Helper()
	c, err := wallet.Register(n.ctx, n.banks[bank].url, key, name, personID, wallet.DialOptions{})
	if err != nil {
		n.t.Fatalf("register %s at %s: %v", name, bank, err)
	}
	n.t.Cleanup(func() { c.Close() })
	return c
}

// balance returns a wallet's CBDC balance as the bank reports it.
func balance(t *testing.T, ctx context.Context, c *wallet.Client) int64 {
	t.Helper()
	b, err := c.Balance(ctx)
	if err != nil {
		t.Fatalf("balance of %s: %v", c.Address(), err)
	}
	return b.Balance
}

func mustCode(t *testing.T, err error, code string) {
	t.Helper()
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("err = %v, want code %s", err, code)
	}
}

// nextEvent waits for the next pushed message of type typ, skipping others.
func nextEvent(t *testing.T, c *wallet.Client, typ string, out any) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case env := <-c.Events():
			if env.Type != typ {
				continue
			}
			if err := json.Unmarshal(env.Body, out); err != nil {
				t.Fatalf("bad %s event: %v", typ, err)
			}
			return
		case <-timeout:
			t.Fatalf("%s: no %s event within 10s", c.Address(), typ)
		}
	}
}

// nextNotify waits for the next notification with the given reason and amount.
func nextNotify(t *testing.T, c *wallet.Client, reason string, amount int64) protocol.Notify {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var n protocol.Notify
		nextEvent(t, c, protocol.TypeNotify, &n)
		if n.Reason == reason && n.Amount == amount {
			return n
		}
	}
	t.Fatalf("%s: no %s notification of %d", c.Address(), reason, amount)
	return protocol.Notify{}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// adminCall calls the admin API with the test token and decodes the answer.
func adminCall(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("%s %s: undecodable answer: %v", method, url, err)
	}
	return resp.StatusCode
}

// reopenBank opens a bank again over the file an earlier one used.
func (n *testNet) reopenBank(id string, old *testBank) *testBank {
	n.t.Helper()
	return n.reopenBankWith(id, old, nil)
}

// reopenBankWith opens a closed bank again on its file, its configuration
// changed by tweak when not nil.
func (n *testNet) reopenBankWith(id string, old *testBank, tweak func(*intermediary.Config)) *testBank {
	n.t.Helper()
	aid := ledger.AccountID(id)
	cfg := intermediary.Config{ID: aid, Ledger: n.ledger.Intermediary(aid),
		Path: filepath.Join(n.dir, id+".db"), HolderKey: testHolderKey, AdminToken: testAdminToken, RatePerSecond: 1000, RateBurst: 1000}
	if tweak != nil {
		tweak(&cfg)
	}
	b, err := intermediary.Open(n.ctx, cfg)
	if err != nil {
		n.t.Fatal(err)
	}
	gw := gateway.New(b)
	srv := httptest.NewServer(gw.Handler())
	tb := &testBank{Bank: b, gw: gw, srv: srv, http: srv.URL, url: "ws" + strings.TrimPrefix(srv.URL, "http") + protocol.Path, books: old.books}
	n.banks[id] = tb
	return tb
}
