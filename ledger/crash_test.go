package ledger

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The crash test runs the test binary itself as a child process (the usual
// helper-process pattern). The child opens the ledger, retries what the
// parent asks it to, then applies a heavy concurrent mixed load until the
// parent kills it with SIGKILL at a random moment. The child reports on
// stdout, one write per line:
//
//	ready <seq>                  recovered; the journal ends at seq
//	submit <opid> <contents>     about to submit the operation
//	ack <opid> <seq> <time>      acknowledged: the receipt's Seq and Time (unix ns)
//	refused <opid> <code>        the ledger refused it (a rule, not a failure)
//	error <opid> <quoted text>   anything else: the test fails
//	spent <n>                    the load's budget of n operations is used up
//
// After each kill the parent reopens the ledger and checks that every
// acknowledged operation is in the journal exactly once at its receipt's
// sequence, that the journal holds nothing the child did not submit (a
// batch only ever whole), that the recovered balances are those the journal
// implies, that retries return the first receipt, and that the audit passes.
// Operation ids are "g<generation>-w<worker>-<n>" and never carry other
// contents, so the parent can hand unfinished operations to the next child
// to retry.

const (
	crashChildEnv = "LEDGER_CRASH_CHILD" // the ledger directory; set only in the child
	crashPlanEnv  = "LEDGER_CRASH_PLAN"  // the child's plan, a JSON file
	crashSeedEnv  = "LEDGER_CRASH_SEED"  // repeat a run's random choices
)

// crashBudget bounds the load of one child. Every check replays the whole
// journal, so its growth sets the test's run time; on two cores under -race
// a child rarely gets this far before its kill.
const crashBudget = 10_000

// crashPlan is what the parent tells one child.
type crashPlan struct {
	Gen            int
	Seed           uint64
	Workers        int
	Budget         int // operations of load, after which the workers idle
	MaxBatch       int
	Intermediaries []AccountID // open accounts, by kind
	Wallets        []AccountID
	Others         []AccountID // escrow and loss
	Retries        []crashRetry
}

type crashRetry struct {
	ID       string
	Contents string
}

// crashOp is an operation in the text form both sides compare: what the
// child submitted and what the journal holds must read the same.
type crashOp struct {
	typ   string // open, close, issue, redeem, transfer, batch (genesis from the journal)
	acct  AccountID
	kind  Kind
	inter AccountID
	ts    []Transfer
}

func (o crashOp) String() string {
	switch o.typ {
	case "open", "genesis":
		return o.typ + "|" + o.kind.String() + "|" + string(o.acct) + "|" + string(o.inter)
	case "close":
		return "close|" + string(o.acct)
	}
	var b strings.Builder
	b.WriteString(o.typ)
	b.WriteByte('|')
	for i, t := range o.ts {
		if i > 0 {
			b.WriteByte(';')
		}
		fmt.Fprintf(&b, "%s>%s>%d", t.From, t.To, t.Amount)
	}
	return b.String()
}

func parseCrashOp(s string) (crashOp, error) {
	f := strings.Split(s, "|")
	o := crashOp{typ: f[0]}
	switch {
	case o.typ == "open" && len(f) == 4:
		k, err := ParseKind(f[1])
		if err != nil {
			return o, err
		}
		o.kind, o.acct, o.inter = k, AccountID(f[2]), AccountID(f[3])
		return o, nil
	case o.typ == "close" && len(f) == 2:
		o.acct = AccountID(f[1])
		return o, nil
	case len(f) != 2:
		return o, fmt.Errorf("crash test: malformed operation %q", s)
	}
	switch o.typ {
	case "issue", "redeem", "transfer", "batch":
	default:
		return o, fmt.Errorf("crash test: unknown operation %q", s)
	}
	for _, leg := range strings.Split(f[1], ";") {
		p := strings.Split(leg, ">")
		if len(p) != 3 {
			return o, fmt.Errorf("crash test: malformed transfer %q in %q", leg, s)
		}
		amt, err := strconv.ParseInt(p[2], 10, 64)
		if err != nil {
			return o, fmt.Errorf("crash test: malformed amount in %q: %v", s, err)
		}
		o.ts = append(o.ts, Transfer{From: AccountID(p[0]), To: AccountID(p[1]), Amount: amt})
	}
	return o, nil
}

// crashOpOf is the journal's view of an operation.
func crashOpOf(e Event) crashOp {
	switch e.Op {
	case "open", "genesis":
		return crashOp{typ: e.Op, acct: e.Account, kind: e.Kind, inter: e.Intermediary}
	case "close":
		return crashOp{typ: "close", acct: e.Account}
	}
	return crashOp{typ: e.Op, ts: e.Transfers}
}

func (o crashOp) submit(ctx context.Context, l *Ledger, id string) (Receipt, error) {
	switch o.typ {
	case "open":
		return l.OpenAccount(ctx, id, AccountSpec{ID: o.acct, Kind: o.kind, Intermediary: o.inter})
	case "close":
		return l.CloseAccount(ctx, id, o.acct)
	case "issue":
		return l.Issue(ctx, id, o.ts[0].To, o.ts[0].Amount)
	case "redeem":
		return l.Redeem(ctx, id, o.ts[0].From, o.ts[0].Amount)
	case "transfer":
		return l.Transfer(ctx, id, o.ts[0].From, o.ts[0].To, o.ts[0].Amount)
	case "batch":
		return l.Batch(ctx, id, o.ts)
	}
	return Receipt{}, fmt.Errorf("crash test: cannot submit %q", o.typ)
}

// crashRefusalOK lists the refusals a correct ledger gives this load: the
// child races its own workers for money and accounts. Anything else (an
// unknown account, a reused id, a storage failure...) means something was
// lost or mixed up.
var crashRefusalOK = map[string]bool{
	ErrInsufficientFunds.Code: true,
	ErrAccountClosed.Code:     true,
	ErrAccountNotEmpty.Code:   true,
	ErrAccountInUse.Code:      true,
}

func TestLedger_CrashRecovery(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChildMain(dir, os.Getenv(crashPlanEnv))
		return
	}
	if testing.Short() {
		testCrashRecovery(t, 5)
	} else {
		testCrashRecovery(t, 20)
	}
}

