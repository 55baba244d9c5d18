package ledger

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// Wallets the holding-limit cases use, on top of the fixture: w has a limit
// of its own; h-a and h-b belong to one holder at two banks; q is a payee
// at bank-b with a limit.
func (f *fixture) openWallet(id, bank AccountID, holder HolderID, lim Limits) {
	f.t.Helper()
	f.must(f.l.OpenAccount(f.ctx, f.id(), AccountSpec{ID: id, Kind: KindWallet, Intermediary: bank, Holder: holder, Limits: lim}))
}

func (f *fixture) fund(id, bank AccountID, amount int64) {
	f.t.Helper()
	f.must(f.l.Transfer(f.ctx, f.id(), bank, id, amount))
}

func (f *fixture) setLimits(id AccountID, lim Limits) {
	f.t.Helper()
	f.must(f.l.SetLimits(f.ctx, f.id(), id, lim))
}

func limit(holding int64) Limits { return Limits{Holding: holding} }
func sweep(holding int64) Limits { return Limits{Holding: holding, Sweep: true} }

// TestLedger_HoldingLimitSweeps is the specification of holding limits and
// the waterfall. Each case opens its wallets on the fixture, then runs one
// operation: refused ones must change nothing; accepted ones must leave the
// balances listed and the sweeps in the journal.
func TestLedger_HoldingLimitSweeps(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(f *fixture)
		op     func(f *fixture) (Receipt, error)
		want   *Error
		after  map[AccountID]int64
		sweeps []Transfer
	}{
		{
			name:  "a credit up to the limit",
			setup: func(f *fixture) { f.openWallet("w", "bank-a", "", limit(1_000)); f.fund("w", "bank-a", 500) },
			op:    func(f *fixture) (Receipt, error) { return f.l.Transfer(f.ctx, "x", "alice", "w", 500) },
			after: map[AccountID]int64{"w": 1_000, "alice": 9_500},
		},
		{
			name:  "one yen over the limit, no waterfall: refused",
			setup: func(f *fixture) { f.openWallet("w", "bank-a", "", limit(1_000)); f.fund("w", "bank-a", 500) },
			op:    func(f *fixture) (Receipt, error) { return f.l.Transfer(f.ctx, "x", "alice", "w", 501) },
			want:  ErrHoldingLimit,
		},
		{
			name:   "over the limit with the waterfall: the exact excess is swept",
			setup:  func(f *fixture) { f.openWallet("w", "bank-a", "", sweep(1_000)); f.fund("w", "bank-a", 500) },
			op:     func(f *fixture) (Receipt, error) { return f.l.Transfer(f.ctx, "x", "alice", "w", 800) },
			after:  map[AccountID]int64{"w": 1_000, "alice": 9_200, "bank-a": 990_000 - 500 + 300},
			sweeps: []Transfer{{"w", "bank-a", 300}},
		},
		{
			name: "one holder at two banks: bank-a's wallet pays into bank-b's, over the shared limit",
			setup: func(f *fixture) {
				f.openWallet("h-a", "bank-a", "tok:h", limit(1_000))
				f.openWallet("h-b", "bank-b", "tok:h", Limits{})
				f.fund("h-a", "bank-a", 800)
			},
			op: func(f *fixture) (Receipt, error) {
				return f.l.Intermediary("bank-a").Transfer(f.ctx, "x", "alice", "h-b", 300)
			},
			want: ErrHoldingLimit,
		},
		{
			name: "one holder at two banks: the payee's bank sweeps the excess",
			setup: func(f *fixture) {
				f.openWallet("h-a", "bank-a", "tok:h", limit(1_000))
				f.openWallet("h-b", "bank-b", "tok:h", Limits{Sweep: true})
				f.fund("h-a", "bank-a", 800)
			},
			op: func(f *fixture) (Receipt, error) {
				return f.l.Intermediary("bank-a").Transfer(f.ctx, "x", "alice", "h-b", 300)
			},
			after:  map[AccountID]int64{"h-a": 800, "h-b": 200, "bank-b": 990_000 + 100},
			sweeps: []Transfer{{"h-b", "bank-b", 100}},
		},
		{
			name: "a limit lowered below the holdings takes nothing away",
			setup: func(f *fixture) {
				f.openWallet("w", "bank-a", "", sweep(1_000))
				f.fund("w", "bank-a", 900)
			},
			op:    func(f *fixture) (Receipt, error) { return f.l.SetLimits(f.ctx, "x", "w", sweep(500)) },
			after: map[AccountID]int64{"w": 900},
		},
		{
			name: "after a lowered limit, the next credit is swept",
			setup: func(f *fixture) {
				f.openWallet("w", "bank-a", "", sweep(1_000))
				f.fund("w", "bank-a", 900)
				f.setLimits("w", sweep(500))
			},
			op:     func(f *fixture) (Receipt, error) { return f.l.Transfer(f.ctx, "x", "alice", "w", 50) },
			after:  map[AccountID]int64{"w": 900, "alice": 9_950},
			sweeps: []Transfer{{"w", "bank-a", 50}},
		},
		{
			name: "after a lowered limit, the next credit is refused without the waterfall",
			setup: func(f *fixture) {
				f.openWallet("w", "bank-a", "", limit(1_000))
				f.fund("w", "bank-a", 900)
				f.setLimits("w", limit(500))
			},
			op:   func(f *fixture) (Receipt, error) { return f.l.Transfer(f.ctx, "x", "alice", "w", 1) },
			want: ErrHoldingLimit,
		},
		{
			name: "spent below a lowered limit, credits fill up to it",
			setup: func(f *fixture) {
				f.openWallet("w", "bank-a", "", sweep(1_000))
				f.fund("w", "bank-a", 900)
				f.setLimits("w", sweep(500))
				f.must(f.l.Transfer(f.ctx, f.id(), "w", "bob", 600))
			},
			op:     func(f *fixture) (Receipt, error) { return f.l.Transfer(f.ctx, "x", "alice", "w", 300) },
			after:  map[AccountID]int64{"w": 500},
			sweeps: []Transfer{{"w", "bank-a", 100}},
		},
		{
			name: "above a lowered limit, moving between one holder's wallets is neither swept nor refused",
			setup: func(f *fixture) {
				f.openWallet("h-a", "bank-a", "tok:h", limit(1_000))
				f.openWallet("h-b", "bank-b", "tok:h", Limits{Sweep: true})
				f.fund("h-a", "bank-a", 1_000)
				f.setLimits("h-a", limit(500))
			},
			op: func(f *fixture) (Receipt, error) {
				return f.l.Intermediary("bank-a").Transfer(f.ctx, "x", "h-a", "h-b", 400)
			},
			after: map[AccountID]int64{"h-a": 600, "h-b": 400},
		},
		{
			name: "above a lowered limit, only what the holder gained is swept",
			setup: func(f *fixture) {
				f.openWallet("h-a", "bank-a", "tok:h", sweep(1_000))
				f.openWallet("h-b", "bank-b", "tok:h", Limits{})
				f.fund("h-a", "bank-a", 500)
				f.fund("h-b", "bank-b", 500)
				f.setLimits("h-a", sweep(500))
			},
			op: func(f *fixture) (Receipt, error) {
				return f.l.Batch(f.ctx, "x", []Transfer{{"h-b", "bob", 300}, {"alice", "h-a", 400}})
			},
			after:  map[AccountID]int64{"h-a": 800, "h-b": 200},
			sweeps: []Transfer{{"h-a", "bank-a", 100}},
		},
		{
			name: "a batch crediting two wallets of one holder sweeps from the first credited",
			setup: func(f *fixture) {
				f.openWallet("h-a", "bank-a", "tok:h", sweep(1_000))
				f.openWallet("h-b", "bank-b", "tok:h", Limits{Sweep: true})
			},
			op: func(f *fixture) (Receipt, error) {
				return f.l.Batch(f.ctx, "x", []Transfer{{"alice", "h-a", 700}, {"bob", "h-b", 600}})
			},
			after:  map[AccountID]int64{"h-a": 400, "h-b": 600, "bank-a": 990_000 + 300},
			sweeps: []Transfer{{"h-a", "bank-a", 300}},
		},
		{
			name: "the same batch in the other order sweeps from the other wallet",
			setup: func(f *fixture) {
				f.openWallet("h-a", "bank-a", "tok:h", sweep(1_000))
				f.openWallet("h-b", "bank-b", "tok:h", Limits{Sweep: true})
			},
			op: func(f *fixture) (Receipt, error) {
				return f.l.Batch(f.ctx, "x", []Transfer{{"bob", "h-b", 600}, {"alice", "h-a", 700}})
			},
			after:  map[AccountID]int64{"h-a": 700, "h-b": 300, "bank-b": 990_000 + 300},
			sweeps: []Transfer{{"h-b", "bank-b", 300}},
		},
		{
			name: "a wallet sweeps at most what the record credited it",
			setup: func(f *fixture) {
				f.openWallet("h-a", "bank-a", "tok:h", limit(1_000))
				f.openWallet("h-b", "bank-b", "tok:h", Limits{Sweep: true})
				f.fund("h-b", "bank-b", 50)
			},
			op: func(f *fixture) (Receipt, error) {
				return f.l.Batch(f.ctx, "x", []Transfer{{"bob", "h-b", 100}, {"alice", "h-a", 1_000}})
			},
			want: ErrHoldingLimit,
		},
		{
			name: "another wallet's waterfall does not sweep for the one credited",
			setup: func(f *fixture) {
				f.openWallet("h-a", "bank-a", "tok:h", limit(1_000))
				f.openWallet("h-b", "bank-b", "tok:h", Limits{Sweep: true})
				f.fund("h-b", "bank-b", 900)
			},
			op:   func(f *fixture) (Receipt, error) { return f.l.Transfer(f.ctx, "x", "alice", "h-a", 200) },
			want: ErrHoldingLimit,
		},
		{
			name: "debits in the same batch count against the credits",
			setup: func(f *fixture) {
				f.openWallet("h-a", "bank-a", "tok:h", limit(1_000))
				f.fund("h-a", "bank-a", 900)
			},
			op: func(f *fixture) (Receipt, error) {
				return f.l.Batch(f.ctx, "x", []Transfer{{"alice", "h-a", 300}, {"h-a", "bob", 250}})
			},
			after: map[AccountID]int64{"h-a": 950},
		},
		{
			name: "debits in the same batch, still over: refused",
			setup: func(f *fixture) {
				f.openWallet("h-a", "bank-a", "tok:h", limit(1_000))
				f.fund("h-a", "bank-a", 900)
			},
			op: func(f *fixture) (Receipt, error) {
				return f.l.Batch(f.ctx, "x", []Transfer{{"alice", "h-a", 300}, {"h-a", "bob", 100}})
			},
			want: ErrHoldingLimit,
		},
		{
			name: "a debit from the holder's other wallet counts too",
			setup: func(f *fixture) {
				f.openWallet("h-a", "bank-a", "tok:h", limit(1_000))
				f.openWallet("h-b", "bank-b", "tok:h", Limits{})
				f.fund("h-a", "bank-a", 500)
				f.fund("h-b", "bank-b", 500)
			},
			op: func(f *fixture) (Receipt, error) {
				return f.l.Batch(f.ctx, "x", []Transfer{{"h-b", "bob", 300}, {"alice", "h-a", 300}})
			},
			after: map[AccountID]int64{"h-a": 800, "h-b": 200},
		},
		{
			name: "auto-charge: the bank tops the payer up and pays the payee in one batch",
			setup: func(f *fixture) {
				f.openWallet("w", "bank-a", "", sweep(500))
				f.openWallet("q", "bank-b", "", sweep(300))
				f.fund("w", "bank-a", 100)
			},
			op: func(f *fixture) (Receipt, error) {
				return f.l.Intermediary("bank-a").Batch(f.ctx, "x", []Transfer{{"bank-a", "w", 500}, {"w", "q", 600}})
			},
			after:  map[AccountID]int64{"w": 0, "q": 300, "bank-a": 990_000 - 600, "bank-b": 990_000 + 300},
			sweeps: []Transfer{{"q", "bank-b", 300}},
		},
		{
			name: "moving money between one holder's wallets at its limit",
			setup: func(f *fixture) {
				f.openWallet("h-a", "bank-a", "tok:h", limit(1_000))
				f.openWallet("h-b", "bank-b", "tok:h", Limits{})
				f.fund("h-a", "bank-a", 1_000)
			},
			op: func(f *fixture) (Receipt, error) {
				return f.l.Intermediary("bank-a").Transfer(f.ctx, "x", "h-a", "h-b", 400)
			},
			after: map[AccountID]int64{"h-a": 600, "h-b": 400},
		},
		{
			name: "a holder with no limit on any wallet has none",
			setup: func(f *fixture) {
				f.openWallet("h-a", "bank-a", "tok:h", Limits{Sweep: true})
				f.openWallet("h-b", "bank-b", "tok:h", Limits{})
			},
			op:    func(f *fixture) (Receipt, error) { return f.l.Transfer(f.ctx, "x", "alice", "h-a", 10_000) },
			after: map[AccountID]int64{"h-a": 10_000, "alice": 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.setup(f)
			before := f.allBalances()
			r, err := tt.op(f)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %s", err, tt.want.Code)
				}
				if after := f.allBalances(); !maps.Equal(before, after) {
					t.Errorf("refusal moved money: before %v, after %v", before, after)
				}
				assertNothingChanged(t, f)
				return
			}
			f.must(r, err)
			for id, want := range tt.after {
				if got := f.balance(id); got != want {
					t.Errorf("%s = %d, want %d", id, got, want)
				}
			}
			if got := f.event(r.Seq).Sweeps; !slices.Equal(got, tt.sweeps) {
				t.Errorf("sweeps = %v, want %v", got, tt.sweeps)
			}
			if tot := f.l.Totals(); !tot.Conserved() {
				t.Errorf("totals not conserved: %+v", tot)
			}
		})
	}
}

