package ledger

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var modelSeedFlag = flag.Uint64("model.seed", 0, "seed for TestLedger_MatchesModel; 0 picks a new one")

const (
	modelSteps      = 3000
	modelShortSteps = 600
	modelReopen     = 400 // steps between reopening the ledger from its files
)

// TestLedger_MatchesModel drives the ledger with random operations and checks
// every answer, every account and the totals after every step against a plain
// in-memory model of the rules in doc.go and errors.go. The model is written
// from those rules, not from state.go, so the two can disagree. A failure
// names its seed; -model.seed repeats the run exactly.
func TestLedger_MatchesModel(t *testing.T) {
	seed := *modelSeedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (repeat with -model.seed=%d)", seed, seed)
	steps := modelSteps
	if testing.Short() {
		steps = modelShortSteps
	}
	r := newModelRun(t, seed)
	for r.step = 1; r.step <= steps; r.step++ {
		switch {
		case r.step%modelReopen == 0:
			r.reopen()
		case r.rng.IntN(40) == 0:
			r.submitTogether()
		default:
			r.do(r.genOp())
		}
	}
	r.finish()
}

// TestLedger_OpenRefusesIssuanceAsIntermediary: the issuance account serves
// no accounts, so naming it as the serving intermediary must be refused like
// naming any other account that is not an intermediary, and must not make a
// retry of an untagged open look identical.
func TestLedger_OpenRefusesIssuanceAsIntermediary(t *testing.T) {
	l := openTest(t, Options{})
	ctx := context.Background()
	for i, k := range []Kind{KindIntermediary, KindWallet, KindEscrow, KindLoss} {
		id := AccountID(fmt.Sprintf("acct-%d", i))
		_, err := l.OpenAccount(ctx, fmt.Sprintf("open-%d", i), AccountSpec{ID: id, Kind: k, Intermediary: IssuanceAccount})
		if !errors.Is(err, ErrWrongKind) {
			a, _ := l.Account(id)
			t.Errorf("open %s served by %q: err = %v, want %s; account now %+v", k, IssuanceAccount, err, ErrWrongKind.Code, a)
		}
	}
	if _, err := l.OpenAccount(ctx, "open-e", AccountSpec{ID: "esc", Kind: KindEscrow}); err != nil {
		t.Fatal(err)
	}
	_, err := l.OpenAccount(ctx, "open-e", AccountSpec{ID: "esc", Kind: KindEscrow, Intermediary: IssuanceAccount})
	if !errors.Is(err, ErrOpIDReused) {
		t.Errorf("same op id, other intermediary: err = %v, want %s", err, ErrOpIDReused.Code)
	}
}

// TestLedger_HistoryCursorStaysOnAccount: a cursor that History did not hand
// out must not turn one account's history into a window on other accounts'
// operations. Wallets are pseudonymous, and a wallet service will pass its
// clients' cursors through.
func TestLedger_HistoryCursorStaysOnAccount(t *testing.T) {
	f := newFixture(t)
	alice, err := f.l.Account("alice")
	if err != nil {
		t.Fatal(err)
	}
	var foreign []uint64
	for cursor := uint64(1); cursor <= alice.LastSeq; cursor++ {
		page, _, err := f.l.History("alice", cursor, 10)
		if err != nil {
			if !errors.Is(err, ErrBadCursor) {
				t.Errorf("History(alice, %d): err = %v, want ErrBadCursor or a page", cursor, err)
			}
			continue
		}
		for _, e := range page {
			if !modelTouches(e, "alice") {
				foreign = append(foreign, e.Seq)
			}
		}
	}
	if len(foreign) > 0 {
		t.Errorf("History(alice, cursor) returned operations that do not touch alice: seqs %v", foreign)
	}
}

func modelTouches(e Event, id AccountID) bool {
	if e.Account == id {
		return true
	}
	for _, tr := range slices.Concat(e.Transfers, e.Sweeps) {
		if tr.From == id || tr.To == id {
			return true
		}
	}
	return false
}

// ---- the model ----

