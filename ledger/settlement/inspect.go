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

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// Inspection is what the settlement index in a ledger's directory holds,
// read without changing it.
type Inspection struct {
	Summary   Summary
	Conflicts []Conflict
	InDoubt   int // settlements decided whose ledger batch was not confirmed; settled when the ledger reopens
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
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("settlement: open %s (is the ledger running?): %w", path, err)
	}
	defer db.Close()
	s := &Settler{db: db, banks: map[ledger.AccountID]offline.BankCert{}, devices: map[offline.Serial]*device{},
		vouchers: map[offline.Hash]*entry{}, slots: map[offline.VoucherKey]offline.Hash{},
		pending: map[offline.Serial]map[offline.Hash]bool{}, reserved: map[ledger.AccountID]int64{}}
	if err := s.load(); err != nil {
		return nil, err
	}
	in := &Inspection{Summary: s.Summary(), Conflicts: s.Conflicts()}
	for _, e := range s.vouchers {
		if e.status == statusSettling {
			in.InDoubt++
		}
	}
	return in, nil
}

// WriteText prints the inspection for people.
func (in *Inspection) WriteText(w io.Writer) {
	s := in.Summary
	fmt.Fprintf(w, "offline settlement\n")
	fmt.Fprintf(w, "  devices          %d registered or seen, %d revoked (revocation list %d)\n", s.Devices, s.RevokedDevices, s.RevocationSeq)
	fmt.Fprintf(w, "  vouchers         %d: %d settled (%d yen), %d pending (%d yen), %d rejected\n",
		s.Vouchers, s.Settled, s.SettledAmount, s.Pending, s.PendingAmount, s.Rejected)
	if in.InDoubt > 0 {
		fmt.Fprintf(w, "  in doubt         %d settlements wait for the ledger's answer; they complete when the ledger reopens\n", in.InDoubt)
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
		fmt.Fprintf(w, "  losses borne by  %-20s %d yen\n", b, s.LossByBearer[ledger.AccountID(b)])
	}
	if s.LossByPayees > 0 {
		fmt.Fprintf(w, "  losses borne by  %-20s %d yen\n", "payees", s.LossByPayees)
	}
	for _, c := range in.Conflicts {
		fmt.Fprintf(w, "  #%d %s by %s: %s\n", c.Seq, c.Kind, c.Device, c.Detail)
	}
}