// allBalances reads every account the ledger has.
func (f *fixture) allBalances() map[AccountID]int64 {
	f.t.Helper()
	f.l.viewMu.RLock()
	defer f.l.viewMu.RUnlock()
	out := map[AccountID]int64{}
	for n := range f.l.view.accounts {
		out[f.l.view.id(uint32(n))] = f.l.view.accounts[n].bal
	}
	return out
}

func (f *fixture) event(seq uint64) Event {
	f.t.Helper()
	ev, err := f.l.Events(seq, 1)
	if err != nil || len(ev) != 1 || ev[0].Seq != seq {
		f.t.Fatalf("event %d: %+v, %v", seq, ev, err)
	}
	return ev[0]
}

func (f *fixture) holder(h HolderID) Holding {
	f.t.Helper()
	hd, err := f.l.Holder(h)
	if err != nil {
		f.t.Fatalf("holder %s: %v", h, err)
	}
	return hd
}

func TestLedger_HolderLimitFollowsItsWallets(t *testing.T) {
	f := newFixture(t)
	f.openWallet("h-a", "bank-a", "tok:h", limit(500))
	f.openWallet("h-b", "bank-b", "tok:h", limit(2_000))
	f.openWallet("h-c", "bank-b", "tok:h", Limits{})
	f.fund("h-b", "bank-b", 400)
	if got, want := f.holder("tok:h"), (Holding{Holder: "tok:h", Wallets: 3, Holdings: 400, Limit: 500}); got != want {
		t.Fatalf("holder = %+v, want %+v", got, want)
	}
	if a, _ := f.l.Account("h-a"); a.Holder != "tok:h" || a.Limits != limit(500) {
		t.Errorf("h-a = %+v", a)
	}
	f.must(f.l.CloseAccount(f.ctx, f.id(), "h-a")) // the smallest limit goes with it
	if got := f.holder("tok:h"); got.Limit != 2_000 || got.Wallets != 2 {
		t.Fatalf("after closing h-a: %+v, want limit 2000 in 2 wallets", got)
	}
	f.fund("h-c", "bank-b", 1_600)
	if _, err := f.l.Transfer(f.ctx, "over", "alice", "h-c", 1); !errors.Is(err, ErrHoldingLimit) {
		t.Fatalf("credit past the recomputed limit: err = %v", err)
	}
	f.setLimits("h-c", limit(1_500)) // below the holdings: nothing is taken
	if got := f.holder("tok:h"); got.Limit != 1_500 || got.Holdings != 2_000 {
		t.Fatalf("after lowering h-c: %+v", got)
	}
	f.setLimits("h-b", Limits{})
	f.setLimits("h-c", Limits{})
	if got := f.holder("tok:h"); got.Limit != 0 {
		t.Fatalf("no limits left, holder still limited: %+v", got)
	}
	f.fund("h-c", "bank-b", 5_000)
	for _, id := range []AccountID{"h-b", "h-c"} {
		f.must(f.l.Transfer(f.ctx, f.id(), id, "bank-b", f.balance(id)))
		f.must(f.l.CloseAccount(f.ctx, f.id(), id))
	}
	if _, err := f.l.Holder("tok:h"); !errors.Is(err, ErrUnknownHolder) {
		t.Errorf("holder with every wallet closed: err = %v", err)
	}
	if _, err := f.l.Holder("bad token"); !errors.Is(err, ErrInvalidHolder) {
		t.Errorf("malformed token: err = %v", err)
	}
	if a, _ := f.l.Account("h-a"); a.Holder != "tok:h" || !a.Closed {
		t.Errorf("closed h-a = %+v: a closed wallet keeps its holder", a)
	}
}

