package openapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/intermediary/gateway"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// The servers the document describes, as `cbdc ledger` and `cbdc bank`
// run them: a central ledger with offline settlement behind its HTTP API,
// and bank-1 reaching it over that API and serving its admin API, both on
// loopback. The ledger's examples sign in as bank-2, which no bank
// process serves, so they leave bank-1's books alone.
type servers struct {
	ledger    *ledger.Ledger
	ledgerURL string
	bank      *gateway.Server
	bankURL   string
	ledgerSrv *ledgerhttp.Server
	keys      map[ledger.AccountID]ed25519.PrivateKey
}

const (
	adminToken = "0f3c9a1d5e7b2468ace13579bdf02468" // as cbdc bank writes admin.token: 16 random bytes in hex
	bank1Float = 50_000_000
)

// exampleKey is a key derived from a name, the same in every run, so that
// the addresses and holder tokens the examples show are the ones the test
// computes.
func exampleKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("cbdc-sandbox openapi example: " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

var holderKey = []byte("holder-key-shared-by-the-banks!!")

func startServers(t *testing.T) *servers {
	t.Helper()
	return startServersWith(t, bank1Float)
}

// startServersWith starts the servers with bank-1 issued float yen.
func startServersWith(t *testing.T, float int64) *servers {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()
	l, err := ledger.Open(filepath.Join(dir, "ledger"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &servers{ledger: l, keys: map[ledger.AccountID]ed25519.PrivateKey{}}
	public := map[ledger.AccountID]ed25519.PublicKey{}
	for _, id := range []ledger.AccountID{"bank-1", "bank-2"} {
		s.keys[id] = exampleKey(string(id))
		public[id] = s.keys[id].Public().(ed25519.PublicKey)
		if _, err := l.OpenAccount(ctx, "open-"+string(id), ledger.AccountSpec{ID: id, Kind: ledger.KindIntermediary}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Issue(ctx, "float-bank-1", "bank-1", float); err != nil {
		t.Fatal(err)
	}
	st, err := settlement.Open(ctx, l, settlement.Config{Policy: offline.DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	s.ledgerSrv = ledgerhttp.NewServer(l, public, ledgerhttp.ServerOptions{Settler: st, OperatorToken: operatorToken})
	lsrv := httptest.NewServer(s.ledgerSrv)
	s.ledgerURL = lsrv.URL
	b, err := intermediary.Open(ctx, intermediary.Config{ID: "bank-1", Path: filepath.Join(dir, "bank-1.db"),
		Ledger: ledgerhttp.NewClient(lsrv.URL, "bank-1", s.keys["bank-1"], nil), HolderKey: holderKey, AdminToken: adminToken})
	if err != nil {
		t.Fatal(err)
	}
	s.bank = gateway.New(b)
	bsrv := httptest.NewServer(s.bank.Handler())
	s.bankURL = bsrv.URL
	t.Cleanup(func() {
		bsrv.CloseClientConnections()
		bsrv.Close()
		if err := b.Close(); err != nil {
			t.Error(err)
		}
		lsrv.CloseClientConnections()
		lsrv.Close()
		if err := st.Close(); err != nil {
			t.Error(err)
		}
		if tot := l.Totals(); !tot.Conserved() {
			t.Errorf("the examples broke conservation at the ledger: %+v", tot)
		}
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// answer is what a server said.
type answer struct {
	status int
	ctype  string
	body   []byte
}

func send(t *testing.T, method, url, authorization string, body []byte) answer {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = strings.NewReader(string(body))
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: raw}
}

// signIn opens a ledger session as id, as ledgerhttp.Client does: GET
// /v1/challenge, sign "cbdc-ledger-session/v1\n" + id + "\n" + challenge,
// POST /v1/session.
func (s *servers) signIn(t *testing.T, id ledger.AccountID) string {
	t.Helper()
	var c struct{ Challenge []byte }
	a := send(t, "GET", s.ledgerURL+"/v1/challenge", "", nil)
	if err := json.Unmarshal(a.body, &c); err != nil || a.status != 200 {
		t.Fatalf("challenge: %d %s", a.status, a.body)
	}
	body, _ := json.Marshal(s.sessionRequest(id, c.Challenge))
	var sess struct{ Token string }
	a = send(t, "POST", s.ledgerURL+"/v1/session", "", body)
	if err := json.Unmarshal(a.body, &sess); err != nil || a.status != 200 {
		t.Fatalf("session: %d %s", a.status, a.body)
	}
	return sess.Token
}

func (s *servers) sessionRequest(id ledger.AccountID, challenge []byte) map[string]any {
	msg := append([]byte("cbdc-ledger-session/v1\n"+string(id)+"\n"), challenge...)
	return map[string]any{"intermediary": id, "challenge": challenge, "signature": ed25519.Sign(s.keys[id], msg)}
}