func testCrashRecovery(t *testing.T, kills int) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
		seed = v
	}
	t.Logf("seed %d (set %s=%d to repeat the same random choices)", seed, crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0x63726173))
	h := &crashHistory{
		t:         t,
		dir:       t.TempDir(),
		planDir:   t.TempDir(),
		submitted: make(map[string]string),
		firstGen:  make(map[string]int),
		acked:     make(map[string]crashRcpt),
		refused:   make(map[string]string),
		journal:   make(map[string]crashRcpt),
		lastSeq:   1, // the first child creates the ledger with its genesis record
	}
	start := time.Now()
	// kills children die under load, some time after their first
	// acknowledgement; about one in eight more die early, anywhere from
	// start-up through recovery and the first retries.
	for gen, loaded := 1, 0; loaded < kills && !t.Failed(); gen++ {
		early := gen > 1 && rng.IntN(8) == 0
		h.generation(gen, rng, early)
		if !early {
			loaded++
		}
	}
	t.Logf("%d kills (%d of them early, %d after the load budget ran out) in %v: %d operations submitted, %d acknowledged, %d presence checks of acknowledged operations "+
		"(each one after every later kill), %d committed without the child seeing the ack, %d retries of earlier "+
		"operations handed to children, %d retries by the parent; journal of %d records",
		h.kills, h.earlyKills, h.spent, time.Since(start).Round(time.Millisecond), len(h.submitted), len(h.acked), h.ackChecks,
		h.committedUnacked, h.childRetries, h.parentRetries, h.lastSeq)
	t.Logf("the journal holds %v", h.opCounts)
}

// crashHistory is everything the parent learned from its children.
type crashHistory struct {
	t       *testing.T
	dir     string
	planDir string

	submitted map[string]string        // op id -> contents, as first submitted
	firstGen  map[string]int           // op id -> generation that first submitted it
	acked     map[string]crashRcpt     // op id -> receipt of an acknowledgement a child saw
	ackedIDs  []string                 // keys of acked, in the order first seen
	refused   map[string]string        // op id -> code, when its last submission was refused
	journal   map[string]crashRcpt     // op id -> its record, as of the last check
	lastSeq   uint64                   // journal length as of the last check
	model     map[AccountID]*crashAcct // accounts as of the last check

	retryNext  []crashRetry         // what the next child retries first
	expectRcpt map[string]crashRcpt // receipts the next child's retries must return

	// for the summary
	opCounts                                                                           map[string]int
	spent, kills, earlyKills, ackChecks, committedUnacked, childRetries, parentRetries int
}

// crashRcpt is a receipt, or the record a receipt must match.
type crashRcpt struct {
	seq  uint64
	time int64 // unix nanoseconds
}

func (r crashRcpt) String() string {
	return fmt.Sprintf("seq %d time %s", r.seq, time.Unix(0, r.time).UTC().Format(time.RFC3339Nano))
}

// crashGenStats counts one child's lines.
type crashGenStats struct {
	submits, acks, refusals, retries int
	ready, spent                     bool
	readySeq                         uint64
}