func TestIntermediary_HolderOnlyWhereItServes(t *testing.T) {
	f := newFixture(t)
	f.open("bank-c", KindIntermediary, "")
	f.openWallet("h-a", "bank-a", "tok:h", limit(1_000))
	f.openWallet("h-b", "bank-b", "tok:h", Limits{})
	f.fund("h-b", "bank-b", 300)
	want := Holding{Holder: "tok:h", Wallets: 2, Holdings: 300, Limit: 1_000}
	for _, bank := range []AccountID{"bank-a", "bank-b"} {
		if got, err := f.l.Intermediary(bank).Holder(f.ctx, "tok:h"); err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", bank, got, err, want)
		}
	}
	// A bank serving none of its wallets cannot tell a holder elsewhere
	// from no holder at all.
	for _, h := range []HolderID{"tok:h", "tok:nobody"} {
		if _, err := f.l.Intermediary("bank-c").Holder(f.ctx, h); !errors.Is(err, ErrNotYours) {
			t.Errorf("bank-c reading %s: err = %v, want not_your_account", h, err)
		}
	}
	f.must(f.l.CloseAccount(f.ctx, f.id(), "h-a"))
	if _, err := f.l.Intermediary("bank-a").Holder(f.ctx, "tok:h"); !errors.Is(err, ErrNotYours) {
		t.Errorf("bank-a after its wallet closed: err = %v, want not_your_account", err)
	}
	// A refusal tells the payer's bank no figures of another bank's customer.
	f.setLimits("h-b", limit(300))
	_, err := f.l.Intermediary("bank-a").Transfer(f.ctx, "pay", "alice", "h-b", 5)
	if !errors.Is(err, ErrHoldingLimit) || strings.Contains(err.Error(), "300") {
		t.Errorf("cross-bank refusal: %v", err)
	}
	_, err = f.l.Intermediary("bank-b").Transfer(f.ctx, "pay", "bank-b", "h-b", 5)
	if !errors.Is(err, ErrHoldingLimit) || !strings.Contains(err.Error(), "305") {
		t.Errorf("refusal to the wallet's own bank: %v", err)
	}
}

