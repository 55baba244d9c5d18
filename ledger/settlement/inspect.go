package settlement

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/digital-yen/cbdc-sandbox/boltfile"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// Inspection is what the settlement index in a ledger's directory holds,
// read without changing it.
type Inspection struct {
	Summary   Summary
	Conflicts []Conflict
	InDoubt   int // ledger operations decided and not confirmed; sent again when the ledger reopens
	// Moves is what the index says settlement moved, by account: the net
	// of every confirmed operation. InDoubtOps are the operations not yet
	// confirmed, by id, with their transfers; the ledger may hold them.
	Moves      map[ledger.AccountID]Sum
	InDoubtOps map[string][]ledger.Transfer
}

// Inspect reads the settlement index in dir read-only, for audits. It
// returns ErrNoIndex when the ledger has none.
func Inspect(dir string) (*Inspection, error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, &detailed{ErrNoIndex, path}
	} else if err != nil {
		return nil, fmt.Errorf("settlement: %w", err)
	}
	db, err := boltfile.Open(path, bolt.Options{ReadOnly: true, Timeout: time.Second}, nil)
	if err != nil {
		return nil, fmt.Errorf("settlement: %w", err)
	}
	defer db.Close()
	st, err := readIndex(db)
	if err != nil {
		return nil, err
	}
	s := newSettler(nil, nil, nil, Config{})
	if err := s.load(st); err != nil {
		return nil, err
	}
	in := &Inspection{Summary: s.summary(), Conflicts: s.conflicts, InDoubt: len(s.ops),
		Moves: s.moves(), InDoubtOps: map[string][]ledger.Transfer{}}
	for id, o := range s.ops {
		in.InDoubtOps[id] = o.transfers
	}
	return in, nil
}

// moves is the net change, by account, of what settlement's confirmed
// operations moved, from the vouchers' results and the escrow returned.
func (s *Settler) moves() map[ledger.AccountID]Sum {
	m := map[ledger.AccountID]Sum{}
	add := func(a ledger.AccountID, v int64) { m[a] = m[a].Add(v) }
	for _, e := range s.vouchers {
		if e.fromEscrow == 0 && e.fromBearer == 0 {
			continue
		}
		add(e.payee, e.fromEscrow+e.fromBearer)
		if e.fromEscrow > 0 {
			add(s.devices[e.v.Payer].escrow, -e.fromEscrow)
		}
		if e.fromBearer > 0 {
			add(e.bearer, -e.fromBearer)
		}
	}
	for _, d := range s.devices {
		if d.released > 0 {
			add(d.escrow, -d.released)
			add(d.wallet, d.released)
		}
	}
	for a, v := range m {
		if v.IsZero() {
			delete(m, a)
		}
	}
	return m
}

// CrossCheck compares what the index says settlement moved with what the
// journal's settlement operations moved (journal: net by account of every
// operation IsOp names, with the ids of those seen). Operations in doubt
// that the journal holds count as moved. It returns one line per account
// that disagrees.
func (in *Inspection) CrossCheck(journal map[ledger.AccountID]Sum, seen map[string]bool) []string {
	want := map[ledger.AccountID]Sum{}
	for a, v := range in.Moves {
		want[a] = v
	}
	for id, ts := range in.InDoubtOps {
		if !seen[id] {
			continue
		}
		for _, t := range ts {
			want[t.From] = want[t.From].Add(-t.Amount)
			want[t.To] = want[t.To].Add(t.Amount)
		}
	}
	accounts := map[ledger.AccountID]bool{}
	for a := range want {
		accounts[a] = true
	}
	for a := range journal {
		accounts[a] = true
	}
	var problems []string
	for _, a := range slices.Sorted(func(yield func(ledger.AccountID) bool) {
		for a := range accounts {
			if !yield(a) {
				return
			}
		}
	}) {
		if w, j := want[a], journal[a]; w != j {
			problems = append(problems, fmt.Sprintf("offline settlement: %s moved %s yen by the index, %s by the journal", a, w, j))
		}
	}
	return problems
}