func (h *crashHistory) generation(gen int, rng *rand.Rand, early bool) {
	t := h.t
	plan := crashPlan{
		Gen:      gen,
		Seed:     rng.Uint64(),
		Workers:  64 + rng.IntN(193), // 64..256
		Budget:   crashBudget,
		MaxBatch: []int{0, 0, 64, 512}[rng.IntN(4)],
		Retries:  h.retryNext,
	}
	h.fillAccounts(&plan)
	planPath := filepath.Join(h.planDir, fmt.Sprintf("plan-%d.json", gen))
	buf, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(planPath, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	delay, when := time.Duration(50+rng.IntN(351))*time.Millisecond, "after its first ack"
	if early {
		delay, when = time.Duration(rng.IntN(201))*time.Millisecond, "after its start (early)"
	}

	lines, ran := h.runChild(gen, planPath, delay, early)
	if t.Failed() {
		return
	}
	h.kills++
	if early {
		h.earlyKills++
	}
	st := h.absorb(gen, lines)
	if t.Failed() {
		return
	}
	if !st.ready && st.submits > 0 {
		t.Errorf("generation %d: the child submitted operations without reporting its recovery", gen)
		return
	}
	if st.ready && st.readySeq != h.lastSeq {
		t.Errorf("generation %d: the child recovered a journal of %d records, the parent saw %d after the previous kill",
			gen, st.readySeq, h.lastSeq)
	}
	if st.spent {
		when += ", load budget used up"
		h.spent++
	}
	before, vstart := h.lastSeq, time.Now()
	unacked := h.verify(gen, rng)
	t.Logf("gen %2d: %3d workers, max batch %4d, killed %v %s (ran %v): %5d submits, %5d acks, %4d refusals, "+
		"%3d retries; journal %d -> %d records, %d committed but unacked; checked in %v",
		gen, plan.Workers, plan.MaxBatch, delay, when, ran.Round(time.Millisecond), st.submits, st.acks, st.refusals,
		st.retries, before, h.lastSeq, unacked, time.Since(vstart).Round(time.Millisecond))
}

// fillAccounts lists the open accounts for the child, from the journal.
func (h *crashHistory) fillAccounts(p *crashPlan) {
	if h.model == nil {
		return
	}
	ids := make([]AccountID, 0, len(h.model))
	for id := range h.model {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		a := h.model[id]
		if a.closed {
			continue
		}
		switch a.kind {
		case KindIntermediary:
			p.Intermediaries = append(p.Intermediaries, id)
		case KindWallet:
			p.Wallets = append(p.Wallets, id)
		case KindEscrow, KindLoss:
			p.Others = append(p.Others, id)
		}
	}
}

// runChild starts a child, kills it delay after its first acknowledgement
// (early: delay after its start) and returns every complete line it wrote.
func (h *crashHistory) runChild(gen int, planPath string, delay time.Duration, early bool) (lines []string, ran time.Duration) {
	t := h.t
	cmd := exec.Command(os.Args[0], "-test.run=^TestLedger_CrashRecovery$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+h.dir, crashPlanEnv+"="+planPath)
	var errBuf crashTail
	cmd.Stderr = &errBuf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("generation %d: start child: %v", gen, err)
	}
	firstAck := make(chan struct{})
	eof := make(chan struct{})
	var partial string
	go func() {
		defer close(eof)
		r := bufio.NewReaderSize(out, 64<<10)
		acked := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				partial = line // a line the kill cut short (pipes make this rare)
				return
			}
			line = line[:len(line)-1]
			lines = append(lines, line)
			if !acked && strings.HasPrefix(line, "ack ") {
				acked = true
				close(firstAck)
			}
		}
	}()
	fail := ""
	if early {
		select {
		case <-time.After(delay):
		case <-eof:
			fail = "exited on its own before the kill"
		}
	} else {
		select {
		case <-firstAck:
			select {
			case <-time.After(delay):
			case <-eof:
				fail = "exited on its own before the kill"
			}
		case <-eof:
			fail = "exited before acknowledging anything"
		case <-time.After(60 * time.Second):
			fail = "acknowledged nothing within 60s"
		}
	}
	ran = time.Since(start)
	if err := cmd.Process.Kill(); err != nil && fail == "" {
		fail = "could not be killed: " + err.Error()
	}
	<-eof
	werr := cmd.Wait()
	if fail == "" {
		var ee *exec.ExitError
		if !errors.As(werr, &ee) || ee.ExitCode() != -1 {
			fail = fmt.Sprintf("ended with %v instead of being killed", werr)
		}
	}
	if partial != "" {
		t.Logf("generation %d: ignoring the child's last, unfinished line %q", gen, partial)
	}
	if fail == "" && errBuf.String() != "" {
		// The child writes nothing there: this is a race report, a panic...
		fail = "wrote to stderr"
	}
	if fail != "" {
		t.Errorf("generation %d: the child %s (wait: %v); stderr:\n%s\nlast stdout lines:\n%s",
			gen, fail, werr, errBuf.String(), strings.Join(lines[max(0, len(lines)-20):], "\n"))
	}
	return lines, ran
}