func TestLedger_SweepsAreInTheBanksHistory(t *testing.T) {
	f := newFixture(t)
	f.openWallet("h-b", "bank-b", "tok:h", sweep(100))
	r := f.must(f.l.Intermediary("bank-a").Transfer(f.ctx, "pay", "alice", "h-b", 150))
	page, _, err := f.l.History("bank-b", 0, 1)
	if err != nil || len(page) != 1 || page[0].Seq != r.Seq {
		t.Fatalf("bank-b's newest history entry: %+v, %v; want the swept payment at %d", page, err, r.Seq)
	}
	if want := []Transfer{{"h-b", "bank-b", 50}}; !slices.Equal(page[0].Sweeps, want) {
		t.Errorf("sweeps = %v, want %v", page[0].Sweeps, want)
	}
	if ev := f.event(r.Seq - 1); ev.Op != "open" || ev.Holder != "tok:h" || ev.Limits != sweep(100) {
		t.Errorf("open event = %+v", ev)
	}
	lr := f.must(f.l.Intermediary("bank-b").SetLimits(f.ctx, "lim", "h-b", limit(70)))
	if ev := f.event(lr.Seq); ev.Op != "limits" || ev.Account != "h-b" || ev.Limits != limit(70) || ev.Origin != "bank-b" {
		t.Errorf("limits event = %+v", ev)
	}
}

