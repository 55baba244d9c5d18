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
	Problems      []string // empty when the ledger is sound
}

// OK reports whether the audit found nothing wrong.
func (r *AuditReport) OK() bool { return len(r.Problems) == 0 }

func (r *AuditReport) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Audit reads the ledger in dir without changing it: it replays the whole
// journal, verifying the hash chain, the sequence, every ledger rule and
// every history link, recomputes every balance from nothing, and checks
// that money is conserved. An error means the ledger could not be read at
// all; discrepancies are listed in the report.
func Audit(dir string) (*AuditReport, error) {
	db, err := openDB(dir, true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rep := &AuditReport{Dir: dir}
	st := newState(true)
	cp := loadCheckpointForAudit(dir, rep)
	if err := db.View(func(tx *bolt.Tx) error { return auditJournal(tx, st, cp, rep) }); err != nil {
		rep.problem("%v (replay stopped after record %d)", err, st.seq)
	}
	if cp != nil && cp.seq > st.seq {
		rep.problem("checkpoint is at record %d but the journal ends at %d", cp.seq, st.seq)
	}
	rep.Records = st.seq
	rep.Totals = st.totalsView()
	checkBalances(st, rep)
	return rep, nil
}

// auditJournal replays every chunk into st, checking chunk keys and the
// stored head, and compares the checkpoint when the replay reaches it.
func auditJournal(tx *bolt.Tx, st, cp *state, rep *AuditReport) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil || !bytes.Equal(meta.Get(keyFormat), []byte(journalFormat)) {
		rep.problem("ledger file has no %q format marker", journalFormat)
	}
	j := tx.Bucket(bucketJournal)
	if j == nil {
		rep.problem("ledger file has no journal")
		return nil
	}
	err := j.ForEach(func(k, v []byte) error {
		rep.Chunks++
		if len(k) != 8 || len(v) < 1 {
			return broken(ErrCorrupt, "journal chunk key %x is malformed", k)
		}
		first := true
		return eachRecord(v, func(enc []byte) error {
			if first && peekSeq(enc) != binary.BigEndian.Uint64(k) {
				return broken(ErrCorrupt, "chunk %d starts with record %d", binary.BigEndian.Uint64(k), peekSeq(enc))
			}
			first = false
			if _, err := st.replay(enc); err != nil {
				return err
			}
			if cp != nil && st.seq == cp.seq {
				compareCheckpoint(st, cp, rep)
			}
			return nil
		})
	})
	if err != nil {
		return err
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
		rep.problem("circulation %d yen differs from intermediaries %d + wallets %d + escrow %d + loss %d",
			t.Circulation, t.Intermediaries, t.Wallets, t.Escrow, t.Loss)
	}
	for n, a := range st.accounts {
		if a.kind == KindIntermediary && a.served != served[uint32(n)] {
			rep.problem("intermediary %s counts %d served accounts, journal shows %d", st.id(uint32(n)), a.served, served[uint32(n)])
		}
	}
}

// WriteText prints the report for a person.
func (r *AuditReport) WriteText(w io.Writer) {
	t := r.Totals
	fmt.Fprintf(w, "ledger audit of %s\n", r.Dir)
	fmt.Fprintf(w, "  records replayed   %d in %d chunks\n", r.Records, r.Chunks)
	fmt.Fprintf(w, "  accounts           %d\n", t.Accounts)
	if r.CheckpointSeq > 0 {
		fmt.Fprintf(w, "  checkpoint         compared at record %d\n", r.CheckpointSeq)
	}
	fmt.Fprintf(w, "  head of hash chain %s\n", t.Head)
	fmt.Fprintf(w, "  circulation        %d yen\n", t.Circulation)
	fmt.Fprintf(w, "    intermediaries   %d yen\n", t.Intermediaries)
	fmt.Fprintf(w, "    wallets          %d yen\n", t.Wallets)
	fmt.Fprintf(w, "    offline escrow   %d yen\n", t.Escrow)
	fmt.Fprintf(w, "    loss             %d yen\n", t.Loss)
	if r.OK() {
		fmt.Fprintln(w, "verdict: OK: hash chain intact, every rule holds, money is conserved")
		return
	}
	fmt.Fprintf(w, "verdict: FAILED: %d problem(s)\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}

// loadCheckpointForAudit reads the checkpoint, if there is one, so the
// audit can compare it with the journal's replay at its sequence.
func loadCheckpointForAudit(dir string, rep *AuditReport) *state {
	if _, err := os.Stat(filepath.Join(dir, CheckpointFileName)); err != nil {
		return nil
	}
	c, err := openCheckpointer(dir, slog.New(slog.DiscardHandler), true)
	if err != nil {
		rep.problem("checkpoint cannot be opened: %v", err)
		return nil
	}
	defer c.db.Close()
	st, err := c.load()
	if errors.Is(err, errNoCheckpoint) {
		return nil
	}
	if err != nil {
		rep.problem("checkpoint cannot be read: %v", err)
		return nil
	}
	rep.CheckpointSeq = st.seq
	return st
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
		if cp.accounts[n] != st.accounts[n] || cp.id(uint32(n)) != st.id(uint32(n)) {
			rep.problem("checkpoint at record %d disagrees with the journal on account %s", cp.seq, st.id(uint32(n)))
		}
	}
	if len(cp.ops) != len(st.ops) {
		rep.problem("checkpoint at record %d has %d operation ids, the journal %d", cp.seq, len(cp.ops), len(st.ops))
	}
	for k, ref := range st.ops {
		if cp.ops[k] != ref {
			rep.problem("checkpoint at record %d disagrees with the journal on the operation at sequence %d", cp.seq, ref.seq)
		}
	}
}