// absorb takes in one child's report, failing on anything a correct ledger
// cannot have said.
func (h *crashHistory) absorb(gen int, lines []string) crashGenStats {
	t := h.t
	var st crashGenStats
	bad := 0
	errorf := func(format string, args ...any) {
		bad++
		if bad <= 30 {
			t.Errorf("generation %d: "+format, append([]any{gen}, args...)...)
		}
	}
	for _, line := range lines {
		f := strings.SplitN(line, " ", 3)
		if len(f) < 2 {
			continue // test framework chatter
		}
		switch f[0] {
		case "ready":
			seq, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				errorf("bad line %q", line)
			}
			st.ready, st.readySeq = true, seq
			continue
		case "spent":
			st.spent = true
			continue
		case "submit", "ack", "refused", "error":
		default:
			continue
		}
		if len(f) != 3 {
			errorf("bad line %q", line)
			continue
		}
		id, arg := f[1], f[2]
		switch f[0] {
		case "submit":
			st.submits++
			if prev, ok := h.submitted[id]; ok {
				if prev != arg {
					errorf("test bug: op id %s reused: first %q, now %q", id, prev, arg)
				}
				st.retries++
			} else {
				h.submitted[id] = arg
				h.firstGen[id] = gen
			}
			delete(h.refused, id)
		case "ack":
			st.acks++
			var rc crashRcpt
			if _, err := fmt.Sscanf(arg, "%d %d", &rc.seq, &rc.time); err != nil {
				errorf("bad line %q", line)
				continue
			}
			if _, ok := h.submitted[id]; !ok {
				errorf("ack for op %s that was never submitted", id)
			}
			if first, ok := h.acked[id]; ok && first != rc {
				errorf("retry of op %s (%s) was acknowledged with %v, but its first receipt said %v",
					id, h.submitted[id], rc, first)
			}
			if js, ok := h.journal[id]; ok && js != rc {
				errorf("retry of op %s (%s) was acknowledged with %v, but the journal holds it at %v",
					id, h.submitted[id], rc, js)
			}
			if want, ok := h.expectRcpt[id]; ok && want != rc {
				errorf("retry of op %s (%s) was acknowledged with %v, want %v", id, h.submitted[id], rc, want)
			}
			if _, ok := h.acked[id]; !ok {
				h.acked[id] = rc
				h.ackedIDs = append(h.ackedIDs, id)
			}
		case "refused":
			st.refusals++
			if !crashRefusalOK[arg] {
				errorf("op %s (%s) was refused with %q, which this load never causes", id, h.submitted[id], arg)
			}
			if rc, ok := h.acked[id]; ok {
				errorf("retry of op %s (%s), acknowledged at seq %d, was refused with %q instead of returning its receipt",
					id, h.submitted[id], rc.seq, arg)
			} else if rc, ok := h.journal[id]; ok {
				errorf("retry of op %s (%s), in the journal at seq %d, was refused with %q instead of returning its receipt",
					id, h.submitted[id], rc.seq, arg)
			}
			h.refused[id] = arg
		case "error":
			errorf("op %s (%s) failed: %s", id, h.submitted[id], arg)
		}
	}
	if bad > 30 {
		t.Errorf("generation %d: %d problems in all", gen, bad)
	}
	return st
}

// crashAcct is the parent's model of an account, rebuilt from the journal.
type crashAcct struct {
	kind   Kind
	inter  AccountID
	closed bool
	bal    int64
}

