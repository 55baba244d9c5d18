package settlement

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// The seed is fixed unless asked otherwise, so `make test` is the same run
// every time; `make test-property` explores new seeds.
var propSeedFlag = flag.Uint64("settlement.seed", 20261122, "seed for TestSettle_OrderIndependent; 0 picks a new one")

// TestSettle_OrderIndependent plays a random offline economy once, with
// purses paying each other (re-spending received value in intermittent
// mode) and some of them cheating, and collects everything the purses would
// upload, repeated and split at random. It then hands those uploads to
// fresh copies of the same ledger in several random orders and checks that
// money is conserved, each genuine voucher settles once, exactly the
// devices that cheated are revoked, honest payees lose nothing the policy
// does not allow, and the outcome is the same in every order. A failure
// names its seed; -settlement.seed repeats the run exactly.
func TestSettle_OrderIndependent(t *testing.T) {
	seed := *propSeedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (repeat with -settlement.seed=%d)", seed, seed)
	size := propSize{people: 18, steps: 160, orders: 4}
	if testing.Short() {
		size = propSize{people: 10, steps: 50, orders: 2}
	}
	i := uint64(0)
	for _, mode := range []offline.Mode{offline.Staged, offline.Intermittent} {
		for _, b := range bearers {
			i++
			t.Run(fmt.Sprintf("%s/%s", mode, b.bearer), func(t *testing.T) {
				t.Cleanup(func() {
					if t.Failed() {
						t.Logf("seed %d (repeat with -settlement.seed=%d -run 'OrderIndependent/%s/%s')", seed, seed, mode, b.bearer)
					}
				})
				runProperty(t, seed+i, mode, b.bearer, size)
			})
		}
	}
}

type propSize struct{ people, steps, orders int }

// role is what a person does besides paying honestly.
type role int

const (
	honest   role = iota
	cloner        // copies its purse and spends from both
	roller        // saves its purse, pays, loads the old state and pays again
	forger        // raises its balance without funding and overspends
	tamperer      // changes the amount of a voucher it received before uploading it
)

func (r role) String() string {
	return [...]string{"honest", "cloner", "roller", "forger", "tamperer"}[r]
}

// overspends reports whether the role spends money it does not have. Such
// people receive no payments: when value flows back to an overspender,
// pending vouchers can wait on each other in a cycle, and then the outcome
// may depend on the order of uploads (see the package documentation and
// TestAttack_ValueFlowsBackToOverspender).
func (r role) overspends() bool { return r == cloner || r == roller || r == forger }

// handle is a purse someone pays from: a person's own, or its clone.
type handle struct {
	p     *person
	purse *offline.Purse
}

// propUpload is one upload as raw bytes, to replay in any order.
type propUpload struct {
	bank ledger.AccountID
	up   Upload
}

// history is what the random economy produced.
type history struct {
	people   []*person
	roles    map[*person]role
	funded   map[offline.Serial]int64
	vouchers map[offline.Hash]offline.Voucher // every genuine voucher made
	uploads  []propUpload
	uploaded map[offline.Hash]bool // genuine vouchers in at least one upload
	tampered map[offline.Serial]bool
	dir      string // the ledger's files before any reconciliation
	certs    map[ledger.AccountID]offline.BankCert
	cfg      Config
}

func propPolicy(mode offline.Mode, bearer offline.Bearer) offline.Policy {
	p := offline.DefaultPolicy()
	p.Mode, p.LossBearer = mode, bearer
	p.PurseCap = 10_000_000
	p.PaymentsBeforeSync = 10_000
	return p
}