// The state must come out the same whether it was built operation by
// operation, loaded from a checkpoint, or replayed from genesis.
func TestLedger_LimitsSurviveReplayAndCheckpoint(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{CheckpointEvery: 5})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, l: l, ctx: t.Context()}
	f.open("bank-a", KindIntermediary, "")
	f.open("bank-b", KindIntermediary, "")
	f.must(l.Issue(f.ctx, f.id(), "bank-a", 100_000))
	f.must(l.Issue(f.ctx, f.id(), "bank-b", 100_000))
	f.openWallet("h-a", "bank-a", "tok:h", sweep(1_000))
	f.openWallet("h-b", "bank-b", "tok:h", limit(3_000))
	f.openWallet("h-c", "bank-b", "tok:h", Limits{Sweep: true})
	f.openWallet("g", "bank-a", "tok:g", limit(50))
	f.openWallet("w", "bank-b", "", sweep(200))
	f.fund("h-a", "bank-a", 1_500)
	f.must(l.Batch(f.ctx, f.id(), []Transfer{{"bank-b", "h-c", 400}, {"bank-b", "w", 300}}))
	f.must(l.CloseAccount(f.ctx, f.id(), "h-b"))
	f.setLimits("h-c", sweep(900))
	f.setLimits("g", Limits{})
	f.fund("h-c", "bank-b", 100)
	holdings := f.holder("tok:h")
	accounts := map[AccountID]Account{}
	for _, id := range []AccountID{"h-a", "h-b", "h-c", "g", "w", "bank-a", "bank-b"} {
		accounts[id], _ = l.Account(id)
	}
	events, _ := l.Events(1, MaxPage)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	check := func(how string) {
		t.Helper()
		l, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if got, _ := l.Holder("tok:h"); got != holdings {
			t.Errorf("%s: holder %+v, want %+v", how, got, holdings)
		}
		for id, want := range accounts {
			if got, _ := l.Account(id); got != want {
				t.Errorf("%s: %s = %+v, want %+v", how, id, got, want)
			}
		}
		if got, _ := l.Events(1, MaxPage); !slices.EqualFunc(got, events, sameEvent) {
			t.Errorf("%s: events differ", how)
		}
	}
	check("from the checkpoint")
	fromCheckpoint, _ := stateOf(t, dir)
	if err := os.Remove(filepath.Join(dir, CheckpointFileName)); err != nil {
		t.Fatal(err)
	}
	check("from genesis")
	fromJournal, _ := stateOf(t, dir)
	assertSameState(t, fromCheckpoint, fromJournal)
	if rep := mustAudit(t, dir); rep.Holders != 2 {
		t.Errorf("audit counts %d holder tokens with open wallets, want 2", rep.Holders)
	}
}

