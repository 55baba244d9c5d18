package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// AuditReport is the verdict of Audit.
type AuditReport struct {
	Dir     string
	Records uint64 // journal records replayed
	Chunks  int
	// CheckpointSeq is the sequence of the checkpoint compared with the
	// journal; 0 when there was none.
	CheckpointSeq uint64
	Totals        Totals   // recomputed from the journal alone
	Holders       int      // holder tokens with at least one open wallet
	Problems      []string // discrepancies in what could be read; empty when the ledger is sound
	// Damage lists the places where bytes were altered, lost or cut
	// short, in the journal and in the files beside it. The replay stops
	// before the first damaged record, so the figures are as of the record
	// before it.
	Damage []*DamageError
}

// OK reports whether the audit found nothing wrong.
func (r *AuditReport) OK() bool { return len(r.Problems) == 0 && len(r.Damage) == 0 }

// Damaged reports whether the audit found damage, as opposed to only
// discrepancies in data it could read.
func (r *AuditReport) Damaged() bool { return len(r.Damage) > 0 }

func (r *AuditReport) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// maxDamages bounds the damaged places one audit lists.
const maxDamages = 20

// Audit reads the ledger in dir without changing it: it checks the
// journal's hash chain, then replays the whole journal, verifying the
// sequence, every ledger rule and every history link, recomputes every
// balance from nothing, and checks that money is conserved. An error
// means the ledger could not be read at all (it may be a *DamageError:
// the file itself is damaged); damage found in the journal is listed in
// the report's Damage, discrepancies in its Problems.
func Audit(dir string) (*AuditReport, error) { return AuditWith(dir, AuditOptions{}) }

// AuditOptions lets a caller see the journal as the audit replays it.
type AuditOptions struct {
	// CentralOp, if set, is called for every operation the central bank
	// made (not an intermediary), with its id and the transfers it asked
	// for, in journal order; holding-limit sweeps the ledger added are not
	// among them. Settlement cross-checks its books with it.
	CentralOp func(opID string, transfers []Transfer)
}

// AuditWith is Audit with options.
func AuditWith(dir string, opts AuditOptions) (*AuditReport, error) {
	rep := &AuditReport{Dir: dir}
	path := filepath.Join(dir, FileName)
	db, err := openDB(dir, true, func(tx *bolt.Tx) error {
		rep.Damage = checkChain(tx, path, maxDamages)
		return nil
	})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var stop uint64 // the first damaged record, where the replay stops
	if len(rep.Damage) > 0 {
		stop = rep.Damage[0].Record
		if stop == 0 {
			stop = ^uint64(0) // damage outside the records: replay them all
		}
	}
	st := newState(true)
	cp := loadCheckpointForAudit(dir, rep)
	if err := db.View(func(tx *bolt.Tx) error { return auditJournal(tx, st, cp, rep, opts, stop) }); err != nil {
		rep.problem("%v (replay stopped after record %d)", err, st.seq)
	}
	if cp != nil && cp.seq > st.seq && stop == 0 {
		rep.problem("checkpoint is at record %d but the journal ends at %d", cp.seq, st.seq)
	}
	rep.Records = st.seq
	rep.Totals = st.totalsView()
	rep.Holders = st.openHolders()
	checkBalances(st, rep)
	return rep, nil
}

// auditJournal replays every chunk into st, checking chunk keys and the
// stored head, and compares the checkpoint when the replay reaches it.
// With stop above 0 it replays only the records before stop and leaves
// the head to the chain check, which found damage.
func auditJournal(tx *bolt.Tx, st, cp *state, rep *AuditReport, opts AuditOptions, stop uint64) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil || !bytes.Equal(meta.Get(keyFormat), []byte(journalFormat)) {
		rep.problem("ledger file has no %q format marker", journalFormat)
	}
	j := tx.Bucket(bucketJournal)
	if j == nil {
		return nil // the chain check reports it
	}
	err := j.ForEach(func(k, v []byte) error {
		rep.Chunks++
		if len(k) != 8 || len(v) < 1 {
			return broken(ErrCorrupt, "journal chunk key %x is malformed", k)
		}
		first := true
		return eachRecord(v, func(enc []byte) error {
			if stop > 0 && peekSeq(enc) >= stop {
				return errStopScan
			}
			if first && peekSeq(enc) != binary.BigEndian.Uint64(k) {
				return broken(ErrCorrupt, "chunk %d starts with record %d", binary.BigEndian.Uint64(k), peekSeq(enc))
			}
			first = false
			r, err := st.replay(enc)
			if err != nil {
				return err
			}
			if opts.CentralOp != nil && r.origin == 0 && len(r.postings) > 0 {
				ts := make([]Transfer, len(r.postings))
				for i, p := range r.postings {
					ts[i] = Transfer{From: st.id(p.from), To: st.id(p.to), Amount: p.amount}
				}
				opts.CentralOp(r.opID, ts)
			}
			if cp != nil && st.seq == cp.seq {
				compareCheckpoint(st, cp, rep)
			}
			return nil
		})
	})
	switch {
	case err == errStopScan, stop > 0 && st.seq+1 >= stop:
		return nil // what went wrong at the damage is the damage
	case err != nil:
		return err
	case stop > 0:
		return nil
	}
	return checkHead(tx, st.seq, st.head)
}