// IsOp reports whether a ledger operation id is one offline settlement
// makes: a voucher's settlement, a netting, or an escrow's return.
func IsOp(id string) bool {
	for _, p := range []string{"v:", "net:", "release:"} {
		if len(id) > len(p) && id[:len(p)] == p {
			return true
		}
	}
	return false
}

// WriteText prints the inspection for people.
func (in *Inspection) WriteText(w io.Writer) {
	s := in.Summary
	fmt.Fprintf(w, "offline settlement\n")
	fmt.Fprintf(w, "  devices          %d registered, %d revoked (revocation list %d)\n", s.Devices, s.RevokedDevices, s.RevocationSeq)
	fmt.Fprintf(w, "  vouchers         %d: %d settled (%s yen), %d pending (%s yen), %d rejected\n",
		s.Vouchers, s.Settled, s.SettledAmount, s.Pending, s.PendingAmount, s.Rejected)
	if in.InDoubt > 0 {
		fmt.Fprintf(w, "  in doubt         %d ledger operations wait for the ledger's answer; they complete when the ledger reopens\n", in.InDoubt)
	}
	kinds := make([]string, 0, len(s.Conflicts))
	for k := range s.Conflicts {
		kinds = append(kinds, string(k))
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "  conflicts        %-20s %d\n", k, s.Conflicts[offline.ConflictKind(k)])
	}
	bearers := make([]string, 0, len(s.LossByBearer))
	for b := range s.LossByBearer {
		bearers = append(bearers, string(b))
	}
	slices.Sort(bearers)
	for _, b := range bearers {
		fmt.Fprintf(w, "  losses borne by  %-20s %s yen\n", b, s.LossByBearer[ledger.AccountID(b)])
	}
	if !s.Advanced.IsZero() {
		fmt.Fprintf(w, "  of which         %-20s %s yen, which the payers' escrow may still repay\n", "advanced", s.Advanced)
	}
	if !s.LossByPayees.IsZero() {
		fmt.Fprintf(w, "  losses borne by  %-20s %s yen\n", "payees", s.LossByPayees)
	}
	if !s.RefusedAmount.IsZero() {
		fmt.Fprintf(w, "  refused          %-20s %s yen of vouchers an honest payee refuses or that came too late: their payees' loss\n", "", s.RefusedAmount)
	}
	for _, c := range in.Conflicts {
		who := c.Device.String()
		if c.Kind == offline.BankCertificate {
			who = string(c.Bank)
		}
		fmt.Fprintf(w, "  #%d %s by %s: %s\n", c.Seq, c.Kind, who, c.Detail)
	}
}

// Audit audits the central ledger in dir and, when it has one, its
// settlement index: the ledger's report, with every disagreement between
// what the index says settlement moved and what the journal's settlement
// operations moved added to its problems. The inspection is nil when the
// ledger never settled offline vouchers.
func Audit(dir string) (*ledger.AuditReport, *Inspection, error) {
	journal := map[ledger.AccountID]Sum{}
	seen := map[string]bool{}
	rep, err := ledger.AuditWith(dir, ledger.AuditOptions{CentralOp: func(id string, ts []ledger.Transfer) {
		if !IsOp(id) {
			return
		}
		seen[id] = true
		for _, t := range ts {
			journal[t.From] = journal[t.From].Add(-t.Amount)
			journal[t.To] = journal[t.To].Add(t.Amount)
		}
	}})
	if err != nil {
		return nil, nil, err
	}
	in, err := Inspect(dir)
	var d *boltfile.Damage
	switch {
	case errors.Is(err, ErrNoIndex):
		return rep, nil, nil
	case errors.As(err, &d):
		rep.Damage = append(rep.Damage, &ledger.DamageError{Path: d.Path, Kind: d.Kind, Detail: d.Detail})
		return rep, nil, nil
	}
	if err != nil {
		return rep, nil, err
	}
	for a, v := range journal {
		if v.IsZero() {
			delete(journal, a)
		}
	}
	rep.Problems = append(rep.Problems, in.CrossCheck(journal, seen)...)
	return rep, in, nil
}
