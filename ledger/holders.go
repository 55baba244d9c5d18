package ledger

// Holder tokens and limits are kept beside the accounts, not in them: most
// wallets have neither, so account stays 40 bytes and a credit to such a
// wallet costs one test of account.ext.

// walletExt is a wallet's holder and limits. Like account it holds no
// pointers.
type walletExt struct {
	holder uint32 // holder number; 0: the wallet is its own holder
	next   uint32 // next open wallet of the same holder, by account number; 0 ends the list
	limit  int64  // Limits.Holding
	sweep  bool
}

// holding is the derived state of one holder token, kept up to date as
// wallets open, close, change limits and move money.
type holding struct {
	first   uint32 // account number of its first open wallet; 0 for none
	wallets int32  // open wallets
	sum     int64  // their balances; never overflows, as it is part of circulation
	limit   int64  // the smallest non-zero limit among them
}

// holders numbers holder tokens from 1 in order of first use.
type holders struct {
	tokens names     // holder n's token is entry n-1
	list   []holding // list[n] is holder n's; list[0] is unused
}

func newHolders() holders {
	return holders{tokens: newNames(), list: make([]holding, 1)}
}

func (h *holders) clone() holders {
	return holders{tokens: h.tokens.clone(), list: append([]holding(nil), h.list...)}
}

func (h *holders) count() int { return len(h.list) - 1 }

func (h *holders) token(n uint32) HolderID { return HolderID(h.tokens.id(n - 1)) }

func (h *holders) lookup(t HolderID) (uint32, bool) {
	n, ok := h.tokens.lookup(AccountID(t))
	return n + 1, ok
}

// number returns t's holder number, giving it the next one when it is new.
func (h *holders) number(t HolderID) uint32 {
	if n, ok := h.lookup(t); ok {
		return n
	}
	h.list = append(h.list, holding{})
	return h.tokens.add(AccountID(t)) + 1
}

// smallestLimit combines two limits where 0 means none.
func smallestLimit(a, b int64) int64 {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// validHolder reports whether h is a well-formed token or empty (none).
func validHolder(h HolderID) bool { return h == "" || validID(string(h)) }

// checkTerms enforces what an account may carry: holders and limits are
// for wallets, and a limit is never negative.
func checkTerms(k Kind, h HolderID, lim Limits) error {
	switch {
	case !validHolder(h):
		return broken(ErrInvalidHolder, "%q", h)
	case k != KindWallet && (h != "" || lim != Limits{}):
		return broken(ErrWrongKind, "only wallets have a holder or limits, not a %s account", k)
	case lim.Holding < 0:
		return broken(ErrInvalidAmount, "holding limit %d", lim.Holding)
	}
	return nil
}

// setTerms gives wallet n its holder and limits as it opens, or as it is
// loaded from a checkpoint; the caller has checked them.
func (s *state) setTerms(n uint32, h HolderID, lim Limits) {
	if h == "" && lim == (Limits{}) {
		return
	}
	e := walletExt{limit: lim.Holding, sweep: lim.Sweep}
	if h != "" {
		e.holder = s.holders.number(h)
	}
	if h != "" && !s.accounts[n].closed { // closed only when loaded from a checkpoint
		hs := &s.holders.list[e.holder]
		e.next, hs.first = hs.first, n
		hs.wallets++
		hs.sum += s.accounts[n].bal
		hs.limit = smallestLimit(hs.limit, lim.Holding)
	}
	s.accounts[n].ext = uint32(len(s.exts))
	s.exts = append(s.exts, e)
}

// setLimits changes open wallet n's limits.
func (s *state) setLimits(n uint32, lim Limits) {
	a := &s.accounts[n]
	if a.ext == 0 {
		if lim == (Limits{}) {
			return
		}
		a.ext = uint32(len(s.exts))
		s.exts = append(s.exts, walletExt{})
	}
	e := &s.exts[a.ext]
	e.limit, e.sweep = lim.Holding, lim.Sweep
	if e.holder != 0 {
		s.recountLimit(e.holder)
	}
}

// leaveHolder takes closing wallet n out of its holder's open wallets.
func (s *state) leaveHolder(n uint32) {
	x := s.accounts[n].ext
	if x == 0 || s.exts[x].holder == 0 {
		return
	}
	e := &s.exts[x]
	hs := &s.holders.list[e.holder]
	if hs.first == n {
		hs.first = e.next
	} else {
		for m := hs.first; m != 0; m = s.exts[s.accounts[m].ext].next {
			if p := &s.exts[s.accounts[m].ext]; p.next == n {
				p.next = e.next
				break
			}
		}
	}
	e.next = 0
	hs.wallets--
	hs.sum -= s.accounts[n].bal
	s.recountLimit(e.holder)
}

// recountLimit walks holder h's open wallets for their smallest limit.
func (s *state) recountLimit(h uint32) {
	hs := &s.holders.list[h]
	hs.limit = 0
	for n := hs.first; n != 0; n = s.exts[s.accounts[n].ext].next {
		hs.limit = smallestLimit(hs.limit, s.exts[s.accounts[n].ext].limit)
	}
}

// addHolding follows a change of a wallet's balance into its holder's sum.
func (s *state) addHolding(x uint32, amount int64) {
	if h := s.exts[x].holder; h != 0 {
		s.holders.list[h].sum += amount
	}
}

// terms returns account n's holder and limits.
func (s *state) terms(n uint32) (HolderID, Limits) {
	x := s.accounts[n].ext
	if x == 0 {
		return "", Limits{}
	}
	e := &s.exts[x]
	var h HolderID
	if e.holder != 0 {
		h = s.holders.token(e.holder)
	}
	return h, Limits{Holding: e.limit, Sweep: e.sweep}
}

// holding returns the position of holder token t.
func (s *state) holding(t HolderID) (Holding, uint32, error) {
	if !validID(string(t)) {
		return Holding{}, 0, broken(ErrInvalidHolder, "%q", t)
	}
	h, ok := s.holders.lookup(t)
	if !ok || s.holders.list[h].wallets == 0 {
		return Holding{}, 0, broken(ErrUnknownHolder, "%s", t)
	}
	hs := &s.holders.list[h]
	return Holding{Holder: t, Wallets: int(hs.wallets), Holdings: hs.sum, Limit: hs.limit}, h, nil
}

// servesHolder reports whether intermediary number bank serves an open
// wallet of holder h.
func (s *state) servesHolder(bank, h uint32) bool {
	for n := s.holders.list[h].first; n != 0; n = s.exts[s.accounts[n].ext].next {
		if s.accounts[n].tag == bank {
			return true
		}
	}
	return false
}