// verify reopens the ledger after a kill and checks it against everything
// the child reported, then plans the next child's retries. It returns how
// many operations were committed without their acknowledgement reaching
// the child.
func (h *crashHistory) verify(gen int, rng *rand.Rand) (unacked int) {
	t := h.t
	l, err := Open(h.dir, Options{})
	if err != nil {
		t.Errorf("generation %d: reopen after the kill: %v", gen, err)
		return
	}
	defer func() {
		if l != nil {
			l.Close()
		}
	}()
	bad := 0
	errorf := func(format string, args ...any) {
		bad++
		if bad <= 30 {
			t.Errorf("generation %d: "+format, append([]any{gen}, args...)...)
		}
	}

	// Read the whole journal: each op id once, each op as submitted.
	journal := make(map[string]crashRcpt, len(h.journal)+1024)
	model := map[AccountID]*crashAcct{IssuanceAccount: {kind: KindIssuance}}
	counts := make(map[string]int)
	next := uint64(1)
	for {
		evs, err := l.Events(next, MaxPage)
		if err != nil {
			errorf("read the journal from seq %d: %v", next, err)
			return
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			if e.Seq != next {
				errorf("journal skips from seq %d to %d", next, e.Seq)
			}
			next = e.Seq + 1
			got := crashOpOf(e).String()
			if first, dup := journal[e.OpID]; dup {
				errorf("DUPLICATED: op %s is in the journal twice, at seq %d and %d (%s)", e.OpID, first.seq, e.Seq, got)
			} else {
				journal[e.OpID] = crashRcpt{e.Seq, e.Time.UnixNano()}
			}
			if e.Op == "genesis" {
				if e.Seq != 1 || e.OpID != "genesis" {
					errorf("genesis record %q at seq %d", e.OpID, e.Seq)
				}
				continue
			}
			want, ok := h.submitted[e.OpID]
			switch {
			case !ok:
				errorf("journal seq %d holds op %s (%s), which no child submitted", e.Seq, e.OpID, got)
			case got != want:
				errorf("HALF-APPLIED or altered: journal seq %d holds op %s as %q, the child submitted %q", e.Seq, e.OpID, got, want)
			}
			if code, ok := h.refused[e.OpID]; ok {
				errorf("op %s (%s) is in the journal at seq %d, but its last submission was refused with %q",
					e.OpID, got, e.Seq, code)
			}
			crashModelApply(model, e, errorf)
			counts[e.Op]++
			if e.Op == "batch" {
				counts["batch transfers"] += len(e.Transfers)
			} else if e.Op == "close" {
				counts["close "+e.Kind.String()]++
			}
		}
	}
	tot := l.Totals()
	if next-1 != tot.Seq {
		errorf("the journal reads %d records, Totals says %d", next-1, tot.Seq)
	}
	if tot.Seq < h.lastSeq {
		errorf("LOST: the journal shrank from %d to %d records", h.lastSeq, tot.Seq)
	}
	// What was there after the previous kill is still there, at the same place.
	for id, was := range h.journal {
		if now, ok := journal[id]; !ok {
			errorf("LOST: op %s (%s) was in the journal at seq %d after the previous kill, now it is gone", id, h.submitted[id], was.seq)
		} else if now != was {
			errorf("MOVED: op %s (%s) was in the journal at %v after the previous kill, now at %v", id, h.submitted[id], was, now)
		}
	}

	// Every acknowledged operation is present, at its receipt's sequence.
	for _, id := range h.ackedIDs {
		rc := h.acked[id]
		js, ok := journal[id]
		switch {
		case !ok:
			errorf("LOST: op %s (%s), acknowledged at seq %d (submitted in generation %d), is not in the journal",
				id, h.submitted[id], rc.seq, h.firstGen[id])
		case js != rc:
			errorf("MOVED: op %s (%s), acknowledged with %v, is in the journal at %v", id, h.submitted[id], rc, js)
		}
	}
	h.ackChecks += len(h.ackedIDs)

	// Recovered balances are exactly what the journal implies: nothing
	// half-applied outside it.
	var circulation int64
	for id, m := range model {
		a, err := l.Account(id)
		if err != nil {
			errorf("account %s, opened in the journal, after recovery: %v", id, err)
			continue
		}
		if a.Balance != m.bal || a.Closed != m.closed || a.Kind != m.kind || a.Intermediary != m.inter {
			errorf("account %s recovered as %s/%s balance %d closed %v; the journal implies %s/%s balance %d closed %v",
				id, a.Kind, a.Intermediary, a.Balance, a.Closed, m.kind, m.inter, m.bal, m.closed)
		}
		if m.kind == KindIssuance {
			circulation = -m.bal
		}
	}
	if !tot.Conserved() {
		errorf("money not conserved after recovery: %+v", tot)
	}
	if tot.Circulation != circulation || tot.Accounts != len(model) {
		errorf("totals after recovery %+v; the journal implies circulation %d and %d accounts", tot, circulation, len(model))
	}

	// The journal holds what was acknowledged plus some operations whose
	// acknowledgement the kill swallowed; retries of those, and of a sample
	// of acknowledged ones, return the receipt the journal implies.
	var retries []crashRetry
	h.expectRcpt = make(map[string]crashRcpt)
	for id, rc := range journal {
		if _, ok := h.acked[id]; !ok && id != "genesis" {
			if _, seen := h.journal[id]; !seen {
				unacked++
			}
			retries = append(retries, crashRetry{id, h.submitted[id]})
			h.expectRcpt[id] = rc
		}
	}
	h.committedUnacked += unacked
	for _, id := range h.ackedIDs {
		if _, ok := journal[id]; ok && h.firstGen[id] == gen {
			retries = append(retries, crashRetry{id, h.submitted[id]})
		}
	}
	for range min(300, len(h.ackedIDs)) {
		id := h.ackedIDs[rng.IntN(len(h.ackedIDs))]
		if _, ok := journal[id]; ok { // a lost one is reported above
			retries = append(retries, crashRetry{id, h.submitted[id]})
		}
	}
	h.parentRetries += len(retries)
	var mu sync.Mutex
	err = crashParallel(32, len(retries), func(i int) error {
		r := retries[i]
		o, err := parseCrashOp(r.Contents)
		if err != nil {
			return err
		}
		rc, err := o.submit(context.Background(), l, r.ID)
		mu.Lock()
		defer mu.Unlock()
		want := journal[r.ID]
		switch got := (crashRcpt{rc.Seq, rc.Time.UnixNano()}); {
		case err != nil:
			errorf("retry of op %s (%s), in the journal at seq %d, after reopening: %v", r.ID, r.Contents, want.seq, err)
		case got != want || rc.OpID != r.ID:
			errorf("retry of op %s (%s) after reopening returned op %s %v, the journal holds it at %v",
				r.ID, r.Contents, rc.OpID, got, want)
		}
		return nil
	})
	if err != nil {
		errorf("%v", err)
	}
	// The same id with other contents is refused, and changes nothing.
	for _, id := range h.ackedIDs[max(0, len(h.ackedIDs)-50):] {
		o, _ := parseCrashOp(h.submitted[id])
		if len(o.ts) == 0 {
			continue
		}
		o.ts = slices.Clone(o.ts)
		o.ts[0].Amount++
		if _, err := o.submit(context.Background(), l, id); ErrorCode(err) != ErrOpIDReused.Code {
			errorf("op %s (%s) resubmitted as %s: got %v, want %s", id, h.submitted[id], o, err, ErrOpIDReused.Code)
		}
		break
	}
	if after := l.Totals(); after != tot {
		errorf("retries changed the ledger: %+v, then %+v", tot, after)
	}
	err = l.Close()
	l = nil
	if err != nil {
		errorf("close: %v", err)
	}
	rep, err := Audit(h.dir)
	switch {
	case err != nil:
		errorf("audit: %v", err)
	case !rep.OK():
		errorf("audit found problems: %v", rep.Problems)
	case rep.Totals != tot:
		errorf("audit totals %+v, the recovered ledger said %+v", rep.Totals, tot)
	}
	if bad > 30 {
		t.Errorf("generation %d: %d problems in all", gen, bad)
	}

	// Plan the next child's retries: operations whose outcome no child
	// learned and that are not in the journal (the ledger may take them now,
	// or refuse them), the committed-but-unacknowledged ones and a sample of
	// acknowledged ones (these must return the journal's sequence).
	h.journal, h.lastSeq, h.model, h.opCounts = journal, tot.Seq, model, counts
	next2 := make([]crashRetry, 0, 256)
	for id, c := range h.submitted {
		_, in := journal[id]
		_, refused := h.refused[id]
		if !in && !refused {
			next2 = append(next2, crashRetry{id, c})
		}
	}
	for id := range h.expectRcpt {
		next2 = append(next2, crashRetry{id, h.submitted[id]})
	}
	for range min(100, len(h.ackedIDs)) {
		id := h.ackedIDs[rng.IntN(len(h.ackedIDs))]
		next2 = append(next2, crashRetry{id, h.submitted[id]})
		h.expectRcpt[id] = h.acked[id]
	}
	slices.SortFunc(next2, func(a, b crashRetry) int { return strings.Compare(a.ID, b.ID) })
	next2 = slices.CompactFunc(next2, func(a, b crashRetry) bool { return a.ID == b.ID })
	rng.Shuffle(len(next2), func(i, j int) { next2[i], next2[j] = next2[j], next2[i] })
	h.retryNext = next2
	h.childRetries += len(next2)
	return unacked
}

