package ledger

import "slices"

// Holding limits are enforced here, in state.apply, so the sequencer,
// recovery and the audit agree on every sweep and refusal. After a
// transfer or batch record's postings:
//
//  1. for each wallet whose balance rose, in order of its first appearance
//     as a payee: with h its holder (the wallet itself when it has none),
//     allowed(h) = max(limit(h), holdings of h before the record), since
//     holdings above a lowered limit are kept, not confiscated; when h is
//     over allowed(h) and the wallet sweeps, the excess, at most what the
//     record credited it, moves to its serving intermediary;
//  2. any such holder still over allowed(h) refuses the whole record.

// credit is a wallet a record pays into whose holder has a limit.
type credit struct {
	acct   uint32
	mark   int32 // its holder's index in limitScratch.marks; -1: its own holder
	before int64 // balance before the record
	net    int64 // balance change by the postings
}

// mark is a holder's holdings before the record.
type mark struct {
	holder uint32
	before int64
}

// limitScratch is reused from record to record, so the rule allocates
// nothing once it has warmed up.
type limitScratch struct {
	credits []credit
	marks   []mark
	sweeps  []posting
	seen    map[uint64]int32 // large records: index of a credit (by account) or mark (by 1<<32|holder)
}

// limitOf is wallet n's holder's limit; 0 means none. Wallets without a
// holder or limits answer from account.ext alone.
func (s *state) limitOf(n uint32) int64 {
	x := s.accounts[n].ext
	if x == 0 {
		return 0
	}
	if h := s.exts[x].holder; h != 0 {
		return s.holders.list[h].limit
	}
	return s.exts[x].limit
}

// postWithLimits applies a record's postings and then the holding limits,
// all or none.
func (s *state) postWithLimits(r *record) error {
	limited := s.noteCredits(r)
	if err := s.post(r); err != nil {
		return err
	}
	var sweeps []posting
	var err error
	if limited {
		sweeps = s.sweepExcess()
		err = s.checkHeld(r)
	}
	if err == nil {
		err = s.settleSweeps(r, sweeps)
	}
	if err != nil {
		s.unpost(sweeps)
		s.unpost(r.postings)
	}
	return err
}

func (s *state) unpost(ps []posting) {
	for i := len(ps) - 1; i >= 0; i-- {
		s.move(ps[i].to, ps[i].from, ps[i].amount)
	}
}

// settleSweeps gives a record being built the sweeps the rule made, and
// makes sure a record read back stores exactly those.
func (s *state) settleSweeps(r *record, sweeps []posting) error {
	if r.links == nil {
		if len(sweeps) > 0 {
			r.sweeps = slices.Clone(sweeps)
		}
		return nil
	}
	if !slices.Equal(r.sweeps, sweeps) {
		return broken(ErrCorrupt, "record %d stores %d sweeps that the holding limits do not give (%d)", r.seq, len(r.sweeps), len(sweeps))
	}
	return nil
}

// noteCredits lists, before the postings, the wallets a transfer or batch
// pays into whose holder has a limit, with what they and their holders
// held. It reports whether there are any.
func (s *state) noteCredits(r *record) bool {
	if r.typ != opTransfer && r.typ != opBatch {
		return false
	}
	sc := &s.limits
	sc.credits, sc.marks = sc.credits[:0], sc.marks[:0]
	large := len(r.postings) > 8
	for _, p := range r.postings {
		if s.accounts[p.to].ext != 0 && s.limitOf(p.to) != 0 {
			s.noteCredit(p.to, large)
		}
	}
	return len(sc.credits) > 0
}

func (s *state) noteCredit(n uint32, large bool) {
	sc := &s.limits
	if large && len(sc.credits) == 0 { // the first in this record
		if sc.seen == nil {
			sc.seen = make(map[uint64]int32)
		}
		clear(sc.seen)
	}
	if sc.find(uint64(n), large, func(i int) bool { return sc.credits[i].acct == n }, len(sc.credits)) >= 0 {
		return
	}
	c := credit{acct: n, mark: -1, before: s.accounts[n].bal}
	if h := s.exts[s.accounts[n].ext].holder; h != 0 {
		key := 1<<32 | uint64(h)
		c.mark = sc.find(key, large, func(i int) bool { return sc.marks[i].holder == h }, len(sc.marks))
		if c.mark < 0 {
			c.mark = int32(len(sc.marks))
			sc.marks = append(sc.marks, mark{holder: h, before: s.holders.list[h].sum})
			sc.remember(key, c.mark, large)
		}
	}
	sc.remember(uint64(n), int32(len(sc.credits)), large)
	sc.credits = append(sc.credits, c)
}

// find returns the index of key, by the map in large records and by
// scanning the n entries with is otherwise; -1 when it is not there.
func (sc *limitScratch) find(key uint64, large bool, is func(int) bool, n int) int32 {
	if large {
		if i, ok := sc.seen[key]; ok {
			return i
		}
		return -1
	}
	for i := range n {
		if is(i) {
			return int32(i)
		}
	}
	return -1
}

func (sc *limitScratch) remember(key uint64, i int32, large bool) {
	if large {
		sc.seen[key] = i
	}
}

// over is how far c's holder holds above what it may now.
func (s *state) over(c *credit) int64 {
	held, before := s.accounts[c.acct].bal, c.before
	if c.mark >= 0 {
		m := &s.limits.marks[c.mark]
		held, before = s.holders.list[m.holder].sum, m.before
	}
	return held - max(s.limitOf(c.acct), before)
}

// sweepExcess moves each credited wallet's excess to its intermediary
// where the wallet sweeps, and returns the sweeps (scratch, reused).
func (s *state) sweepExcess() []posting {
	sc := &s.limits
	sc.sweeps = sc.sweeps[:0]
	for i := range sc.credits {
		c := &sc.credits[i]
		a := &s.accounts[c.acct]
		c.net = a.bal - c.before
		if c.net <= 0 || !s.exts[a.ext].sweep {
			continue
		}
		if over := s.over(c); over > 0 {
			amount := min(over, c.net, a.bal)
			s.move(c.acct, a.tag, amount)
			sc.sweeps = append(sc.sweeps, posting{from: c.acct, to: a.tag, amount: amount})
		}
	}
	return sc.sweeps
}

// checkHeld refuses the record when a credited holder is still over.
func (s *state) checkHeld(r *record) error {
	for i := range s.limits.credits {
		c := &s.limits.credits[i]
		if c.net <= 0 || s.over(c) <= 0 {
			continue
		}
		// Another bank's customer's figures are not the payer's bank's to read.
		if tag := s.accounts[c.acct].tag; r.origin != 0 && r.origin != tag {
			return broken(ErrHoldingLimit, "%s", s.id(c.acct))
		}
		held := s.accounts[c.acct].bal
		if c.mark >= 0 {
			held = s.holders.list[s.limits.marks[c.mark].holder].sum
		}
		return broken(ErrHoldingLimit, "%s: its holder would hold %d yen, over its holding limit of %d yen",
			s.id(c.acct), held, s.limitOf(c.acct))
	}
	return nil
}
