package ledger

import (
	"context"

	bolt "go.etcd.io/bbolt"
)

// A bank follows the journal with Feed from a cursor it keeps itself: it
// credits deposits when money reaches its own account, and tells its
// wallets of every credit and debit, including payments from other banks'
// wallets. Which records concern a bank follows from their history links
// (one per account touched) and the accounts' tags, which never change
// once an account is opened.

// feedScan bounds the journal records one Feed call reads, so that a bank
// far behind the head, or one that few records concern, holds a read
// transaction only briefly; it goes on from the next it was given.
const feedScan = 4096

// Feed returns durable events with Seq >= from that concern the
// intermediary — records that touch its own account or any account it
// serves (tagged with it) — at most limit of them (MaxPage when limit is
// not in 1..MaxPage), and next, the sequence to ask for next time. It
// scans a bounded number of records per call, so next may advance past
// records that did not concern the bank while events is empty. When no
// durable record at or after from exists yet, it blocks until one is
// committed or ctx ends (then it returns ctx.Err()). A closed ledger gives
// ErrClosed, waiting feeds included.
func (b *Intermediary) Feed(ctx context.Context, from uint64, limit int) (events []Event, next uint64, err error) {
	limit = clampPage(limit)
	from = max(from, 1)
	for {
		committed, closed := b.l.durable.wait()
		if closed {
			return nil, 0, ErrClosed
		}
		n, last, err := b.l.checkBank(b.id)
		if err != nil {
			return nil, 0, err
		}
		if from <= last {
			return b.l.feed(n, from, min(last, from+feedScan-1), limit)
		}
		select {
		case <-committed:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

// checkBank checks that id is an open intermediary and returns its number
// and the last durable sequence.
func (l *Ledger) checkBank(id AccountID) (n uint32, last uint64, err error) {
	l.viewMu.RLock()
	defer l.viewMu.RUnlock()
	n, err = l.view.openIntermediary(id)
	return n, l.view.seq, err
}

// recentRecords is how many of the newest committed records the ledger
// keeps decoded in memory. Banks following the head read them from there
// instead of each reading and decoding every record from the journal.
const recentRecords = 1 << 14

// feed reads records from to to (both durable) and returns the events of
// those that concern intermediary n, up to limit of them.
func (l *Ledger) feed(n uint32, from, to uint64, limit int) ([]Event, uint64, error) {
	if events, next, ok := l.feedRecent(n, from, to, limit); ok {
		return events, next, nil
	}
	return l.feedJournal(n, from, to, limit)
}

// feedJournal reads a feed page from the journal.
func (l *Ledger) feedJournal(n uint32, from, to uint64, limit int) ([]Event, uint64, error) {
	var scanned []*record
	err := l.db.View(func(tx *bolt.Tx) error {
		return scanJournal(tx, from, func(enc []byte) error {
			if peekSeq(enc) > to {
				return errStopScan
			}
			r, err := decodeRecord(enc)
			if err != nil {
				return err
			}
			scanned = append(scanned, r)
			return nil
		})
	})
	if err != nil && err != errStopScan {
		if l.durable.isClosed() { // the file closed under the scan
			return nil, 0, ErrClosed
		}
		return nil, 0, err
	}
	recs, next := l.concerning(scanned, n, limit)
	if next == 0 {
		next = to + 1
	}
	return l.events(recs), next, nil
}

// feedRecent serves a feed page from the records kept in memory, when
// they cover it.
func (l *Ledger) feedRecent(n uint32, from, to uint64, limit int) ([]Event, uint64, bool) {
	l.viewMu.RLock()
	defer l.viewMu.RUnlock()
	if first := l.recent[from%recentRecords]; first == nil || first.seq != from || to-from >= recentRecords {
		return nil, 0, false
	}
	// Counted first, so the page is allocated once at its size: banks
	// following the head ask for a few events at a time, thousands of
	// times a second. The second pass stops at the last one counted.
	count, last := 0, uint64(0)
	for seq := from; seq <= to && count < limit; seq++ {
		r := l.recent[seq%recentRecords]
		if r == nil || r.seq != seq {
			return nil, 0, false // overwritten meanwhile cannot happen under the lock, but be sure
		}
		if l.view.concerns(r, n) {
			count, last = count+1, seq
		}
	}
	if count == 0 {
		return nil, to + 1, true
	}
	events := make([]Event, 0, count)
	for seq := from; seq <= last; seq++ {
		if r := l.recent[seq%recentRecords]; l.view.concerns(r, n) {
			events = append(events, l.view.event(r))
		}
	}
	if count == limit {
		return events, last + 1, true
	}
	return events, to + 1, true
}

// concerning keeps the records that touch intermediary n's account or one
// it serves, up to limit of them, and returns the sequence after the last
// one kept when the limit cut the scan short (else 0). The read view is
// locked once for the whole page: many banks follow the head at once, and
// a lock per record would queue them against the committer.
func (l *Ledger) concerning(scanned []*record, n uint32, limit int) ([]*record, uint64) {
	l.viewMu.RLock()
	defer l.viewMu.RUnlock()
	var recs []*record
	for _, r := range scanned {
		if l.view.concerns(r, n) {
			recs = append(recs, r)
			if len(recs) == limit {
				return recs, r.seq + 1
			}
		}
	}
	return recs, 0
}

// concerns reports whether r touches intermediary n's account or one it serves.
func (s *state) concerns(r *record, n uint32) bool {
	for _, k := range r.links {
		if k.acct == n || s.valid(k.acct) && s.accounts[k.acct].tag == n {
			return true
		}
	}
	return false
}

// openIntermediary returns the number of intermediary id, refusing it with
// the error its operations would get when it is not an open intermediary.
func (s *state) openIntermediary(id AccountID) (uint32, error) {
	n, err := s.lookup(id)
	if err != nil {
		return 0, err
	}
	switch a := &s.accounts[n]; {
	case n == 0 || a.kind != KindIntermediary:
		return 0, broken(ErrWrongKind, "%s is not an intermediary", id)
	case a.closed:
		return 0, broken(ErrAccountClosed, "intermediary %s", id)
	}
	return n, nil
}