// modelIDPattern is the documented shape of account and operation ids.
var modelIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:@-]{1,64}$`)

func modelValidID(s string) bool { return modelIDPattern.MatchString(s) }

// modelAcct is an account as the ledger should report it, and the sequence
// numbers of the operations that touched it, oldest first.
type modelAcct struct {
	Account
	hist []uint64
}

// modelDone is a committed operation and the receipt its retries must get.
type modelDone struct {
	o    *op
	rcpt Receipt
}

type model struct {
	accts   map[AccountID]*modelAcct
	order   []AccountID // in opening order, for reproducible picks
	seq     uint64
	done    map[string]modelDone
	doneIDs []string          // committed op ids but genesis, for picking retries
	opAt    map[uint64]string // op id committed at each sequence
}

// modelWant is the predicted outcome of one operation: refused with err,
// answered with an earlier receipt, or (both nil) committed afresh.
type modelWant struct {
	err   *Error
	retry *Receipt
}

func newModel(genesis Receipt) *model {
	m := &model{accts: map[AccountID]*modelAcct{}, done: map[string]modelDone{}, opAt: map[uint64]string{}}
	m.seq = 1
	m.addAccount(AccountSpec{ID: IssuanceAccount, Kind: KindIssuance})
	m.done["genesis"] = modelDone{o: &op{typ: opGenesis, id: "genesis"}, rcpt: genesis}
	m.opAt[1] = "genesis"
	return m
}

func (m *model) addAccount(s AccountSpec) {
	m.accts[s.ID] = &modelAcct{Account: Account{ID: s.ID, Kind: s.Kind, Intermediary: s.Intermediary,
		OpenedSeq: m.seq, LastSeq: m.seq, Holder: s.Holder, Limits: s.Limits}, hist: []uint64{m.seq}}
	m.order = append(m.order, s.ID)
}

func (m *model) balanceOf(id AccountID) int64 {
	if a := m.accts[id]; a != nil {
		return a.Balance
	}
	return 0
}

func (m *model) circulation() int64 { return -m.accts[IssuanceAccount].Balance }

// predict says what the ledger must answer to o, in the order the rules
// apply: the op id's shape, then the named accounts, then the op id's
// history, then the ledger rules.
func (m *model) predict(o *op) modelWant {
	if !modelValidID(o.id) {
		return modelWant{err: ErrInvalidOpID}
	}
	nameErr := m.resolve(o)
	if d, used := m.done[o.id]; used {
		if nameErr != nil || !modelSameOp(d.o, o) {
			return modelWant{err: ErrOpIDReused}
		}
		return modelWant{retry: &d.rcpt}
	}
	if nameErr != nil {
		return modelWant{err: nameErr}
	}
	return modelWant{err: m.rules(o)}
}

func modelSameOp(a, b *op) bool {
	return a.typ == b.typ && a.spec == b.spec && slices.Equal(a.transfers, b.transfers)
}

func (m *model) lookup(id AccountID) *Error {
	if !modelValidID(string(id)) {
		return ErrInvalidAccountID
	}
	if m.accts[id] == nil {
		return ErrUnknownAccount
	}
	return nil
}

// resolve checks the account ids an operation names.
func (m *model) resolve(o *op) *Error {
	switch o.typ {
	case opOpen:
		if !modelValidID(string(o.spec.ID)) {
			return ErrInvalidAccountID
		}
		if o.spec.Intermediary != "" {
			if err := m.lookup(o.spec.Intermediary); err != nil {
				return err
			}
		}
		if o.spec.Holder != "" && !modelValidID(string(o.spec.Holder)) {
			return ErrInvalidHolder
		}
		return nil
	case opClose, opLimits:
		return m.lookup(o.spec.ID)
	}
	if o.typ == opBatch && (len(o.transfers) == 0 || len(o.transfers) > MaxBatchTransfers) {
		return ErrBatchSize
	}
	for _, tr := range o.transfers {
		if err := m.lookup(tr.From); err != nil {
			return err
		}
		if err := m.lookup(tr.To); err != nil {
			return err
		}
	}
	return nil
}

func (m *model) rules(o *op) *Error {
	switch o.typ {
	case opOpen:
		return m.openRule(o.spec)
	case opClose:
		return m.closeRule(m.accts[o.spec.ID])
	case opLimits:
		return m.limitsRule(m.accts[o.spec.ID], o.spec.Limits)
	}
	_, _, err := m.post(o)
	return err
}

func (m *model) openRule(s AccountSpec) *Error {
	if m.accts[s.ID] != nil {
		return ErrAccountExists
	}
	switch s.Kind {
	case KindIntermediary:
		if s.Intermediary != "" {
			return ErrWrongKind // intermediaries are served by nobody
		}
	case KindWallet, KindEscrow, KindLoss:
		if s.Intermediary == "" {
			if s.Kind == KindWallet {
				return ErrWrongKind // a wallet must be served
			}
			break
		}
		if tag := m.accts[s.Intermediary]; tag.Kind != KindIntermediary {
			return ErrWrongKind
		} else if tag.Closed {
			return ErrAccountClosed
		}
	default:
		return ErrWrongKind // issuance or no kind at all
	}
	return modelTermsRule(s)
}

func (m *model) closeRule(a *modelAcct) *Error {
	switch {
	case a.Kind == KindIssuance:
		return ErrWrongKind
	case a.Closed:
		return ErrAccountClosed
	case a.Balance != 0:
		return ErrAccountNotEmpty
	case m.serves(a.ID):
		return ErrAccountInUse
	}
	return nil
}

// serves reports whether any open account names id as its intermediary.
func (m *model) serves(id AccountID) bool {
	for _, a := range m.accts {
		if a.Intermediary == id && !a.Closed {
			return true
		}
	}
	return false
}

// post applies an operation's transfers in order to a copy of the balances
// it touches, all or none, then the holding limits, and returns the new
// balances and the sweeps.
func (m *model) post(o *op) (map[AccountID]int64, []Transfer, *Error) {
	bal := map[AccountID]int64{}
	get := func(id AccountID) int64 {
		if v, ok := bal[id]; ok {
			return v
		}
		return m.accts[id].Balance
	}
	for _, tr := range o.transfers {
		if err := m.postRule(o.typ, tr, get(tr.From), get(tr.To)); err != nil {
			return nil, nil, err
		}
		bal[tr.From] = get(tr.From) - tr.Amount
		bal[tr.To] = get(tr.To) + tr.Amount
	}
	if o.typ != opTransfer && o.typ != opBatch {
		return bal, nil, nil
	}
	sweeps, err := m.holdingLimits(o, bal)
	return bal, sweeps, err
}

func (m *model) postRule(typ opType, tr Transfer, fromBal, toBal int64) *Error {
	from, to := m.accts[tr.From], m.accts[tr.To]
	switch {
	case tr.Amount <= 0:
		return ErrInvalidAmount
	case tr.From == tr.To:
		return ErrSameAccount
	case from.Closed || to.Closed:
		return ErrAccountClosed
	}
	if err := modelRoute(typ, from.Kind, to.Kind); err != nil {
		return err
	}
	if from.Kind == KindIssuance {
		if tr.Amount > math.MaxInt64-(-fromBal) { // circulation would pass MaxInt64
			return ErrAmountOverflow
		}
	} else if fromBal < tr.Amount {
		return ErrInsufficientFunds
	}
	if toBal > math.MaxInt64-tr.Amount {
		return ErrAmountOverflow
	}
	return nil
}

// modelRoute: issue and redeem alone move money through the issuance
// account; the central bank issues to intermediaries and loss accounts.
func modelRoute(typ opType, from, to Kind) *Error {
	switch typ {
	case opIssue:
		if from != KindIssuance || (to != KindIntermediary && to != KindLoss) {
			return ErrWrongKind
		}
	case opRedeem:
		if from != KindIntermediary || to != KindIssuance {
			return ErrWrongKind
		}
	default:
		if from == KindIssuance || to == KindIssuance {
			return ErrIssuanceAccount
		}
	}
	return nil
}

// apply records a committed operation.
func (m *model) apply(o *op, rc Receipt) {
	m.seq++
	switch o.typ {
	case opOpen:
		m.addAccount(o.spec)
	case opClose:
		m.accts[o.spec.ID].Closed = true
		m.touch(o.spec.ID)
	case opLimits:
		m.accts[o.spec.ID].Limits = o.spec.Limits
		m.touch(o.spec.ID)
	default:
		bal, sweeps, _ := m.post(o)
		for _, tr := range slices.Concat(o.transfers, sweeps) {
			for _, id := range []AccountID{tr.From, tr.To} {
				m.accts[id].Balance = bal[id]
				m.touch(id)
			}
		}
	}
	m.done[o.id] = modelDone{o: o, rcpt: rc}
	m.doneIDs = append(m.doneIDs, o.id)
	m.opAt[m.seq] = o.id
}

func (m *model) touch(id AccountID) {
	a := m.accts[id]
	a.LastSeq = m.seq
	if a.hist[len(a.hist)-1] != m.seq {
		a.hist = append(a.hist, m.seq)
	}
}

func (m *model) totals() Totals {
	t := Totals{Accounts: len(m.order), Seq: m.seq}
	for _, a := range m.accts {
		switch a.Kind {
		case KindIssuance:
			t.Circulation -= a.Balance
		case KindIntermediary:
			t.Intermediaries += a.Balance
		case KindWallet:
			t.Wallets += a.Balance
		case KindEscrow:
			t.Escrow += a.Balance
		case KindLoss:
			t.Loss += a.Balance
		}
	}
	return t
}

// ---- the run: a ledger, the model, and the checks between them ----

// modelClock stamps records deterministically, a microsecond apart.
type modelClock struct{ n atomic.Int64 }

func (c *modelClock) now() time.Time {
	return time.Unix(0, 1_700_000_000_000_000_000+c.n.Add(1)*1000)
}

type modelRun struct {
	t     *testing.T
	seed  uint64
	rng   *rand.Rand
	ctx   context.Context
	dir   string
	opts  Options
	l     *Ledger
	m     *model
	step  int
	ops   int            // operation ids handed out
	accts int            // account ids handed out
	freed []string       // ids of refused operations, free to use again
	tally map[string]int // outcomes seen, logged to show what the run reached
}

func newModelRun(t *testing.T, seed uint64) *modelRun {
	r := &modelRun{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		ctx: context.Background(), dir: t.TempDir(), tally: map[string]int{}}
	r.opts = Options{Now: (&modelClock{}).now, CheckpointEvery: r.genCheckpointEvery()}
	r.open()
	t.Cleanup(func() { r.l.Close() })
	ev, err := r.l.Events(1, 1)
	if err != nil || len(ev) != 1 {
		t.Fatalf("genesis event: %v, %v", ev, err)
	}
	r.m = newModel(Receipt{OpID: "genesis", Seq: 1, Time: ev[0].Time})
	r.checkState()
	return r
}

func (r *modelRun) open() {
	l, err := Open(r.dir, r.opts)
	if err != nil {
		r.fatalf("open: %v", err)
	}
	r.l = l
}

func (r *modelRun) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("step %d (seed %d): %s", r.step, r.seed, fmt.Sprintf(format, args...))
}

// do submits one operation and checks the answer and the whole state.
func (r *modelRun) do(o *op) {
	r.t.Helper()
	want := r.m.predict(o)
	rc, err := r.submit(o)
	r.expect(o, want, rc, err)
	r.checkState()
}

func (r *modelRun) submit(o *op) (Receipt, error) {
	l, ctx := r.l, r.ctx
	switch o.typ {
	case opOpen:
		return l.OpenAccount(ctx, o.id, o.spec)
	case opClose:
		return l.CloseAccount(ctx, o.id, o.spec.ID)
	case opLimits:
		return l.SetLimits(ctx, o.id, o.spec.ID, o.spec.Limits)
	case opIssue:
		return l.Issue(ctx, o.id, o.transfers[0].To, o.transfers[0].Amount)
	case opRedeem:
		return l.Redeem(ctx, o.id, o.transfers[0].From, o.transfers[0].Amount)
	case opTransfer:
		tr := o.transfers[0]
		return l.Transfer(ctx, o.id, tr.From, tr.To, tr.Amount)
	}
	return l.Batch(ctx, o.id, o.transfers)
}

// expect checks one answer against the prediction and moves the model on.
func (r *modelRun) expect(o *op, want modelWant, rc Receipt, err error) {
	r.t.Helper()
	switch {
	case want.err != nil:
		r.expectRefused(o, want.err, err)
	case want.retry != nil:
		if err != nil || !modelSameReceipt(rc, *want.retry) {
			r.fatalf("retry of %s: got %+v, %v; want the first receipt %+v", modelDescribe(o), rc, err, *want.retry)
		}
		r.tally["retry"]++
	default:
		if err != nil || rc.Seq != r.m.seq+1 || rc.OpID != o.id {
			r.fatalf("%s: got %+v, %v; want success at seq %d", modelDescribe(o), rc, err, r.m.seq+1)
		}
		if _, sweeps, _ := r.m.post(o); len(sweeps) > 0 {
			r.tally[o.typ.String()+" swept"]++
		}
		r.m.apply(o, rc)
		r.tally[o.typ.String()+" ok"]++
	}
}

func (r *modelRun) expectRefused(o *op, want *Error, err error) {
	r.t.Helper()
	var oe *OpError
	if !errors.Is(err, want) || ErrorCode(err) != want.Code || !errors.As(err, &oe) ||
		oe.ID != o.id || oe.Op != o.typ.String() {
		r.fatalf("%s: got %v; want refusal %s", modelDescribe(o), err, want.Code)
	}
	if _, used := r.m.done[o.id]; !used && modelValidID(o.id) {
		r.freed = append(r.freed, o.id) // a refusal leaves its id unused
	}
	r.tally[o.typ.String()+" "+want.Code]++
}

func modelSameReceipt(a, b Receipt) bool {
	return a.OpID == b.OpID && a.Seq == b.Seq && a.Time.Equal(b.Time)
}

func modelDescribe(o *op) string {
	trs, more := o.transfers, ""
	if len(trs) > 4 {
		trs, more = trs[:4], fmt.Sprintf(" and %d more", len(trs)-4)
	}
	return fmt.Sprintf("%s %q spec=%+v transfers=%+v%s", o.typ, o.id, o.spec, trs, more)
}

// checkState compares every account and the totals with the model, and
// makes sure an id the model never opened reads as unknown.
func (r *modelRun) checkState() {
	r.t.Helper()
	for _, id := range r.m.order {
		want := r.m.accts[id].Account
		got, err := r.l.Account(id)
		if err != nil || got != want {
			r.fatalf("account %s: got %+v, %v; want %+v", id, got, err, want)
		}
		if bal, err := r.l.Balance(id); err != nil || bal != want.Balance {
			r.fatalf("balance %s: got %d, %v; want %d", id, bal, err, want.Balance)
		}
	}
	r.checkTotals()
	r.checkHolders()
	stranger := r.strange()
	if _, err := r.l.Account(stranger); !errors.Is(err, r.m.lookup(stranger)) {
		r.fatalf("account %q: got %v, want %v", stranger, err, r.m.lookup(stranger))
	}
}

func (r *modelRun) checkTotals() {
	r.t.Helper()
	got, want := r.l.Totals(), r.m.totals()
	if !got.Conserved() {
		r.fatalf("totals not conserved: %+v", got)
	}
	got.Head = "" // the model keeps no hashes
	if got != want {
		r.fatalf("totals: got %+v, want %+v", got, want)
	}
}

// submitTogether fires one operation from several goroutines at once: the
// ledger must sequence it at most once and give every caller the answer a
// lone caller would get.
func (r *modelRun) submitTogether() {
	r.t.Helper()
	o := r.genOp()
	want := r.m.predict(o)
	type answer struct {
		rc  Receipt
		err error
	}
	answers := make([]answer, 2+r.rng.IntN(6))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			<-start
			answers[i].rc, answers[i].err = r.submit(o)
		})
	}
	close(start)
	wg.Wait()
	for _, a := range answers[1:] {
		if ErrorCode(a.err) != ErrorCode(answers[0].err) || (a.err == nil) != (answers[0].err == nil) ||
			!modelSameReceipt(a.rc, answers[0].rc) {
			r.fatalf("%s from %d callers: answers differ: %+v", modelDescribe(o), len(answers), answers)
		}
	}
	r.expect(o, want, answers[0].rc, answers[0].err)
	r.checkState() // the state moved once, not once per caller
	r.tally["together"]++
}

// reopen closes the ledger and opens it again in the same directory, so
// everything must be rebuilt from the checkpoint and the journal after it,
// or, with the checkpoint removed, from the whole journal.
func (r *modelRun) reopen() {
	r.t.Helper()
	before := r.l.Totals()
	old := r.l
	if err := old.Close(); err != nil {
		r.fatalf("close: %v", err)
	}
	if _, err := old.Issue(r.ctx, "after-close", "bank", 1); !errors.Is(err, ErrClosed) {
		r.fatalf("issue on a closed ledger: got %v, want %s", err, ErrClosed.Code)
	}
	if r.rng.IntN(3) == 0 {
		if err := os.Remove(filepath.Join(r.dir, CheckpointFileName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.fatalf("remove checkpoint: %v", err)
		}
		r.tally["reopen from genesis"]++
	} else {
		r.tally["reopen from checkpoint"]++
	}
	r.opts.CheckpointEvery = r.genCheckpointEvery()
	r.open()
	if after := r.l.Totals(); after != before {
		r.fatalf("totals changed across reopen: before %+v, after %+v", before, after)
	}
	r.checkState()
	r.checkHistories()
	for range 5 { // every operation so far was committed before the reopen
		if o := r.genRetry(); o != nil {
			r.do(o)
		}
		if o := r.genReuse(); o != nil {
			r.do(o)
		}
	}
}

// genCheckpointEvery makes checkpoints happen at every commit, now and
// then, or only at Close (0 means the default, far beyond this test).
func (r *modelRun) genCheckpointEvery() int { return modelPick(r.rng, []int{0, 1, 10, 100}) }

// checkHistories pages through the history of a few accounts.
func (r *modelRun) checkHistories() {
	r.t.Helper()
	ids := []AccountID{IssuanceAccount, r.busiest(), r.pickWhere(func(a *modelAcct) bool { return a.Closed }), r.pickAny()}
	for _, id := range ids {
		r.checkHistory(id, []int{1, 2, 3, 7, 50, 0}[r.rng.IntN(6)])
	}
	stranger := r.strange()
	if _, _, err := r.l.History(stranger, 0, 10); !errors.Is(err, r.m.lookup(stranger)) {
		r.fatalf("history of %q: got %v, want %v", stranger, err, r.m.lookup(stranger))
	}
}

func (r *modelRun) busiest() AccountID {
	best := IssuanceAccount
	for _, id := range r.m.order[1:] {
		if best == IssuanceAccount || len(r.m.accts[id].hist) > len(r.m.accts[best].hist) {
			best = id
		}
	}
	return best
}

// checkHistory follows History's pages, newest first, and compares the
// sequence numbers with the operations the model saw touch the account.
func (r *modelRun) checkHistory(id AccountID, limit int) {
	r.t.Helper()
	want := slices.Clone(r.m.accts[id].hist)
	slices.Reverse(want)
	full := limit // what a full page holds
	if full <= 0 || full > MaxPage {
		full = MaxPage
	}
	var got []uint64
	for cursor := uint64(0); ; {
		page, next, err := r.l.History(id, cursor, limit)
		if err != nil || len(page) > full {
			r.fatalf("history %s from %d limit %d: %d events, %v", id, cursor, limit, len(page), err)
		}
		for _, e := range page {
			if e.OpID != r.m.opAt[e.Seq] {
				r.fatalf("history %s: event %d has op id %q, want %q", id, e.Seq, e.OpID, r.m.opAt[e.Seq])
			}
			got = append(got, e.Seq)
		}
		if next == 0 {
			break
		}
		if len(page) != full || len(got) > len(want) {
			r.fatalf("history %s limit %d: page of %d events goes on at %d", id, limit, len(page), next)
		}
		cursor = next
	}
	if !slices.Equal(got, want) {
		r.fatalf("history %s limit %d: got %v, want %v", id, limit, got, want)
	}
}

// finish checks the histories, closes the ledger and audits its directory.
func (r *modelRun) finish() {
	r.t.Helper()
	r.checkHistories()
	final := r.l.Totals()
	if err := r.l.Close(); err != nil {
		r.fatalf("close: %v", err)
	}
	rep := mustAudit(r.t, r.dir)
	if rep.Records != r.m.seq || rep.Totals != final {
		r.fatalf("audit: %d records, totals %+v; ledger said %d records, %+v", rep.Records, rep.Totals, r.m.seq, final)
	}
	outcomes := make([]string, 0, len(r.tally))
	for k, n := range r.tally {
		outcomes = append(outcomes, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(outcomes)
	r.t.Logf("%d steps, %d records, %d accounts; outcomes: %s", r.step-1, r.m.seq, len(r.m.order), strings.Join(outcomes, " "))
}

// ---- generating operations ----

// modelBadIDs break the id rules: empty, too long, or with other characters.
var modelBadIDs = []string{"", "has space", "semi;colon", "slash/", "ünïcode", strings.Repeat("x", 65)}

func modelPick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// genOp draws the next operation: mostly plausible ones, so balances build
// up and every rule gets reached, with retries and broken input mixed in.
func (r *modelRun) genOp() *op {
	switch p := r.rng.IntN(100); {
	case p < 8:
		if o := r.genRetry(); o != nil {
			return o
		}
	case p < 13:
		if o := r.genReuse(); o != nil {
			return o
		}
	}
	o := r.genFresh()
	o.id = r.genOpID()
	return o
}

func (r *modelRun) genFresh() *op {
	switch p := r.rng.IntN(100); {
	case p < 15:
		return &op{typ: opOpen, spec: r.genSpec()}
	case p < 22:
		return &op{typ: opClose, spec: AccountSpec{ID: r.genClosee()}}
	case p < 28:
		return r.genSetLimits()
	case p < 35:
		return r.genIssue()
	case p < 43:
		return r.genRedeem()
	case p < 80:
		return &op{typ: opTransfer, transfers: []Transfer{r.genTransfer()}}
	}
	return &op{typ: opBatch, transfers: r.genBatch()}
}

func (r *modelRun) genOpID() string {
	switch p := r.rng.IntN(100); {
	case p < 3:
		return modelPick(r.rng, modelBadIDs)
	case p < 4:
		return "genesis" // taken by the genesis record
	case p < 10 && len(r.freed) > 0:
		return modelPick(r.rng, r.freed)
	case p < 11: // the longest id allowed
		r.ops++
		s := fmt.Sprintf("op:%d@", r.ops)
		return s + strings.Repeat("z", 64-len(s))
	}
	r.ops++
	return fmt.Sprintf("op-%d", r.ops)
}

// genRetry resubmits a committed operation unchanged.
func (r *modelRun) genRetry() *op {
	if len(r.m.doneIDs) == 0 {
		return nil
	}
	return modelClone(r.m.done[modelPick(r.rng, r.m.doneIDs)].o)
}

// genReuse submits other contents under a committed operation's id.
func (r *modelRun) genReuse() *op {
	if len(r.m.doneIDs) == 0 {
		return nil
	}
	id := modelPick(r.rng, r.m.doneIDs)
	var o *op
	if r.rng.IntN(2) == 0 {
		o = r.mutate(r.m.done[id].o)
	} else {
		o = r.genFresh()
	}
	o.id = id
	return o
}

func modelClone(o *op) *op {
	c := *o
	c.transfers = slices.Clone(o.transfers)
	return &c
}

// mutate changes one thing about an operation; rarely the change is a no-op
// and the model expects a retry.
func (r *modelRun) mutate(orig *op) *op {
	o := modelClone(orig)
	switch o.typ {
	case opOpen:
		switch r.rng.IntN(4) {
		case 0:
			o.spec.Kind = r.genKind()
		case 1:
			o.spec.Intermediary = r.genTag(o.spec.Kind)
		case 2:
			o.spec.Holder = modelPick(r.rng, modelTokens)
		default:
			o.spec.ID += "x"
		}
	case opClose:
		o.spec.ID = r.pickAny()
	case opLimits:
		if r.rng.IntN(2) == 0 {
			o.spec.Limits.Holding++
		} else {
			o.spec.Limits.Sweep = !o.spec.Limits.Sweep
		}
	case opTransfer:
		if r.rng.IntN(2) == 0 {
			o.typ = opBatch // the same transfer, as a batch of one
			break
		}
		o.transfers[0].Amount++
	default:
		o.transfers[r.rng.IntN(len(o.transfers))].Amount++
	}
	return o
}

func (r *modelRun) pickAny() AccountID { return modelPick(r.rng, r.m.order) }

// pickWhere returns a random account satisfying ok, or any account when none does.
func (r *modelRun) pickWhere(ok func(*modelAcct) bool) AccountID {
	var c []AccountID
	for _, id := range r.m.order {
		if ok(r.m.accts[id]) {
			c = append(c, id)
		}
	}
	if len(c) == 0 {
		return r.pickAny()
	}
	return modelPick(r.rng, c)
}

func modelIsInter(a *modelAcct) bool { return a.Kind == KindIntermediary }
func modelIsOpen(a *modelAcct) bool  { return !a.Closed && a.Kind != KindIssuance }
func modelIsPayer(a *modelAcct) bool { return modelIsOpen(a) && a.Balance > 0 }

// strange returns an account id the model never opened: unknown or malformed.
func (r *modelRun) strange() AccountID {
	if r.rng.IntN(2) == 0 {
		return AccountID(modelPick(r.rng, modelBadIDs))
	}
	return AccountID(fmt.Sprintf("nobody-%d", r.rng.IntN(1000)))
}

// genAccount names a counterparty: mostly open accounts, sometimes the
// issuance account, closed accounts or ones that do not exist.
func (r *modelRun) genAccount() AccountID {
	switch p := r.rng.IntN(100); {
	case p < 4:
		return r.strange()
	case p < 8:
		return IssuanceAccount
	case p < 75:
		return r.pickWhere(modelIsOpen)
	}
	return r.pickAny()
}

func (r *modelRun) genSpec() AccountSpec {
	k := r.genKind()
	s := AccountSpec{ID: r.genNewID(k), Kind: k, Intermediary: r.genTag(k)}
	r.genTerms(&s)
	if s.Intermediary == IssuanceAccount && r.m.accts[s.ID] != nil {
		// Which of the two refusals wins is not a documented rule.
		s.ID = r.genNewID(k)
		if r.m.accts[s.ID] != nil {
			s.Intermediary = ""
		}
	}
	return s
}

func (r *modelRun) genKind() Kind {
	switch p := r.rng.IntN(100); {
	case p < 20:
		return KindIntermediary
	case p < 65:
		return KindWallet
	case p < 80:
		return KindEscrow
	case p < 95:
		return KindLoss
	}
	return modelPick(r.rng, []Kind{0, KindIssuance, 6, 255})
}

var modelPrefix = map[Kind]string{KindIntermediary: "bank-", KindWallet: "w:", KindEscrow: "esc@", KindLoss: "loss."}

func (r *modelRun) genNewID(k Kind) AccountID {
	switch p := r.rng.IntN(100); {
	case p < 4:
		return r.pickAny() // taken, perhaps by a closed account or the issuance account
	case p < 7:
		return AccountID(modelPick(r.rng, modelBadIDs))
	}
	r.accts++
	prefix, ok := modelPrefix[k]
	if !ok {
		prefix = "odd-"
	}
	return AccountID(fmt.Sprintf("%s%d", prefix, r.accts))
}

// genTag names the intermediary serving a new account: wallets need one,
// escrow and loss accounts may have one, intermediaries must not.
func (r *modelRun) genTag(k Kind) AccountID {
	p := r.rng.IntN(100)
	switch {
	case p < 6:
		return r.strange()
	case p < 9:
		return IssuanceAccount // not an intermediary
	case p < 14:
		return r.pickAny() // often not an intermediary, sometimes closed
	case k == KindWallet || (k != KindIntermediary && p < 55):
		return r.pickWhere(modelIsInter) // sometimes closed
	}
	return ""
}

func (r *modelRun) genClosee() AccountID {
	switch p := r.rng.IntN(100); {
	case p < 5:
		return r.strange()
	case p < 50:
		return r.pickWhere(func(a *modelAcct) bool { return modelIsOpen(a) && a.Balance == 0 })
	case p < 55:
		return r.pickWhere(func(a *modelAcct) bool { return modelIsInter(a) && a.Balance == 0 && !a.Closed })
	case p < 65:
		return r.pickWhere(modelIsInter) // often still serving accounts
	}
	return r.pickAny()
}

func (r *modelRun) genIssue() *op {
	to := r.genAccount()
	if r.rng.IntN(100) < 85 {
		to = r.pickWhere(func(a *modelAcct) bool { return modelIsInter(a) && !a.Closed })
	}
	return &op{typ: opIssue, transfers: []Transfer{{IssuanceAccount, to, r.genIssueAmount()}}}
}

// genIssueAmount is mostly modest, sometimes exactly what fills circulation
// to math.MaxInt64, one yen more, or not positive.
func (r *modelRun) genIssueAmount() int64 {
	room := math.MaxInt64 - r.m.circulation()
	switch p := r.rng.IntN(200); {
	case p == 0:
		return room
	case p < 4 && room < math.MaxInt64:
		return room + 1
	case p < 6:
		return math.MaxInt64
	case p < 9:
		return 0
	case p < 12:
		return -1 - r.rng.Int64N(1000)
	}
	return 1 + r.rng.Int64N(1_000_000)
}

func (r *modelRun) genRedeem() *op {
	from := r.genAccount()
	if r.rng.IntN(100) < 85 {
		from = r.pickWhere(func(a *modelAcct) bool { return modelIsInter(a) && modelIsPayer(a) })
	}
	return &op{typ: opRedeem, transfers: []Transfer{{from, IssuanceAccount, r.genAmount(r.m.balanceOf(from))}}}
}

func (r *modelRun) genTransfer() Transfer {
	from := r.genAccount()
	if r.rng.IntN(100) < 80 {
		from = r.pickWhere(modelIsPayer)
	}
	to := r.genAccount()
	if r.rng.IntN(20) == 0 {
		to = from
	}
	return Transfer{From: from, To: to, Amount: r.genAmount(r.m.balanceOf(from))}
}

// genAmount is mostly within the payer's balance avail, sometimes all of it,
// one yen more, not positive, or absurd.
func (r *modelRun) genAmount(avail int64) int64 {
	switch p := r.rng.IntN(100); {
	case p < 70 && avail > 0:
		return 1 + r.rng.Int64N(avail)
	case p < 70:
		return 1 + r.rng.Int64N(1000)
	case p < 76:
		return avail // drains the account; refused when it is empty
	case p < 80 && avail < math.MaxInt64:
		return avail + 1
	case p < 84:
		return 0
	case p < 87:
		return -1 - r.rng.Int64N(1000)
	case p < 88:
		return math.MinInt64
	case p < 91:
		return math.MaxInt64
	}
	return 1 + r.rng.Int64N(1000)
}

// genBatch builds mostly batches that would succeed, then often breaks one
// transfer, so a failure after good transfers must undo them all.
func (r *modelRun) genBatch() []Transfer {
	switch p := r.rng.IntN(100); {
	case p < 2:
		return nil
	case p < 3:
		return slices.Repeat([]Transfer{r.genTransfer()}, MaxBatchTransfers+1)
	case p < 4:
		return r.goodTransfers(MaxBatchTransfers)
	}
	trs := r.goodTransfers(1 + r.rng.IntN(8))
	if r.rng.IntN(100) < 35 {
		trs[r.rng.IntN(len(trs))] = r.genTransfer()
	}
	return trs
}

// goodTransfers chains up to n transfers that succeed in order: each payer
// holds the amount once the transfers before it are applied.
func (r *modelRun) goodTransfers(n int) []Transfer {
	bal := map[AccountID]int64{}
	get := func(id AccountID) int64 {
		if v, ok := bal[id]; ok {
			return v
		}
		return r.m.balanceOf(id)
	}
	var payers, payees []AccountID
	for _, id := range r.m.order {
		if a := r.m.accts[id]; modelIsOpen(a) {
			payees = append(payees, id)
			if a.Balance > 0 {
				payers = append(payers, id)
			}
		}
	}
	if len(payers) == 0 || len(payees) < 2 {
		return []Transfer{r.genTransfer()}
	}
	trs := make([]Transfer, 0, n)
	for len(trs) < n && len(payers) > 0 {
		i := r.rng.IntN(len(payers))
		from, to := payers[i], modelPick(r.rng, payees)
		if to == from {
			continue
		}
		amt := 1 + r.rng.Int64N(min(get(from), 10_000))
		if get(to) == 0 {
			payers = append(payers, to)
		}
		bal[from], bal[to] = get(from)-amt, get(to)+amt
		if get(from) == 0 {
			payers = slices.Delete(payers, i, i+1)
		}
		trs = append(trs, Transfer{From: from, To: to, Amount: amt})
	}
	return trs
}
