package ledger

import (
	"encoding/hex"
	"math"
	"math/big"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Reads see the ledger as of the last durable commit: nothing a crash
// could take back is ever shown.

// Account returns an account by id.
func (l *Ledger) Account(id AccountID) (Account, error) {
	l.viewMu.RLock()
	defer l.viewMu.RUnlock()
	n, err := l.view.lookup(id)
	if err != nil {
		return Account{}, err
	}
	return l.view.view(n), nil
}

// Balance returns an account's balance in yen.
func (l *Ledger) Balance(id AccountID) (int64, error) {
	a, err := l.Account(id)
	return a.Balance, err
}

// Holder returns a holder's position across every bank: its open wallets,
// their balances summed and the smallest limit among them.
func (l *Ledger) Holder(h HolderID) (Holding, error) {
	l.viewMu.RLock()
	defer l.viewMu.RUnlock()
	hd, _, err := l.view.holding(h)
	return hd, err
}

// Totals is where the CBDC in circulation is held, by account kind.
type Totals struct {
	Circulation    int64 // issued less redeemed: minus the issuance account's balance
	Intermediaries int64
	Wallets        int64
	Escrow         int64 // offline escrow
	Loss           int64
	Accounts       int    // accounts ever opened, the issuance account included
	Seq            uint64 // last durable journal sequence
	Head           string // hex SHA-256 of the record at Seq: the head of the hash chain
}

// Conserved reports whether circulation equals the sum held by kind.
func (t Totals) Conserved() bool {
	return t.Circulation == t.Intermediaries+t.Wallets+t.Escrow+t.Loss
}

// Totals returns the money by kind as of the last durable commit.
func (l *Ledger) Totals() Totals {
	l.viewMu.RLock()
	defer l.viewMu.RUnlock()
	return l.view.totalsView()
}

// Recount adds up every account's balance by kind and returns those sums
// beside the running totals, both as of the same journal record. The
// running totals move in pairs with every transfer, so they balance by
// construction; the recount shows that the accounts themselves hold what
// the totals say. It reads every account under the read lock (a few
// milliseconds at a million accounts).
func (l *Ledger) Recount() (running, counted Totals) {
	l.viewMu.RLock()
	defer l.viewMu.RUnlock()
	running = l.view.totalsView()
	var by [kindCount]big.Int
	for _, a := range l.view.accounts {
		if a.kind.valid() {
			by[a.kind].Add(&by[a.kind], big.NewInt(a.bal))
		}
	}
	clamp := func(k Kind) int64 {
		if !by[k].IsInt64() {
			return math.MinInt64 // cannot be a sum the totals agree with
		}
		return by[k].Int64()
	}
	counted = running
	counted.Circulation = -clamp(KindIssuance)
	counted.Intermediaries, counted.Wallets = clamp(KindIntermediary), clamp(KindWallet)
	counted.Escrow, counted.Loss = clamp(KindEscrow), clamp(KindLoss)
	return running, counted
}

func (s *state) totalsView() Totals {
	return Totals{
		Circulation:    -s.totals[KindIssuance],
		Intermediaries: s.totals[KindIntermediary],
		Wallets:        s.totals[KindWallet],
		Escrow:         s.totals[KindEscrow],
		Loss:           s.totals[KindLoss],
		Accounts:       len(s.accounts),
		Seq:            s.seq,
		Head:           hex.EncodeToString(s.head[:]),
	}
}

// Event is one committed operation, with accounts named by id.
type Event struct {
	Seq    uint64
	Time   time.Time
	Op     string // genesis, open, close, limits, issue, redeem, transfer or batch
	OpID   string
	Origin AccountID // the intermediary that asked; "" for the central bank

	// genesis, open, close and limits: the account concerned.
	Account      AccountID
	Kind         Kind
	Intermediary AccountID
	Holder       HolderID // open: the wallet's holder
	Limits       Limits   // open and limits: the wallet's limits

	// issue, redeem, transfer and batch: the money moved, in order.
	Transfers []Transfer
	// transfer and batch: excess the ledger swept from a wallet to its
	// intermediary after the transfers, in order.
	Sweeps []Transfer
}

func (s *state) event(r *record) Event {
	e := Event{Seq: r.seq, Time: time.Unix(0, r.time), Op: r.typ.String(), OpID: r.opID}
	if r.origin != 0 {
		e.Origin = s.id(r.origin)
	}
	switch r.typ {
	case opGenesis, opOpen, opClose, opLimits:
		a := &s.accounts[r.acct]
		e.Account, e.Kind = s.id(r.acct), a.kind
		if a.tag != 0 {
			e.Intermediary = s.id(a.tag)
		}
		e.Holder, e.Limits = r.holder, r.limits
	default:
		e.Transfers = s.transfers(r.postings)
		if len(r.sweeps) > 0 {
			e.Sweeps = s.transfers(r.sweeps)
		}
	}
	return e
}

func (s *state) transfers(ps []posting) []Transfer {
	out := make([]Transfer, len(ps))
	for i, p := range ps {
		out[i] = Transfer{From: s.id(p.from), To: s.id(p.to), Amount: p.amount}
	}
	return out
}

// MaxPage bounds the events one History or Events call returns.
const MaxPage = 1000

func clampPage(limit int) int {
	if limit <= 0 || limit > MaxPage {
		return MaxPage
	}
	return limit
}

// History returns an account's operations newest first, at most limit of
// them. Pass cursor 0 for the newest page and the returned next for the
// one after; next is 0 after the oldest.
func (l *Ledger) History(id AccountID, cursor uint64, limit int) (page []Event, next uint64, err error) {
	limit = clampPage(limit)
	l.viewMu.RLock()
	n, err := l.view.lookup(id)
	if err == nil && (cursor == 0 || cursor > l.view.accounts[n].last) {
		cursor = l.view.accounts[n].last
	}
	l.viewMu.RUnlock()
	if err != nil {
		return nil, 0, err
	}
	var recs []*record
	err = l.db.View(func(tx *bolt.Tx) error {
		for seq := cursor; seq != 0 && len(recs) < limit; {
			r, err := readDecoded(tx, seq)
			if err != nil {
				return err
			}
			if !r.touches(n) {
				return broken(ErrBadCursor, "record %d does not concern %s", seq, id)
			}
			recs = append(recs, r)
			seq = r.prevFor(n)
			next = seq
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return l.events(recs), next, nil
}

// Events returns committed operations in journal order from sequence from
// on, at most limit of them: the way to catch up after a dropped subscription.
func (l *Ledger) Events(from uint64, limit int) ([]Event, error) {
	limit = clampPage(limit)
	last := l.Totals().Seq
	var recs []*record
	err := l.db.View(func(tx *bolt.Tx) error {
		return scanJournal(tx, max(from, 1), func(enc []byte) error {
			if len(recs) >= limit || peekSeq(enc) > last {
				return errStopScan
			}
			r, err := decodeRecord(enc)
			recs = append(recs, r)
			return err
		})
	})
	if err != nil && err != errStopScan {
		return nil, err
	}
	return l.events(recs), nil
}

func (l *Ledger) events(recs []*record) []Event {
	l.viewMu.RLock()
	defer l.viewMu.RUnlock()
	out := make([]Event, len(recs))
	for i, r := range recs {
		out[i] = l.view.event(r)
	}
	return out
}

func readDecoded(tx *bolt.Tx, seq uint64) (*record, error) {
	enc, err := readRecord(tx, seq)
	if err != nil {
		return nil, err
	}
	return decodeRecord(enc)
}

func (r *record) touches(n uint32) bool {
	for _, l := range r.links {
		if l.acct == n {
			return true
		}
	}
	return false
}

// prevFor follows the record's history link for account n.
func (r *record) prevFor(n uint32) uint64 {
	for _, l := range r.links {
		if l.acct == n {
			return l.prev
		}
	}
	return 0
}

// Head returns the sequence and hash of the last durable journal record.
// Replicas of one ledger that have applied the same entries have the same
// head.
func (l *Ledger) Head() (seq uint64, hash [32]byte) {
	l.viewMu.RLock()
	defer l.viewMu.RUnlock()
	return l.view.seq, l.view.head
}
