package ledger

import (
	"errors"
	"math"
)

// The model of holder tokens, holding limits and the waterfall, written
// from the rule in docs/architecture.md: after a transfer or batch, each
// wallet whose balance rose, in order of its first appearance as a payee,
// sweeps what its holder holds above max(limit, holdings before) to its
// intermediary, at most what it gained, when its waterfall is on; a holder
// still above that refuses the whole operation. Holdings and limits are
// summed over open wallets here, from scratch each time.

// modelTokens are the holder tokens the run gives wallets, so several
// wallets at several banks share one.
var modelTokens = []HolderID{"tok:1", "tok:2", "tok:3", "tok@4", "t-5"}

// modelTermsRule: only wallets carry a holder or limits; limits are not negative.
func modelTermsRule(s AccountSpec) *Error {
	switch {
	case s.Kind != KindWallet && (s.Holder != "" || s.Limits != Limits{}):
		return ErrWrongKind
	case s.Limits.Holding < 0:
		return ErrInvalidAmount
	}
	return nil
}

func (m *model) limitsRule(a *modelAcct, lim Limits) *Error {
	switch {
	case a.Kind != KindWallet:
		return ErrWrongKind
	case a.Closed:
		return ErrAccountClosed
	case lim.Holding < 0:
		return ErrInvalidAmount
	}
	return nil
}

// sameHolder reports whether two wallets count as one holder: they share a
// token, or they are one wallet without a token.
func sameHolder(a, b *modelAcct) bool {
	if a.Holder == "" || b.Holder == "" {
		return a.ID == b.ID
	}
	return a.Holder == b.Holder
}

// holderOf sums, over the open wallets of w's holder, the balances bal
// gives and finds the smallest non-zero limit.
func (m *model) holderOf(w *modelAcct, bal func(AccountID) int64) (held, limit int64) {
	for _, id := range m.order {
		a := m.accts[id]
		if a.Kind != KindWallet || a.Closed || !sameHolder(a, w) {
			continue
		}
		held += bal(id)
		if l := a.Limits.Holding; l != 0 && (limit == 0 || l < limit) {
			limit = l
		}
	}
	return held, limit
}

// holdingLimits applies the rule to the balances bal after an operation's
// transfers, adding the sweeps to bal, and returns the sweeps.
func (m *model) holdingLimits(o *op, bal map[AccountID]int64) ([]Transfer, *Error) {
	now := func(id AccountID) int64 {
		if v, ok := bal[id]; ok {
			return v
		}
		return m.accts[id].Balance
	}
	then := func(id AccountID) int64 { return m.accts[id].Balance }
	var cs []modelCredit
	seen := map[AccountID]bool{}
	for _, tr := range o.transfers {
		w := m.accts[tr.To]
		if w.Kind != KindWallet || now(w.ID) <= then(w.ID) || seen[w.ID] {
			continue
		}
		seen[w.ID] = true
		before, limit := m.holderOf(w, then)
		if limit != 0 {
			cs = append(cs, modelCredit{w, max(limit, before)})
		}
	}
	var sweeps []Transfer
	for _, c := range cs {
		held, _ := m.holderOf(c.w, now)
		if over := held - c.allowed; over > 0 && c.w.Limits.Sweep {
			amount := min(over, now(c.w.ID)-then(c.w.ID), now(c.w.ID))
			bal[c.w.ID] = now(c.w.ID) - amount
			bal[c.w.Intermediary] = now(c.w.Intermediary) + amount
			sweeps = append(sweeps, Transfer{From: c.w.ID, To: c.w.Intermediary, Amount: amount})
		}
	}
	for _, c := range cs {
		if held, _ := m.holderOf(c.w, now); held > c.allowed {
			return nil, ErrHoldingLimit
		}
	}
	return sweeps, nil
}

// modelCredit is a wallet an operation credited, and what its holder may hold.
type modelCredit struct {
	w       *modelAcct
	allowed int64
}

// checkHolders compares what the ledger says of every token with the model.
func (r *modelRun) checkHolders() {
	r.t.Helper()
	for _, t := range modelTokens {
		var want Holding
		for _, id := range r.m.order {
			if a := r.m.accts[id]; a.Holder == t && !a.Closed {
				want.Wallets++
				want.Holdings, want.Limit = r.m.holderOf(a, r.m.balanceOf)
			}
		}
		got, err := r.l.Holder(t)
		switch {
		case want.Wallets == 0 && !errors.Is(err, ErrUnknownHolder):
			r.fatalf("holder %s: got %+v, %v; want %s", t, got, err, ErrUnknownHolder.Code)
		case want.Wallets > 0:
			want.Holder = t
			if err != nil || got != want {
				r.fatalf("holder %s: got %+v, %v; want %+v", t, got, err, want)
			}
		}
	}
}

// genTerms gives a wallet spec a holder and limits now and then, and,
// rarely, other accounts or broken ones, to be refused.
func (r *modelRun) genTerms(s *AccountSpec) {
	p := r.rng.IntN(100)
	if s.Kind != KindWallet {
		switch {
		case p < 2:
			s.Holder = modelPick(r.rng, modelTokens)
		case p < 4:
			s.Limits = Limits{Sweep: true}
		}
		return
	}
	switch {
	case p < 2 && s.Intermediary != IssuanceAccount: // which refusal wins against that one is not a rule
		s.Holder = HolderID(modelPick(r.rng, modelBadIDs[1:]))
	case p < 50:
		s.Holder = modelPick(r.rng, modelTokens)
	}
	if r.rng.IntN(2) == 0 {
		s.Limits = r.genLimits()
	}
}

// genLimits is mostly a limit that wallets' balances reach, sometimes none,
// the largest, or a negative one.
func (r *modelRun) genLimits() Limits {
	l := Limits{Sweep: r.rng.IntN(2) == 0}
	switch p := r.rng.IntN(100); {
	case p < 20:
	case p < 45:
		l.Holding = 1 + r.rng.Int64N(5_000)
	case p < 90:
		l.Holding = 1 + r.rng.Int64N(2_000_000)
	case p < 95:
		l.Holding = math.MaxInt64
	default:
		l.Holding = -1 - r.rng.Int64N(10)
	}
	return l
}

func (r *modelRun) genSetLimits() *op {
	id := r.pickWhere(func(a *modelAcct) bool { return a.Kind == KindWallet && !a.Closed })
	switch p := r.rng.IntN(100); {
	case p < 5:
		id = r.strange()
	case p < 15:
		id = r.pickAny()
	}
	return &op{typ: opLimits, spec: AccountSpec{ID: id, Limits: r.genLimits()}}
}