// checkBalances checks conservation over the recomputed accounts, summing
// without overflow so a corrupt ledger cannot hide behind wrap-around.
func checkBalances(st *state, rep *AuditReport) {
	var sum big.Int
	var byKind [kindCount]big.Int
	served := make(map[uint32]int32)
	for n, a := range st.accounts {
		sum.Add(&sum, big.NewInt(a.bal))
		if a.kind.valid() {
			byKind[a.kind].Add(&byKind[a.kind], big.NewInt(a.bal))
		}
		if a.bal < 0 && a.kind != KindIssuance {
			rep.problem("account %s (%s) is overdrawn: %d yen", st.id(uint32(n)), a.kind, a.bal)
		}
		if a.tag != 0 && !a.closed {
			served[a.tag]++
		}
		if a.kind == KindIssuance && n != 0 {
			rep.problem("account %s is a second issuance account", st.id(uint32(n)))
		}
	}
	if sum.Sign() != 0 {
		rep.problem("balances sum to %s yen, not zero", sum.String())
	}
	for k := KindIssuance; k <= KindLoss; k++ {
		if byKind[k].Cmp(big.NewInt(st.totals[k])) != 0 {
			rep.problem("%s accounts hold %s yen but the running total says %d", k, byKind[k].String(), st.totals[k])
		}
	}
	t := rep.Totals
	if !t.Conserved() {
		rep.problem("circulation %d yen differs from what the intermediaries %d, wallets %d, offline escrow %d and guarantee fund %d hold together",
			t.Circulation, t.Intermediaries, t.Wallets, t.Escrow, t.Loss)
	}
	for n, a := range st.accounts {
		if a.kind == KindIntermediary && a.served != served[uint32(n)] {
			rep.problem("intermediary %s counts %d served accounts, journal shows %d", st.id(uint32(n)), a.served, served[uint32(n)])
		}
	}
	checkHolders(st, rep)
}

// checkHolders recomputes every holder's wallets, holdings and limit from
// the accounts and compares them with what the ledger keeps up to date.
func checkHolders(st *state, rep *AuditReport) {
	want := make([]holding, len(st.holders.list))
	for n, a := range st.accounts {
		if a.ext == 0 || a.closed {
			continue
		}
		if a.kind != KindWallet || int(a.ext) >= len(st.exts) {
			rep.problem("account %s has a holder or limits but is a %s account", st.id(uint32(n)), a.kind)
			continue
		}
		e := st.exts[a.ext]
		if e.holder != 0 {
			w := &want[e.holder]
			w.wallets++
			w.sum += a.bal
			w.limit = smallestLimit(w.limit, e.limit)
		}
	}
	for h := 1; h < len(want); h++ {
		got, w := st.holders.list[h], want[h]
		listed := 0
		for n := got.first; n != 0 && listed <= int(got.wallets); n = st.exts[st.accounts[n].ext].next {
			listed++
		}
		if got.wallets != w.wallets || got.sum != w.sum || got.limit != w.limit || listed != int(w.wallets) {
			rep.problem("holder %s counts %d wallets holding %d yen with limit %d (%d listed); its accounts show %d, %d yen, limit %d",
				st.holders.token(uint32(h)), got.wallets, got.sum, got.limit, listed, w.wallets, w.sum, w.limit)
		}
	}
}

// openHolders counts holder tokens with at least one open wallet.
func (s *state) openHolders() int {
	n := 0
	for _, h := range s.holders.list[1:] {
		if h.wallets > 0 {
			n++
		}
	}
	return n
}