// crashModelApply applies one journal event to the parent's model.
func crashModelApply(model map[AccountID]*crashAcct, e Event, errorf func(string, ...any)) {
	switch e.Op {
	case "open":
		if _, ok := model[e.Account]; ok {
			errorf("journal seq %d opens account %s a second time", e.Seq, e.Account)
		}
		model[e.Account] = &crashAcct{kind: e.Kind, inter: e.Intermediary}
	case "close":
		a, ok := model[e.Account]
		if !ok {
			errorf("journal seq %d closes unknown account %s", e.Seq, e.Account)
			return
		}
		a.closed = true
	default:
		for _, tr := range e.Transfers {
			from, to := model[tr.From], model[tr.To]
			if from == nil || to == nil {
				errorf("journal seq %d moves money between %s and %s, not both opened", e.Seq, tr.From, tr.To)
				continue
			}
			from.bal -= tr.Amount
			to.bal += tr.Amount
		}
	}
}

// crashParallel runs fn(0..n-1) from workers goroutines and returns the
// first error.
func crashParallel(workers, n int, fn func(i int) error) error {
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := i >= n || first != nil
				mu.Unlock()
				if stop {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}

// crashTail keeps the last 16 KiB written to it: the child's stderr.
type crashTail struct {
	mu sync.Mutex
	b  []byte
}

func (c *crashTail) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.b = append(c.b, p...)
	if len(c.b) > 16<<10 {
		c.b = append(c.b[:0], c.b[len(c.b)-16<<10:]...)
	}
	return len(p), nil
}

func (c *crashTail) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.b)
}

// ----- the child -----

type crashChild struct {
	l      *Ledger
	gen    int
	budget atomic.Int64 // operations of load left

	outMu sync.Mutex

	mu             sync.Mutex // protects the account lists
	intermediaries []AccountID
	wallets        []AccountID
	others         []AccountID
}