func runProperty(t *testing.T, seed uint64, mode offline.Mode, bearer offline.Bearer, size propSize) {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	w := newWorld(t, propPolicy(mode, bearer))
	h := play(w, rng, size)
	var outs []propOutcome
	for k := range size.orders {
		order := slices.Clone(h.uploads)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		w2 := h.replica(t, k)
		for _, u := range order {
			if _, err := w2.s.Reconcile(w2.ctx, u.bank, u.up); err != nil {
				t.Fatalf("order %d: %v", k, err)
			}
		}
		if _, err := w2.s.CloseWindow(w2.ctx); err != nil {
			t.Fatal(err)
		}
		w2.conserved()
		outs = append(outs, h.check(w2, k))
		// The outcome survives reopening, and closing again changes nothing.
		w2.reopen()
		if rep, err := w2.s.CloseWindow(w2.ctx); err != nil || len(rep.Vouchers) != 0 {
			t.Errorf("order %d: closing again after reopening: %+v %v", k, rep, err)
		}
		if again := h.balances(w2); !maps.Equal(again, outs[k].balances) {
			t.Errorf("order %d: balances changed on reopening", k)
		}
	}
	for k := 1; k < len(outs); k++ {
		a, b := outs[0], outs[k]
		if !slices.Equal(a.revoked, b.revoked) {
			t.Errorf("order %d revoked %v, order 0 %v", k, b.revoked, a.revoked)
		}
		ta, tb := a.totals, b.totals
		if bearer == offline.Payee && mode == offline.Intermittent {
			// How much of a loss an honest purse passed on, and so how much
			// of its escrow its owner defunded, depends on the order; the
			// money in purses and wallets together does not.
			ta.Wallets, ta.Escrow, tb.Wallets, tb.Escrow = ta.Wallets+ta.Escrow, 0, tb.Wallets+tb.Escrow, 0
		}
		if ta != tb {
			t.Errorf("order %d totals %+v, order 0 %+v", k, b.totals, a.totals)
		}
		if a.settled+a.payeeLoss != b.settled+b.payeeLoss {
			t.Errorf("order %d settled %d + payee loss %d, order 0 %d + %d", k, b.settled, b.payeeLoss, a.settled, a.payeeLoss)
		}
		switch {
		case bearer != offline.Payee:
			for id, bal := range a.balances {
				if b.balances[id] != bal {
					t.Errorf("order %d: %s holds %d, in order 0 %d", k, id, b.balances[id], bal)
				}
			}
		case mode == offline.Staged:
			// Who of a cheater's payees goes short depends on who came
			// first, but not how much goes short in all.
			if a.settled != b.settled || a.payeeLoss != b.payeeLoss {
				t.Errorf("order %d settled %d, payees lost %d; order 0 %d and %d", k, b.settled, b.payeeLoss, a.settled, a.payeeLoss)
			}
		}
	}
}