func sameEvent(a, b Event) bool {
	return a.Seq == b.Seq && a.Op == b.Op && a.Account == b.Account && a.Holder == b.Holder && a.Limits == b.Limits &&
		slices.Equal(a.Transfers, b.Transfers) && slices.Equal(a.Sweeps, b.Sweeps)
}

// A sweep is recomputed on every replay, so a stored one that was changed
// is caught even when the hash chain and stored head are made to fit.
func TestAudit_DetectsTamperedSweep(t *testing.T) {
	f := newFixture(t)
	dir := f.l.Dir()
	f.openWallet("w", "bank-a", "", sweep(100))
	r := f.must(f.l.Transfer(f.ctx, "pay", "alice", "w", 150))
	f.l.Close()
	sweepAmount := func(rec []byte) {
		d, err := decodeRecord(rec)
		if err != nil || len(d.sweeps) != 1 {
			t.Fatalf("record %d: %+v, %v", r.Seq, d, err)
		}
		rec[len(rec)-2-12*len(d.links)-1] ^= 0x01 // last byte of the sweep's amount
	}
	editRecord(t, dir, r.Seq, sweepAmount)
	rehead(t, dir, r.Seq)
	rep, err := Audit(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), "sweeps") {
		t.Errorf("audit of a changed sweep: %v", rep.Problems)
	}
	assertOpenFails(t, dir)
	editRecord(t, dir, r.Seq, sweepAmount) // undo, for the final audit
	rehead(t, dir, r.Seq)
}