// WriteText prints the report for a person.
func (r *AuditReport) WriteText(w io.Writer) {
	t := r.Totals
	fmt.Fprintf(w, "ledger audit of %s\n", r.Dir)
	fmt.Fprintf(w, "  records replayed   %d in %d chunks\n", r.Records, r.Chunks)
	fmt.Fprintf(w, "  accounts           %d\n", t.Accounts)
	fmt.Fprintf(w, "  holders            %d with open wallets\n", r.Holders)
	if r.CheckpointSeq > 0 {
		fmt.Fprintf(w, "  checkpoint         compared at record %d\n", r.CheckpointSeq)
	}
	fmt.Fprintf(w, "  head of hash chain %s\n", t.Head)
	writeTotals(w, t)
	if r.OK() {
		fmt.Fprintln(w, "verdict: OK: hash chain intact, every rule holds, money is conserved")
		return
	}
	if r.Damaged() {
		fmt.Fprintf(w, "verdict: DAMAGED: bytes altered, missing or cut short in %d place(s)\n", len(r.Damage))
		for _, d := range r.Damage {
			fmt.Fprintf(w, "  - %s\n", strings.TrimPrefix(d.Error(), "ledger: "))
		}
		if len(r.Problems) > 0 {
			fmt.Fprintf(w, "and %d problem(s) in what could be read:\n", len(r.Problems))
		}
	} else {
		fmt.Fprintf(w, "verdict: FAILED: %d problem(s)\n", len(r.Problems))
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}

// writeTotals prints where the money in circulation is held, and whether
// the parts add up to it.
func writeTotals(w io.Writer, t Totals) {
	fmt.Fprintf(w, "  circulation        %d yen\n", t.Circulation)
	fmt.Fprintf(w, "    intermediaries   %d yen\n", t.Intermediaries)
	fmt.Fprintf(w, "    wallets          %d yen\n", t.Wallets)
	fmt.Fprintf(w, "    offline escrow   %d yen\n", t.Escrow)
	// The loss accounts fund offline losses (the sandbox has one, the
	// guarantee fund): "loss" read as money lost.
	fmt.Fprintf(w, "    guarantee fund   %d yen\n", t.Loss)
	var sum big.Int // a corrupt ledger's parts may overflow int64
	for _, v := range []int64{t.Intermediaries, t.Wallets, t.Escrow, t.Loss} {
		sum.Add(&sum, big.NewInt(v))
	}
	equal := "equal to circulation"
	if sum.Cmp(big.NewInt(t.Circulation)) != 0 {
		equal = "NOT equal to circulation"
	}
	fmt.Fprintf(w, "    together         %s yen, %s\n", sum.String(), equal)
}

// loadCheckpointForAudit reads the checkpoint, if there is one, so the
// audit can compare it with the journal's replay at its sequence.
func loadCheckpointForAudit(dir string, rep *AuditReport) *state {
	if _, err := os.Stat(filepath.Join(dir, CheckpointFileName)); err != nil {
		return nil
	}
	c, err := openCheckpointer(dir, slog.New(slog.DiscardHandler), true)
	if err == nil {
		defer c.db.Close()
		var st *state
		if st, err = c.load(); err == nil {
			rep.CheckpointSeq = st.seq
			return st
		}
	}
	switch d, ok := damageOf(err); {
	case ok:
		d.Detail += "; the ledger sets the checkpoint aside and replays the journal when it next opens, so it needs no restoring"
		rep.Damage = append(rep.Damage, d)
	case errors.Is(err, errNoCheckpoint) || errors.Is(err, errOldCheckpoint):
		// the ledger sets an old one aside when it next opens
	default:
		rep.problem("checkpoint cannot be read: %v", err)
	}
	return nil
}

// sameAccount reports whether account n is the same in a and b. Where a
// wallet's holder and limits are kept is not compared, only what they are.
func sameAccount(a, b *state, n uint32) bool {
	x, y := a.accounts[n], b.accounts[n]
	x.ext, y.ext = 0, 0
	if x != y || a.id(n) != b.id(n) {
		return false
	}
	ha, la := a.terms(n)
	hb, lb := b.terms(n)
	return ha == hb && la == lb
}

// compareCheckpoint checks that the checkpoint holds exactly the accounts
// and operation ids that replaying the journal up to its sequence gives.
func compareCheckpoint(st, cp *state, rep *AuditReport) {
	if cp.head != st.head {
		rep.problem("checkpoint at record %d has another hash than the journal", cp.seq)
	}
	if len(cp.accounts) != len(st.accounts) {
		rep.problem("checkpoint at record %d has %d accounts, the journal %d", cp.seq, len(cp.accounts), len(st.accounts))
		return
	}
	for n := range st.accounts {
		if !sameAccount(cp, st, uint32(n)) {
			rep.problem("checkpoint at record %d disagrees with the journal on account %s", cp.seq, st.id(uint32(n)))
		}
	}
	if cp.ops.len() != st.ops.len() {
		rep.problem("checkpoint at record %d has %d operation ids, the journal %d", cp.seq, cp.ops.len(), st.ops.len())
	}
	for e := range st.ops.all() {
		if ref, ok := cp.ops.get(&e.key); !ok || ref != e.ref {
			rep.problem("checkpoint at record %d disagrees with the journal on the operation at sequence %d", cp.seq, e.ref.seq)
		}
	}
}
