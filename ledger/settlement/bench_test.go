package settlement

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// Benchmark shape: purses of benchPerUpload honest staged payments each,
// every purse's vouchers handed in as one upload by its bank, with
// `uploads` of them handed in at once (a few banks, each syncing several
// wallets at a time).
const (
	benchPerUpload = 100
	benchSetupJobs = 64 // goroutines opening accounts and devices
)

// BenchmarkReconcile measures how many vouchers a second the settler takes
// from banks: each voucher is decoded, its signature checked, recorded in
// the index and settled by its own ledger batch. Building the purses and
// their vouchers is outside the timer.
func BenchmarkReconcile(b *testing.B) {
	for _, c := range []struct{ n, uploads int }{{10_000, 8}, {100_000, 8}, {100_000, 32}} {
		n := c.n
		b.Run(fmt.Sprintf("vouchers=%d/uploads=%d", n, c.uploads), func(b *testing.B) {
			var elapsed time.Duration
			for range b.N {
				b.StopTimer()
				f := newBenchFixture(b, n)
				b.StartTimer()
				start := time.Now()
				f.reconcileAll(b, c.uploads)
				elapsed += time.Since(start)
				b.StopTimer()
				f.verify(b)
				f.close()
			}
			b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "vouchers/s")
			b.ReportMetric(0, "ns/op") // one op is a whole run; vouchers/s is the figure
		})
	}
}

// benchUpload is one upload as raw bytes and the bank that hands it in.
type benchUpload struct {
	bank ledger.AccountID
	up   Upload
}

type benchFixture struct {
	ctx     context.Context
	l       *ledger.Ledger
	s       *Settler
	uploads []benchUpload
	payers  []*benchPurse
	total   int64
}

type benchPurse struct {
	purse  *offline.Purse
	bank   ledger.AccountID
	wallet ledger.AccountID
	escrow ledger.AccountID
}

func newBenchFixture(b *testing.B, vouchers int) *benchFixture {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	l, err := ledger.Open(dir, ledger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	f := &benchFixture{ctx: ctx, l: l}
	banks := []ledger.AccountID{"bank-a", "bank-b"}
	for _, bank := range banks {
		if _, err := l.OpenAccount(ctx, "open-"+string(bank), ledger.AccountSpec{ID: bank, Kind: ledger.KindIntermediary}); err != nil {
			b.Fatal(err)
		}
		if _, err := l.Issue(ctx, "issue-"+string(bank), bank, bankFloat); err != nil {
			b.Fatal(err)
		}
	}
	pol := offline.DefaultPolicy()
	pol.PaymentsBeforeSync = benchPerUpload
	if f.s, err = Open(ctx, l, Config{Policy: pol}); err != nil {
		b.Fatal(err)
	}
	keys := map[ledger.AccountID]ed25519.PrivateKey{}
	certs := map[ledger.AccountID]offline.BankCert{}
	for _, bank := range banks {
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		c, err := f.s.CertifyBank(bank, key.Public().(ed25519.PublicKey))
		if err != nil {
			b.Fatal(err)
		}
		keys[bank], certs[bank] = key, c
	}
	// Purses, each paying benchPerUpload vouchers of 100 yen to the next.
	n := vouchers / benchPerUpload
	f.payers = make([]*benchPurse, n)
	const funding = benchPerUpload * 100
	var next atomic.Int64
	var failed atomic.Value
	parallel(n, func(i int) {
		bank := banks[i%2]
		p := &benchPurse{bank: bank, wallet: ledger.AccountID(fmt.Sprintf("w-%d", i))}
		purse, err := offline.NewPurse(f.s.RootKey())
		if err != nil {
			failed.Store(err)
			return
		}
		p.purse = purse
		now := time.Now()
		var sn offline.Serial
		rand.Read(sn[:])
		cert, err := offline.IssueDeviceCert(keys[bank], offline.DeviceCert{Serial: sn, Key: p.purse.PublicKey(), BankID: string(bank),
			Limits: pol.Limits, Issued: now, Expires: now.Add(pol.CertLifetime)})
		if err == nil {
			err = p.purse.Install(offline.Chain{Bank: certs[bank], Device: cert}, now)
		}
		op := func() string { return fmt.Sprintf("setup-%d", next.Add(1)) }
		if err == nil {
			_, err = l.OpenAccount(ctx, op(), ledger.AccountSpec{ID: p.wallet, Kind: ledger.KindWallet, Intermediary: bank})
		}
		if err == nil {
			_, err = l.Transfer(ctx, op(), bank, p.wallet, funding)
		}
		if err == nil {
			p.escrow, err = f.s.RegisterDevice(ctx, bank, cert, p.wallet)
		}
		if err == nil {
			_, err = l.Intermediary(bank).Transfer(ctx, op(), p.wallet, p.escrow, funding)
		}
		if err == nil {
			r := offline.FundingReceipt{Serial: sn, Seq: 1, Amount: funding, Time: now}
			r.Sign(keys[bank])
			err = p.purse.Fund(r)
		}
		if err != nil {
			failed.Store(err)
		}
		f.payers[i] = p
	})
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	f.uploads = make([]benchUpload, n)
	parallel(n, func(i int) {
		p, payee := f.payers[i], f.payers[(i+1)%n].purse.Serial()
		up := Upload{Device: p.purse.Serial()}
		for range benchPerUpload {
			q := offline.PaymentRequest{Payee: payee, Amount: 100, Time: time.Now()}
			rand.Read(q.Nonce[:])
			v, err := p.purse.Pay(q, time.Now())
			if err != nil {
				failed.Store(err)
				return
			}
			up.Sent = append(up.Sent, v.Marshal())
		}
		f.uploads[i] = benchUpload{bank: p.bank, up: up}
	})
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	f.total = int64(n * benchPerUpload)
	return f
}

// parallel runs fn(0..n-1) on benchSetupJobs goroutines.
func parallel(n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range benchSetupJobs {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// reconcileAll hands in every upload from that many goroutines at once.
func (f *benchFixture) reconcileAll(b *testing.B, uploads int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range uploads {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(f.uploads); i = int(next.Add(1)) - 1 {
				u := f.uploads[i]
				rep, err := f.s.Reconcile(f.ctx, u.bank, u.up)
				if err != nil || rep.Settled != len(u.up.Sent) {
					b.Errorf("upload %d: %v: %d of %d settled", i, err, rep.Settled, len(u.up.Sent))
					return
				}
			}
		})
	}
	wg.Wait()
}

func (f *benchFixture) verify(b *testing.B) {
	sum := f.s.Summary()
	if int64(sum.Settled) != f.total || sum.SettledAmount != SumOf(100*f.total) || len(f.s.Conflicts()) != 0 {
		b.Fatalf("summary %+v, conflicts %d", sum, len(f.s.Conflicts()))
	}
	if tot := f.l.Totals(); !tot.Conserved() {
		b.Fatalf("money not conserved: %+v", tot)
	}
}

func (f *benchFixture) close() {
	f.s.Close()
	f.l.Close()
}
