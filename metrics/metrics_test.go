package metrics

import (
	"context"
	"crypto/ed25519"
	"io"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/replica"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// A scrape shows the ledger's commits and money, a bank's requests and
// float, and offline settlement, under conventional names; no label
// names a wallet.
func TestMetrics_Scrape(t *testing.T) {
	ctx := context.Background()
	m := New()
	dir := t.TempDir()
	l, err := ledger.Open(filepath.Join(dir, "ledger"), ledger.Options{OnCommit: m.OnCommit})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := settlement.Open(ctx, l, settlement.Config{Policy: offline.DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := l.OpenAccount(ctx, "open-bank-1", ledger.AccountSpec{ID: "bank-1", Kind: ledger.KindIntermediary}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Issue(ctx, "float-bank-1", "bank-1", 1_000_000); err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	b, err := intermediary.Open(ctx, intermediary.Config{ID: "bank-1", Ledger: l.Intermediary("bank-1"), Path: filepath.Join(dir, "bank.db"),
		HolderKey: []byte("metrics-test-holder-key-0123456"), AdminToken: "metrics-test-admin-token", Offline: st.ForBank("bank-1"),
		OfflineKey: key, OnRequest: m.OnRequest("bank-1")})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m.WatchLedger(l)
	m.WatchBanks(b)
	m.WatchBanks(b) // a sandbox adds its banks one by one
	m.WatchSettlement(st)
	m.OnRequest("bank-1")("pay", "", 3*time.Millisecond)
	m.OnRequest("bank-1")("pay", "insufficient_funds", time.Millisecond)

	text := scrape(t, m)
	for _, want := range []string{
		"cbdc_ledger_commits_total ",
		"cbdc_ledger_commit_records_bucket",
		"cbdc_ledger_commit_duration_seconds_bucket",
		"cbdc_ledger_circulation_yen ", // the bank tops its float up in the background: its value varies
		`cbdc_bank_float_yen{bank="bank-1"} `,
		`cbdc_bank_websocket_connections{bank="bank-1"} 0`,
		`cbdc_bank_wallet_requests_total{bank="bank-1",outcome="ok",type="pay"} 1`,
		`cbdc_bank_wallet_requests_total{bank="bank-1",outcome="insufficient_funds",type="pay"} 1`,
		"cbdc_offline_vouchers_settled_total 0",
		"go_goroutines",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the scrape lacks %q", want)
		}
	}
	if strings.Contains(text, "w-") {
		t.Error("a label names a wallet")
	}
}

// A nil *Metrics records nothing and does not panic.
func TestMetrics_NilIsQuiet(t *testing.T) {
	var m *Metrics
	m.OnCommit(1, 1, time.Millisecond)
	if m.OnRequest("bank-1") != nil {
		t.Error("a nil registry gave a request hook")
	}
	m.WatchLedger(nil)
	m.WatchBanks()
	m.WatchSettlement(nil)
}

// A replica's scrape says it leads a group of one, its term, and that it
// has applied what it committed.
func TestMetrics_Replica(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	m := New()
	r, err := replica.Open(replica.Config{ID: "ledger-1", Dir: t.TempDir(), Bind: addr, Peers: []replica.Peer{{ID: "ledger-1", Addr: addr}},
		Ledger: ledger.Options{OnCommit: m.OnCommit}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for deadline := time.Now().Add(10 * time.Second); !r.Ledger().Leading(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a group of one did not elect itself")
		}
	}
	if _, err := r.Ledger().OpenAccount(context.Background(), "open-bank-1", ledger.AccountSpec{ID: "bank-1", Kind: ledger.KindIntermediary}); err != nil {
		t.Fatal(err)
	}
	m.WatchReplica(r)
	text := scrape(t, m)
	for _, want := range []string{"cbdc_ledger_replica_leader 1", "cbdc_ledger_replica_term ", "cbdc_ledger_replica_apply_lag 0",
		"cbdc_ledger_replica_commit_index ", "cbdc_ledger_replica_leader_changes_total ", "cbdc_ledger_commit_duration_seconds_bucket"} {
		if !strings.Contains(text, want) {
			t.Errorf("the scrape lacks %q", want)
		}
	}
}

// scrape reads what Prometheus would from m.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