// play builds the people, funds them, runs the offline economy and records
// the uploads; it leaves the world's files as they were before any upload.
func play(w *world, rng *rand.Rand, size propSize) *history {
	t := w.t
	h := &history{roles: map[*person]role{}, funded: map[offline.Serial]int64{},
		vouchers: map[offline.Hash]offline.Voucher{}, uploaded: map[offline.Hash]bool{}, tampered: map[offline.Serial]bool{},
		certs: w.certs, cfg: w.cfg}
	for i := range size.people {
		bank := ledger.AccountID("bank-a")
		if rng.IntN(2) == 0 {
			bank = "bank-b"
		}
		p := w.person(bank, 500_000)
		h.people = append(h.people, p)
		r := honest
		if i < 4 { // at least one of each attack
			r = role(i + 1)
		} else if rng.IntN(4) == 0 {
			r = role(1 + rng.IntN(4))
		}
		h.roles[p] = r
		if amount := int64(rng.IntN(6)) * 10_000; amount > 0 || r.overspends() {
			amount = max(amount, 10_000)
			w.fund(p, amount)
			h.funded[serial(p)] += amount
		}
	}
	var receivers []*person
	for _, p := range h.people {
		if !h.roles[p].overspends() {
			receivers = append(receivers, p)
		}
	}
	handles := []*handle{}
	for _, p := range h.people {
		handles = append(handles, &handle{p: p, purse: p.purse})
	}
	pay := func(from *handle, to *person) bool {
		bal := from.purse.Balance()
		if bal < 100 || to == from.p {
			return false
		}
		amount := 100 * (1 + rng.Int64N(min(bal, offline.DefaultPaymentCap)/100))
		q, err := to.purse.Request(amount, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		v, err := from.purse.Pay(q, time.Now())
		if err != nil {
			t.Fatalf("%s pays %d of %d: %v", from.p.name, amount, bal, err)
		}
		h.vouchers[v.Hash()] = v
		if err := to.purse.Accept(v, time.Now()); err != nil {
			to.purse.CancelRequest(q.Nonce) // refused; the voucher stays in the payer's log
		}
		return true
	}
	randomPayee := func(from *handle) *person {
		i := rng.IntN(len(receivers))
		for _, q := range append(receivers[i:], receivers[:i]...) {
			if q != from.p {
				return q
			}
		}
		return nil
	}
	// The attacks start at random steps; each is finished after the loop.
	start := map[*person]int{}
	saved := map[*person][]byte{}
	for _, p := range h.people {
		start[p] = rng.IntN(size.steps)
	}
	for step := 0; step < size.steps; step++ {
		for _, p := range h.people {
			if start[p] != step {
				continue
			}
			switch h.roles[p] {
			case cloner:
				handles = append(handles, &handle{p: p, purse: clone(t, p.purse)})
			case roller:
				saved[p] = p.purse.Save()
			case forger:
				p.purse.ForgeBalance(p.purse.Balance() + 30_000 + rng.Int64N(50_000))
			}
		}
		from := handles[rng.IntN(len(handles))]
		pay(from, randomPayee(from))
		for _, p := range h.people {
			if h.roles[p] == roller && saved[p] != nil && rng.IntN(8) == 0 {
				h.rollBack(w, p, handles, &saved, pay, randomPayee)
			}
		}
	}
	// Finish every attack, so each cheater leaves evidence.
	for _, p := range h.people {
		switch h.roles[p] {
		case cloner:
			for _, hd := range handles {
				if hd.p == p && hd.purse.Balance() < 100 {
					hd.purse.ForgeBalance(100) // both copies must pay once more
				}
			}
			for _, hd := range handles {
				if hd.p == p {
					pay(hd, randomPayee(hd))
				}
			}
		case roller:
			if saved[p] == nil {
				saved[p] = p.purse.Save()
			}
			h.rollBack(w, p, handles, &saved, pay, randomPayee)
		case tamperer:
			if len(p.purse.Upload().Received) > 0 {
				break
			}
			i := slices.IndexFunc(handles, func(x *handle) bool {
				return h.roles[x.p] == honest && x.p != p && x.purse.Balance() >= 100
			})
			if i < 0 {
				t.Fatal("no honest purse can pay the tamperer")
			}
			pay(handles[i], p)
		case forger:
			hd := handles[slices.IndexFunc(handles, func(x *handle) bool { return x.purse == p.purse })]
			for sum := h.sent(serial(p)); sum <= h.funded[serial(p)]; sum = h.sent(serial(p)) {
				if p.purse.Balance() < 100 {
					p.purse.ForgeBalance(20_000)
				}
				pay(hd, randomPayee(hd))
			}
		}
	}
	h.collect(w, rng, handles)
	// Honest people in good standing defund part of their purse once they
	// have synced it.
	for _, p := range h.people {
		if h.roles[p] != honest || p.purse.Balance() < 100 || rng.IntN(3) != 0 {
			continue
		}
		up := p.purse.Upload()
		r := offline.SyncReceipt{Serial: up.Serial, Counter: up.Counter, Received: up.ReceivedBefore + uint64(len(up.Received)), Time: time.Now()}
		r.Sign(w.keys[p.bank])
		if err := p.purse.ApplySync(r, nil); err != nil {
			t.Fatal(err)
		}
		d, err := p.purse.Defund(100*(1+rng.Int64N(p.purse.Balance()/100)), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		h.vouchers[d.Hash()] = d
		h.add(p, [][]byte{d.Marshal()}, nil)
	}
	// The ledger's files as they are before any upload.
	if err := w.s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.l.Close(); err != nil {
		t.Fatal(err)
	}
	h.dir = w.dir
	return h
}

// rollBack loads a roller's saved state, making sure it paid something
// since it saved, and pays once more from the old state.
func (h *history) rollBack(w *world, p *person, handles []*handle, saved *map[*person][]byte,
	pay func(*handle, *person) bool, payee func(*handle) *person) {
	t := w.t
	hd := handles[slices.IndexFunc(handles, func(x *handle) bool { return x.p == p })]
	old, err := offline.LoadPurse((*saved)[p])
	if err != nil {
		t.Fatal(err)
	}
	if p.purse.Counter() == old.Counter() {
		if p.purse.Balance() < 100 {
			p.purse.ForgeBalance(100)
		}
		pay(hd, payee(hd))
	}
	p.purse, hd.purse = old, old
	if old.Balance() < 100 {
		old.ForgeBalance(100)
	}
	pay(hd, payee(hd))
	delete(*saved, p)
}

// sent sums the amounts of the genuine vouchers a device made.
func (h *history) sent(sn offline.Serial) int64 {
	var sum int64
	for _, v := range h.vouchers {
		if v.Payer == sn {
			sum += v.Amount
		}
	}
	return sum
}

// collect records what every purse would upload: payees all they received,
// payers a random part of what they sent, split into pieces, some repeated.
// A tamperer replaces one received voucher with a changed copy.
func (h *history) collect(w *world, rng *rand.Rand, handles []*handle) {
	for _, hd := range handles {
		up := hd.purse.Upload()
		cheat := h.roles[hd.p] != honest
		var sent, received [][]byte
		for _, v := range up.Sent {
			if cheat || rng.IntN(2) == 0 {
				sent = append(sent, v.Marshal())
			}
		}
		for i, v := range up.Received {
			if h.roles[hd.p] == tamperer && (i == 0 || rng.IntN(4) == 0) {
				v2 := v
				v2.Amount += 100 * (1 + rng.Int64N(50))
				received = append(received, v2.Marshal())
				h.tampered[serial(hd.p)] = true
				if rng.IntN(2) == 0 {
					continue // and leave the genuine one to its payer
				}
			}
			received = append(received, v.Marshal())
		}
		h.split(hd.p, sent, received, rng)
	}
	// Every genuine voucher reaches the ledger from one side at least.
	byPayer := map[offline.Serial][][]byte{}
	for hash, v := range h.vouchers {
		if !h.uploaded[hash] {
			byPayer[v.Payer] = append(byPayer[v.Payer], v.Marshal())
		}
	}
	for _, p := range h.people {
		if vs := byPayer[serial(p)]; len(vs) > 0 {
			sort.Slice(vs, func(i, j int) bool { return bytes.Compare(vs[i], vs[j]) < 0 })
			h.add(p, vs, nil)
		}
	}
}

// split hands in a device's vouchers in random pieces, some twice.
func (h *history) split(p *person, sent, received [][]byte, rng *rand.Rand) {
	for len(sent)+len(received) > 0 {
		n, m := rng.IntN(len(sent)+1), rng.IntN(len(received)+1)
		if n+m == 0 {
			continue
		}
		h.add(p, sent[:n], received[:m])
		if rng.IntN(5) == 0 {
			h.add(p, sent[:n], received[:m])
		}
		sent, received = sent[n:], received[m:]
	}
}

func (h *history) add(p *person, sent, received [][]byte) {
	h.uploads = append(h.uploads, propUpload{bank: p.bank,
		up: Upload{Device: serial(p), Sent: slices.Clone(sent), Received: slices.Clone(received)}})
	for _, raw := range append(slices.Clone(sent), received...) {
		if v, err := offline.ParseVoucher(raw); err == nil {
			if _, genuine := h.vouchers[v.Hash()]; genuine {
				h.uploaded[v.Hash()] = true
			}
		}
	}
}

// replica opens a copy of the ledger's files as they were before any upload.
func (h *history) replica(t *testing.T, k int) *world {
	dir := filepath.Join(t.TempDir(), fmt.Sprintf("order-%d", k))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			copyFile(t, filepath.Join(h.dir, e.Name()), filepath.Join(dir, e.Name()))
		}
	}
	w := &world{t: t, ctx: t.Context(), dir: dir, cfg: h.cfg, certs: h.certs}
	if w.l, err = ledger.Open(dir, ledger.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.l.Close() })
	w.open()
	return w
}