// crashChildMain is the child process. It never returns: the parent kills it.
func crashChildMain(dir, planPath string) {
	die := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "crash child: "+format+"\n", args...)
		os.Exit(3)
	}
	buf, err := os.ReadFile(planPath)
	if err != nil {
		die("%v", err)
	}
	var plan crashPlan
	if err := json.Unmarshal(buf, &plan); err != nil {
		die("plan: %v", err)
	}
	// Should the parent vanish without killing us, stop on our own.
	time.AfterFunc(2*time.Minute, func() { die("not killed within 2 minutes") })
	// Checkpoint often, so some kills land while one is being written.
	l, err := Open(dir, Options{MaxBatch: plan.MaxBatch, CheckpointEvery: 2_000})
	if err != nil {
		die("open: %v", err)
	}
	c := &crashChild{l: l, gen: plan.Gen,
		intermediaries: plan.Intermediaries, wallets: plan.Wallets, others: plan.Others}
	c.budget.Store(int64(plan.Budget))
	c.emit("ready " + strconv.FormatUint(l.Totals().Seq, 10))

	// First the retries the parent asked for, from many callers at once.
	retries := make(chan crashRetry)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for r := range retries {
				o, err := parseCrashOp(r.Contents)
				if err != nil {
					die("%v", err)
				}
				c.do(r.ID, o)
			}
		})
	}
	for _, r := range plan.Retries {
		retries <- r
	}
	close(retries)
	wg.Wait()

	// Then the load, until the kill.
	for w := range plan.Workers {
		go c.worker(w, plan)
	}
	select {}
}

// emit writes one line in one write, so lines never interleave and a line
// the parent reads was complete before the kill.
func (c *crashChild) emit(line string) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if _, err := io.WriteString(os.Stdout, line+"\n"); err != nil {
		os.Exit(4) // the parent is gone
	}
}

// do submits one operation and reports it.
func (c *crashChild) do(id string, o crashOp) (Receipt, bool) {
	c.emit("submit " + id + " " + o.String())
	r, err := o.submit(context.Background(), c.l, id)
	if err != nil {
		if code := ErrorCode(err); code != "" {
			c.emit("refused " + id + " " + code)
		} else {
			c.emit("error " + id + " " + strconv.Quote(err.Error()))
		}
		return r, false
	}
	if r.OpID != id {
		c.emit("error " + id + " " + strconv.Quote("receipt names op "+r.OpID))
	}
	c.emit("ack " + id + " " + strconv.FormatUint(r.Seq, 10) + " " + strconv.FormatInt(r.Time.UnixNano(), 10))
	c.mu.Lock()
	defer c.mu.Unlock()
	switch o.typ {
	case "open":
		switch o.kind {
		case KindIntermediary:
			c.intermediaries = append(c.intermediaries, o.acct)
		case KindWallet:
			c.wallets = append(c.wallets, o.acct)
		default:
			c.others = append(c.others, o.acct)
		}
	case "close":
		for _, list := range []*[]AccountID{&c.intermediaries, &c.wallets, &c.others} {
			if i := slices.Index(*list, o.acct); i >= 0 {
				(*list)[i] = (*list)[len(*list)-1]
				*list = (*list)[:len(*list)-1]
			}
		}
	}
	return r, true
}

// pick returns a random account from a list, or "" when it is empty.
func (c *crashChild) pick(rng *rand.Rand, list *[]AccountID) AccountID {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(*list) == 0 {
		return ""
	}
	return (*list)[rng.IntN(len(*list))]
}

// leg draws one transfer between two distinct accounts, mostly ones that
// hold money; "" accounts when the ledger has too few yet.
func (c *crashChild) leg(rng *rand.Rand) Transfer {
	var tr Transfer
	switch q := rng.IntN(10); {
	case q < 3:
		tr = Transfer{c.pick(rng, &c.intermediaries), c.pick(rng, &c.wallets), 1 + rng.Int64N(20_000)}
	case q < 8:
		tr = Transfer{c.pick(rng, &c.wallets), c.pick(rng, &c.wallets), 1 + rng.Int64N(3_000)}
	case q < 9:
		tr = Transfer{c.pick(rng, &c.wallets), c.pick(rng, &c.others), 1 + rng.Int64N(1_000)}
		if rng.IntN(2) == 0 {
			tr.From, tr.To = tr.To, tr.From
		}
	default:
		tr = Transfer{c.pick(rng, &c.wallets), c.pick(rng, &c.intermediaries), 1 + rng.Int64N(2_000)}
	}
	if tr.From == tr.To {
		tr.From = ""
	}
	return tr
}

type crashDone struct {
	id  string
	op  crashOp
	seq uint64
}