// rehead makes the stored head fit the journal's record at seq, as an
// attacker rewriting the newest record would.
func rehead(t *testing.T, dir string, seq uint64) {
	t.Helper()
	db := rawDB(t, dir)
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		rec, err := readRecord(tx, seq)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyHead, headValue(seq, recordHash(rec)))
	}); err != nil {
		t.Fatal(err)
	}
}

// testdata/v2-journal was written before holders, limits and sweeps: its
// records are version 2 and its checkpoint the format before.
func TestLedger_ReplaysVersion2Records(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{FileName, CheckpointFileName} {
		b, err := os.ReadFile(filepath.Join("testdata", "v2-journal", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rep := mustAudit(t, dir)
	if rep.Records != 16 || rep.CheckpointSeq != 0 {
		t.Errorf("audit: %d records, checkpoint compared at %d; want 16 and an old checkpoint left alone", rep.Records, rep.CheckpointSeq)
	}
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, l: l, ctx: t.Context(), n: 100}
	want := map[AccountID]int64{"alice": 7_499, "bob": 22_401, "escrow-a": 60, "loss": 40, "carol": 0}
	for id, w := range want {
		if got := f.balance(id); got != w {
			t.Errorf("%s = %d, want %d", id, got, w)
		}
	}
	f.setLimits("bob", sweep(20_000))
	r := f.must(l.Transfer(f.ctx, f.id(), "alice", "bob", 100))
	if got := f.event(r.Seq).Sweeps; !slices.Equal(got, []Transfer{{"bob", "bank-b", 100}}) {
		t.Errorf("sweeps after version 2 records = %v", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if rep := mustAudit(t, dir); rep.CheckpointSeq != rep.Records {
		t.Errorf("checkpoint at %d, journal at %d: closing should write a new one", rep.CheckpointSeq, rep.Records)
	}
}

// account stays small and free of pointers: see docs/architecture.md.
func TestLedger_AccountStaysSmall(t *testing.T) {
	if n := unsafe.Sizeof(account{}); n != 40 {
		t.Errorf("account is %d bytes, want 40", n)
	}
}