func copyFile(t *testing.T, from, to string) {
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// propOutcome is what one order of uploads ended with.
type propOutcome struct {
	balances           map[ledger.AccountID]int64
	totals             ledger.Totals
	revoked            []offline.Serial
	settled, payeeLoss int64
}

// check verifies one order's outcome against the history and returns it.
func (h *history) check(w *world, k int) propOutcome {
	t := w.t
	t.Helper()
	pol := w.cfg.Policy
	out := propOutcome{balances: h.balances(w), totals: w.l.Totals()}
	out.totals.Seq, out.totals.Head = 0, "" // the journal differs by order; the money must not
	sum := w.s.Summary()
	out.settled, out.payeeLoss = sum.SettledAmount, sum.LossByPayees
	if sum.Pending != 0 {
		t.Errorf("order %d: %d vouchers pending after the window closed", k, sum.Pending)
	}
	// Each genuine voucher uploaded settled once, in full between escrow,
	// bearer and payee loss, and the ledger's balances are exactly what
	// the results say moved.
	expect := map[ledger.AccountID]int64{}
	for _, p := range h.people {
		expect[p.wallet] = 500_000 - h.funded[serial(p)]
		expect[p.escrow] = h.funded[serial(p)]
	}
	expect["bank-a"], expect["bank-b"], expect[GuaranteeAccount] = w.balanceAt0("bank-a", h), w.balanceAt0("bank-b", h), w.cfg.GuaranteeFund
	lostIn := map[ledger.AccountID]int64{} // payee loss on value paid into an escrow
	results := map[offline.Hash]VoucherResult{}
	var settledSum int64
	for hash, v := range h.vouchers {
		if !h.uploaded[hash] {
			continue
		}
		_, r, ok := w.s.Voucher(hash)
		if !ok || r.Outcome != offline.Settled {
			t.Errorf("order %d: voucher %s#%d (%d yen) ended %+v", k, v.Payer, v.Counter, v.Amount, r)
			continue
		}
		results[hash] = r
		if r.FromEscrow+r.FromBearer+r.PayeeLoss != v.Amount || r.FromEscrow < 0 || r.FromBearer < 0 || r.PayeeLoss < 0 {
			t.Errorf("order %d: voucher %s#%d split %+v", k, v.Payer, v.Counter, r)
		}
		settledSum += r.FromEscrow + r.FromBearer
		payer := h.person(v.Payer)
		expect[payer.escrow] -= r.FromEscrow
		expect[r.PayeeAccount] += r.FromEscrow + r.FromBearer
		if r.FromBearer > 0 {
			expect[r.Bearer] -= r.FromBearer
		}
		lostIn[r.PayeeAccount] += r.PayeeLoss
		switch {
		case pol.LossBearer != offline.Payee && !v.Payee.IsZero() && r.PayeeLoss != 0:
			t.Errorf("order %d: payee of %s#%d lost %d under %s", k, v.Payer, v.Counter, r.PayeeLoss, pol.LossBearer)
		case r.FromBearer > 0 && r.Bearer != map[offline.Bearer]ledger.AccountID{offline.PayerBank: payer.bank, offline.Guarantee: GuaranteeAccount}[pol.LossBearer]:
			t.Errorf("order %d: %s#%d borne by %q under %s", k, v.Payer, v.Counter, r.Bearer, pol.LossBearer)
		}
	}
	if settledSum != sum.SettledAmount {
		t.Errorf("order %d: results settle %d, summary %d", k, settledSum, sum.SettledAmount)
	}
	for id, want := range expect {
		if got := out.balances[id]; got != want {
			t.Errorf("order %d: %s holds %d, the results say %d", k, id, got, want)
		}
	}
	// Exactly the cheaters are revoked, and every attack was caught.
	cheats := h.cheaters(pol.Mode)
	for _, p := range h.people {
		sn := serial(p)
		d, err := w.s.Device(sn)
		if err != nil {
			t.Fatal(err)
		}
		why, cheated := cheats[sn]
		switch {
		case cheated && d.Revoked == "":
			t.Errorf("order %d: %s (%s, %s) was not revoked", k, p.name, h.roles[p], why)
		case !cheated && d.Revoked != "":
			t.Errorf("order %d: honest %s (%s) revoked for %s", k, p.name, h.roles[p], d.Revoked)
		case h.roles[p] != honest && !cheated:
			t.Errorf("order %d: the %s %s left no evidence: funded %d spent %d revoked %q", k, h.roles[p], p.name, h.funded[sn], h.sent(sn), d.Revoked)
		}
		if d.Revoked != "" {
			out.revoked = append(out.revoked, sn)
		}
		// An honest payee's losses are only what its payers could not pay:
		// cheaters, or under payee-bears in intermittent mode a payer that
		// itself went short on value it received.
		if cheated {
			continue
		}
		for hash, r := range results {
			if r.PayeeLoss == 0 || h.vouchers[hash].Payee != sn {
				continue
			}
			payer := h.person(r.Payer)
			if _, c := cheats[r.Payer]; !c && lostIn[payer.escrow] == 0 {
				t.Errorf("order %d: honest %s lost %d on a voucher of honest %s", k, p.name, r.PayeeLoss, payer.name)
			}
		}
	}
	sortSerials(out.revoked)
	crl := w.s.Revocations()
	if err := crl.Verify(w.s.RootKey()); err != nil || len(crl.Serials) != len(out.revoked) ||
		len(out.revoked) > 0 && !slices.Equal(crl.Serials, out.revoked) {
		t.Errorf("order %d: revocation list %v (%v), revoked %v", k, crl.Serials, err, out.revoked)
	}
	return out
}

// balances returns the balance of every account the history touches.
func (h *history) balances(w *world) map[ledger.AccountID]int64 {
	ids := []ledger.AccountID{"bank-a", "bank-b", GuaranteeAccount, ledger.IssuanceAccount}
	for _, p := range h.people {
		ids = append(ids, p.wallet, p.escrow)
	}
	out := map[ledger.AccountID]int64{}
	for _, id := range ids {
		out[id] = w.balance(id)
	}
	return out
}

// balanceAt0 is what a bank held before any upload.
func (w *world) balanceAt0(bank ledger.AccountID, h *history) int64 {
	b := int64(bankFloat)
	for _, p := range h.people {
		if p.bank == bank {
			b -= 500_000
		}
	}
	return b
}

func (h *history) person(sn offline.Serial) *person {
	for _, p := range h.people {
		if serial(p) == sn {
			return p
		}
	}
	panic("no person with serial " + sn.String())
}

// cheaters works out, from the vouchers uploaded alone, which devices broke
// a rule: two vouchers with one counter, a broken chain, spending more than
// was funded (and, in intermittent mode, received), or handing in a voucher
// that is not genuine.
func (h *history) cheaters(mode offline.Mode) map[offline.Serial]string {
	out := map[offline.Serial]string{}
	for sn := range h.tampered {
		out[sn] = "uploaded a tampered voucher"
	}
	slots := map[offline.VoucherKey][]offline.Voucher{}
	spent, received := map[offline.Serial]int64{}, map[offline.Serial]int64{}
	for hash, v := range h.vouchers {
		if !h.uploaded[hash] {
			continue
		}
		slots[v.Key()] = append(slots[v.Key()], v)
		spent[v.Payer] += v.Amount
		received[v.Payee] += v.Amount
	}
	for key, vs := range slots {
		if len(vs) > 1 {
			out[key.Payer] = "double spend"
			continue
		}
		if next := slots[offline.VoucherKey{Payer: key.Payer, Counter: key.Counter + 1}]; len(next) == 1 && next[0].Prev != vs[0].Hash() {
			out[key.Payer] = "chain fork"
		}
	}
	for sn, s := range spent {
		in := h.funded[sn]
		if mode == offline.Intermittent {
			in += received[sn]
		}
		if s > in {
			if _, ok := out[sn]; !ok {
				out[sn] = fmt.Sprintf("spent %d of %d", s, in)
			}
		}
	}
	return out
}