// worker applies a random mix of operations for ever.
func (c *crashChild) worker(w int, plan crashPlan) {
	rng := rand.New(rand.NewPCG(plan.Seed, uint64(w)))
	n := 0
	nextID := func() string {
		n++
		return "g" + strconv.Itoa(c.gen) + "-w" + strconv.Itoa(w) + "-" + strconv.Itoa(n)
	}
	var recent []crashDone // this worker's last acknowledged operations
	type own struct{ id, inter AccountID }
	var mine []own // wallets this worker opened, to drain and close
	do := func(id string, o crashOp) (Receipt, bool) {
		r, ok := c.do(id, o)
		if ok {
			if len(recent) == 8 {
				recent = recent[1:]
			}
			recent = append(recent, crashDone{id, o, r.Seq})
		}
		return r, ok
	}
	for {
		if left := c.budget.Add(-1); left < 0 {
			if left == -1 {
				c.emit("spent " + strconv.Itoa(plan.Budget))
			}
			select {} // idle until the kill
		}
		id := nextID()
		inter := c.pick(rng, &c.intermediaries)
		p := rng.IntN(100)
		c.mu.Lock()
		fewBanks := len(c.intermediaries) < 8
		c.mu.Unlock()
		switch {
		case inter == "" || (p < 2 && fewBanks):
			do(id, crashOp{typ: "open", kind: KindIntermediary, acct: AccountID("bank-" + id)})
		case p < 10:
			acct := AccountID("wal-" + id)
			if _, ok := do(id, crashOp{typ: "open", kind: KindWallet, acct: acct, inter: inter}); ok {
				mine = append(mine, own{acct, inter})
			}
		case p < 11:
			if rng.IntN(2) == 0 {
				do(id, crashOp{typ: "open", kind: KindEscrow, acct: AccountID("esc-" + id), inter: inter})
			} else {
				do(id, crashOp{typ: "open", kind: KindLoss, acct: AccountID("loss-" + id)})
			}
		case p < 19:
			do(id, crashOp{typ: "issue", ts: []Transfer{{IssuanceAccount, inter, 10_000 + rng.Int64N(1_000_000)}}})
		case p < 22:
			do(id, crashOp{typ: "redeem", ts: []Transfer{{inter, IssuanceAccount, 1 + rng.Int64N(200_000)}}})
		case p < 62:
			tr := c.leg(rng)
			if tr.From == "" || tr.To == "" {
				tr = Transfer{inter, c.pick(rng, &c.intermediaries), 1 + rng.Int64N(10_000)}
			}
			if tr.From == tr.To {
				do(id, crashOp{typ: "issue", ts: []Transfer{{IssuanceAccount, inter, 1 + rng.Int64N(100_000)}}})
				continue
			}
			do(id, crashOp{typ: "transfer", ts: []Transfer{tr}})
		case p < 82:
			// An atomic batch of 2..8 transfers; one leg short of money
			// refuses the whole batch.
			var ts []Transfer
			for range 2 + rng.IntN(7) {
				if tr := c.leg(rng); tr.From != "" && tr.To != "" {
					ts = append(ts, tr)
				}
			}
			if len(ts) == 0 {
				continue // the id is simply never used
			}
			do(id, crashOp{typ: "batch", ts: ts})
		case p < 87:
			switch {
			case len(mine) > 0 && rng.IntN(3) > 0:
				// Drain one of our wallets and close it; money arriving in
				// between gets the close refused.
				i := rng.IntN(len(mine))
				m := mine[i]
				mine = slices.Delete(mine, i, i+1)
				if bal, err := c.l.Balance(m.id); err == nil && bal > 0 {
					do(id, crashOp{typ: "transfer", ts: []Transfer{{m.id, m.inter, bal}}})
					id = nextID()
				}
				do(id, crashOp{typ: "close", acct: m.id})
			case rng.IntN(2) == 0:
				acct := AccountID("esc-" + id)
				if _, ok := do(id, crashOp{typ: "open", kind: KindEscrow, acct: acct, inter: inter}); ok {
					do(nextID(), crashOp{typ: "close", acct: acct})
				}
			default:
				acct := AccountID("bank-" + id)
				if _, ok := do(id, crashOp{typ: "open", kind: KindIntermediary, acct: acct}); ok {
					do(nextID(), crashOp{typ: "close", acct: acct})
				}
			}
		case p < 90 && len(recent) > 0:
			// Retry one of our acknowledged operations: same receipt.
			d := recent[rng.IntN(len(recent))]
			if r, ok := c.do(d.id, d.op); ok && r.Seq != d.seq {
				c.emit("error " + d.id + " " + strconv.Quote(fmt.Sprintf("retry returned seq %d, first receipt seq %d", r.Seq, d.seq)))
			}
		default:
			do(id, crashOp{typ: "issue", ts: []Transfer{{IssuanceAccount, inter, 1 + rng.Int64N(100_000)}}})
		}
	}
}
