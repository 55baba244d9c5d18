package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"strconv"
)

// account is the state of one account, addressed by its number. It holds
// no pointers (its id is in names), so the garbage collector skips the slice.
type account struct {
	kind   Kind
	closed bool
	tag    uint32 // serving intermediary's number; 0 means none
	served int32  // intermediaries: open accounts tagged with this one
	ext    uint32 // wallets: index in state.exts of its holder and limits; 0 for none
	bal    int64
	opened uint64
	last   uint64
}

// opKey identifies an operation id within the namespace of whoever asked
// (an intermediary, or the central bank): the first 16 bytes of a SHA-256.
type opKey [16]byte

func keyOf(origin uint32, opID string) opKey {
	var buf [4 + maxIDLen]byte
	b := binary.BigEndian.AppendUint32(buf[:0], origin)
	sum := sha256.Sum256(append(b, opID...))
	return opKey(sum[:16])
}

// opRef remembers a committed operation so a retry returns its first result.
type opRef struct {
	seq    uint64
	time   int64
	digest uint64 // of the operation's contents, to tell a retry from a reuse
}

// state is the ledger's balances and accounts as of one journal sequence.
// The same rules run when the ledger sequences a new operation, when it
// recovers, and when an audit replays the journal, so all three agree.
type state struct {
	accounts []account
	names    names
	exts     []walletExt // exts[0] is unused
	holders  holders
	totals   [kindCount]int64 // sum of balances by kind
	seq      uint64
	head     [32]byte // hash of the record at seq
	ops      *opIndex // nil where retries need not be recognised
	digest   []byte   // scratch for opDigest
	limits   limitScratch
}

func newState(trackOps bool) *state {
	s := &state{names: newNames(), exts: make([]walletExt, 1), holders: newHolders()}
	if trackOps {
		s.ops = newOpIndex()
	}
	return s
}

// clone copies the state without its operation index.
func (s *state) clone() *state {
	return &state{
		accounts: append([]account(nil), s.accounts...),
		names:    s.names.clone(),
		exts:     append([]walletExt(nil), s.exts...),
		holders:  s.holders.clone(),
		totals:   s.totals,
		seq:      s.seq,
		head:     s.head,
	}
}

// cloneWithOps copies the state with its operation index.
func (s *state) cloneWithOps() *state {
	c := s.clone()
	if s.ops != nil {
		c.ops = s.ops.clone()
	}
	return c
}

func (s *state) valid(n uint32) bool { return int(n) < len(s.accounts) }

// id returns account n's id.
func (s *state) id(n uint32) AccountID { return s.names.id(n) }

// linksFor appends to dst the history links a record needs: one per
// distinct account it touches, pointing at that account's previous record.
func (s *state) linksFor(dst []link, r *record) []link {
	switch r.typ {
	case opGenesis, opOpen:
		return append(dst, link{acct: r.acct})
	case opClose, opLimits:
		return append(dst, link{acct: r.acct, prev: s.accounts[r.acct].last})
	}
	var seen map[uint32]bool // only for batches large enough to need it
	if len(r.postings) > 8 {
		seen = make(map[uint32]bool, 2*len(r.postings))
	}
	// Sweeps touch their intermediaries, which get links like any payee.
	for _, ps := range [2][]posting{r.postings, r.sweeps} {
		for _, p := range ps {
			for _, n := range [2]uint32{p.from, p.to} {
				if seen != nil && !seen[n] || seen == nil && !hasLink(dst, n) {
					dst = append(dst, link{acct: n, prev: s.accounts[n].last})
				}
				if seen != nil {
					seen[n] = true
				}
			}
		}
	}
	return dst
}

func hasLink(links []link, n uint32) bool {
	for _, l := range links {
		if l.acct == n {
			return true
		}
	}
	return false
}

// apply checks r against every ledger rule and applies it, or returns the
// broken rule and leaves the state as it was. r.seq must follow s.seq.
func (s *state) apply(r *record) error { return s.applyRecord(r, false) }

// applyRecord is apply; unseen says the caller has just found r's id
// absent from s.ops, so it is not looked up again. The index is the
// largest table the ledger keeps, and each look-up is a cache miss.
func (s *state) applyRecord(r *record, unseen bool) error {
	if r.seq != s.seq+1 {
		return broken(ErrCorrupt, "record %d follows %d", r.seq, s.seq)
	}
	if !validID(r.opID) {
		return ErrInvalidOpID
	}
	if s.ops != nil {
		if !r.keyed {
			r.key, r.keyed = keyOf(r.origin, r.opID), true
		}
		if s.ops.len() != s.seq {
			return broken(ErrCorrupt, "the operation index holds %d records of %d", s.ops.len(), s.seq)
		}
		if !unseen && s.ops.has(&r.key) {
			return broken(ErrCorrupt, "operation id %q is in the journal twice", r.opID)
		}
	}
	if err := s.checkOrigin(r); err != nil {
		return err
	}
	if err := s.applyOp(r); err != nil {
		return err
	}
	for _, l := range r.links {
		s.accounts[l.acct].last = r.seq
	}
	s.seq = r.seq
	if s.ops != nil {
		if !r.digested {
			r.digest, r.digested = s.opDigest(r), true
		}
		if !s.ops.add(&r.key, opRef{seq: r.seq, time: r.time, digest: r.digest}) {
			// Checked above, or found new by the sequencer just now.
			panic("ledger: operation index refused a record it was checked to take")
		}
	}
	return nil
}

// applyOp applies the operation itself. A record read back has its history
// links checked first; a record being built gets them afterwards, once its
// sweeps are known.
func (s *state) applyOp(r *record) error {
	if r.typ != opGenesis && s.seq == 0 {
		return broken(ErrCorrupt, "journal does not start with genesis")
	}
	if err := s.checkAccounts(r); err != nil {
		return err
	}
	building := r.links == nil
	if !building {
		if err := s.checkLinks(r); err != nil {
			return err
		}
	}
	if err := s.applyRules(r); err != nil {
		return err
	}
	if building {
		r.links = s.linksFor(r.linkBuf[:0], r)
	}
	return nil
}

func (s *state) applyRules(r *record) error {
	switch r.typ {
	case opGenesis:
		if s.seq != 0 || r.acct != 0 || r.kind != KindIssuance || r.accountID != IssuanceAccount || r.tag != 0 ||
			r.holder != "" || r.limits != (Limits{}) {
			return broken(ErrCorrupt, "bad genesis record")
		}
		s.addAccount(r)
		return nil
	case opOpen:
		return s.open(r)
	case opClose:
		return s.close(r.acct)
	case opLimits:
		return s.changeLimits(r)
	case opIssue, opRedeem, opTransfer:
		if len(r.postings) != 1 {
			return broken(ErrCorrupt, "%s record %d has %d postings", r.typ, r.seq, len(r.postings))
		}
	case opBatch:
		if len(r.postings) == 0 || len(r.postings) > MaxBatchTransfers {
			return broken(ErrBatchSize, "%d transfers", len(r.postings))
		}
	default:
		return broken(ErrCorrupt, "unknown record type %d", r.typ)
	}
	return s.postWithLimits(r)
}

// checkLinks makes sure a record read back has the history links the state
// expects, so account histories can be trusted.
func (s *state) checkLinks(r *record) error {
	var buf [4]link
	want := s.linksFor(buf[:0], r)
	if len(want) != len(r.links) {
		return broken(ErrCorrupt, "record %d has %d history links, want %d", r.seq, len(r.links), len(want))
	}
	for i := range want {
		if want[i] != r.links[i] {
			return broken(ErrCorrupt, "record %d has a broken history link for account %d", r.seq, want[i].acct)
		}
	}
	return nil
}

// checkAccounts makes sure every account number a record names exists.
func (s *state) checkAccounts(r *record) error {
	switch r.typ {
	case opGenesis, opOpen:
		if int(r.acct) != len(s.accounts) {
			return broken(ErrCorrupt, "record %d opens account number %d, want %d", r.seq, r.acct, len(s.accounts))
		}
	case opClose, opLimits:
		if !s.valid(r.acct) {
			return broken(ErrUnknownAccount, "account number %d", r.acct)
		}
	}
	for _, ps := range [2][]posting{r.postings, r.sweeps} {
		for _, p := range ps {
			if !s.valid(p.from) || !s.valid(p.to) {
				return broken(ErrUnknownAccount, "account number %d or %d", p.from, p.to)
			}
		}
	}
	return nil
}

func (s *state) open(r *record) error {
	if !validID(string(r.accountID)) {
		return ErrInvalidAccountID
	}
	if _, ok := s.names.lookup(r.accountID); ok {
		return broken(ErrAccountExists, "%s", r.accountID)
	}
	switch r.kind {
	case KindIntermediary:
		if r.tag != 0 {
			return broken(ErrWrongKind, "an intermediary is not served by another intermediary")
		}
	case KindWallet, KindEscrow, KindLoss:
		if r.tag == 0 && r.kind == KindWallet {
			return broken(ErrWrongKind, "a wallet must name the intermediary that serves it")
		}
		if r.tag != 0 {
			if !s.valid(r.tag) || s.accounts[r.tag].kind != KindIntermediary {
				return broken(ErrWrongKind, "serving account number %d is not an intermediary", r.tag)
			}
			if s.accounts[r.tag].closed {
				return broken(ErrAccountClosed, "intermediary %s", s.id(r.tag))
			}
		}
	default:
		return broken(ErrWrongKind, "cannot open an account of kind %s", r.kind)
	}
	if err := checkTerms(r.kind, r.holder, r.limits); err != nil {
		return err
	}
	s.addAccount(r)
	if r.tag != 0 {
		s.accounts[r.tag].served++
	}
	return nil
}

func (s *state) addAccount(r *record) {
	s.accounts = append(s.accounts, account{kind: r.kind, tag: r.tag, opened: r.seq})
	s.names.add(r.accountID)
	s.setTerms(r.acct, r.holder, r.limits)
}

// changeLimits sets an open wallet's limits. Holdings already above a
// lowered limit stay; the rule in limits.go holds them there.
func (s *state) changeLimits(r *record) error {
	a := &s.accounts[r.acct]
	switch {
	case a.kind != KindWallet:
		return broken(ErrWrongKind, "%s is a %s account; only wallets have limits", s.id(r.acct), a.kind)
	case a.closed:
		return broken(ErrAccountClosed, "%s", s.id(r.acct))
	case r.limits.Holding < 0:
		return broken(ErrInvalidAmount, "holding limit %d", r.limits.Holding)
	}
	s.setLimits(r.acct, r.limits)
	return nil
}

func (s *state) close(n uint32) error {
	a := &s.accounts[n]
	switch {
	case a.kind == KindIssuance:
		return broken(ErrWrongKind, "the issuance account cannot be closed")
	case a.closed:
		return broken(ErrAccountClosed, "%s", s.id(n))
	case a.bal != 0:
		return broken(ErrAccountNotEmpty, "%s holds %d yen", s.id(n), a.bal)
	case a.served > 0:
		return broken(ErrAccountInUse, "%s serves %d open accounts", s.id(n), a.served)
	}
	a.closed = true
	if a.tag != 0 {
		s.accounts[a.tag].served--
	}
	s.leaveHolder(n)
	return nil
}

// post applies a record's postings in order, all or none.
func (s *state) post(r *record) error {
	for i, p := range r.postings {
		if err := s.checkPosting(r.typ, p); err != nil {
			for j := i - 1; j >= 0; j-- {
				s.move(r.postings[j].to, r.postings[j].from, r.postings[j].amount)
			}
			if r.typ == opBatch {
				return &ruleError{err: errOf(err), detail: batchDetail(i, err)}
			}
			return err
		}
		s.move(p.from, p.to, p.amount)
	}
	return nil
}

func (s *state) checkPosting(t opType, p posting) error {
	from, to := &s.accounts[p.from], &s.accounts[p.to]
	switch {
	case p.amount <= 0:
		return broken(ErrInvalidAmount, "got %d", p.amount)
	case p.from == p.to:
		return broken(ErrSameAccount, "%s", s.id(p.from))
	case from.closed:
		return broken(ErrAccountClosed, "%s", s.id(p.from))
	case to.closed:
		return broken(ErrAccountClosed, "%s", s.id(p.to))
	}
	if err := s.checkRoute(t, p); err != nil {
		return err
	}
	if from.kind == KindIssuance {
		if from.bal < -math.MaxInt64+p.amount {
			return broken(ErrAmountOverflow, "circulation would exceed %d yen", int64(math.MaxInt64))
		}
	} else if from.bal < p.amount {
		return broken(ErrInsufficientFunds, "%s holds %d yen, needs %d", s.id(p.from), from.bal, p.amount)
	}
	if to.bal > math.MaxInt64-p.amount {
		return broken(ErrAmountOverflow, "%s would exceed %d yen", s.id(p.to), int64(math.MaxInt64))
	}
	return nil
}

// checkRoute enforces which operation may move money between which kinds.
func (s *state) checkRoute(t opType, p posting) error {
	from, to := &s.accounts[p.from], &s.accounts[p.to]
	switch t {
	case opIssue:
		if from.kind != KindIssuance || (to.kind != KindIntermediary && to.kind != KindLoss) {
			return broken(ErrWrongKind, "issue goes from the issuance account to an intermediary or a loss account, not to %s (%s)", s.id(p.to), to.kind)
		}
	case opRedeem:
		if from.kind != KindIntermediary || to.kind != KindIssuance {
			return broken(ErrWrongKind, "redeem goes from an intermediary to the issuance account, not from %s (%s)", s.id(p.from), from.kind)
		}
	default:
		if from.kind == KindIssuance || to.kind == KindIssuance {
			return ErrIssuanceAccount
		}
	}
	return nil
}

func (s *state) move(from, to uint32, amount int64) {
	f, t := &s.accounts[from], &s.accounts[to]
	f.bal -= amount
	t.bal += amount
	s.totals[f.kind] -= amount
	s.totals[t.kind] += amount
	if f.ext != 0 {
		s.addHolding(f.ext, -amount)
	}
	if t.ext != 0 {
		s.addHolding(t.ext, amount)
	}
}

func errOf(err error) *Error {
	if r, ok := err.(*ruleError); ok {
		return r.err
	}
	if e, ok := err.(*Error); ok {
		return e
	}
	return ErrCorrupt
}

func batchDetail(i int, err error) string {
	if r, ok := err.(*ruleError); ok && r.detail != "" {
		return "transfer " + strconv.Itoa(i) + ": " + r.detail
	}
	return "transfer " + strconv.Itoa(i)
}

// opDigest condenses an operation's contents, named by account id rather
// than number, so a retry can be told from a reuse of its id.
func (s *state) opDigest(r *record) uint64 {
	b := append(s.digest[:0], byte(r.typ))
	name := func(n uint32) {
		id := s.names.bytes(n)
		b = append(b, byte(len(id)))
		b = append(b, id...)
	}
	switch r.typ {
	case opGenesis, opOpen:
		b = append(b, byte(len(r.accountID)))
		b = append(b, r.accountID...)
		b = append(b, byte(r.kind))
		name(r.tag)
		b = append(b, byte(len(r.holder)))
		b = append(b, r.holder...)
		b = appendLimits(b, r.limits)
	case opClose:
		name(r.acct)
	case opLimits:
		name(r.acct)
		b = appendLimits(b, r.limits)
	default:
		for _, p := range r.postings {
			name(p.from)
			name(p.to)
			b = binary.BigEndian.AppendUint64(b, uint64(p.amount))
		}
	}
	s.digest = b
	sum := sha256.Sum256(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// view turns an account into its exported form.
func (s *state) view(n uint32) Account {
	a := &s.accounts[n]
	v := Account{ID: s.id(n), Kind: a.kind, Closed: a.closed, Balance: a.bal, OpenedSeq: a.opened, LastSeq: a.last}
	if a.tag != 0 {
		v.Intermediary = s.id(a.tag)
	}
	v.Holder, v.Limits = s.terms(n)
	return v
}

// checkOrigin enforces what an intermediary may ask for: it opens, closes
// and sets the limits of only accounts it serves, issues and redeems only its own float,
// and moves money only out of its own account or accounts it serves, never
// out of offline escrow. The
// central bank (origin 0) may do anything the other rules allow.
func (s *state) checkOrigin(r *record) error {
	if r.origin == 0 {
		return nil
	}
	if !s.valid(r.origin) || s.accounts[r.origin].kind != KindIntermediary {
		return broken(ErrWrongKind, "operations come from intermediaries; account number %d is not one", r.origin)
	}
	if s.accounts[r.origin].closed {
		return broken(ErrAccountClosed, "intermediary %s", s.id(r.origin))
	}
	switch r.typ {
	case opGenesis:
		return broken(ErrNotYours, "only the central bank writes genesis")
	case opOpen:
		if r.kind == KindIntermediary || r.tag != r.origin {
			return broken(ErrNotYours, "%s may open only accounts it serves itself", s.id(r.origin))
		}
	case opClose, opLimits:
		if !s.valid(r.acct) || s.accounts[r.acct].tag != r.origin {
			return broken(ErrNotYours, "%s does not serve account number %d", s.id(r.origin), r.acct)
		}
	default:
		return s.checkDebits(r)
	}
	return nil
}

// checkDebits makes sure every account a record takes money from belongs
// to its origin: the intermediary itself, or an account it serves.
func (s *state) checkDebits(r *record) error {
	for _, p := range r.postings {
		switch {
		case !s.valid(p.from) || !s.valid(p.to):
			return broken(ErrUnknownAccount, "account number %d or %d", p.from, p.to)
		case r.typ == opIssue && p.to != r.origin:
			return broken(ErrNotYours, "%s may issue only to its own account", s.id(r.origin))
		case r.typ == opIssue:
		case s.accounts[p.from].kind == KindEscrow:
			return broken(ErrNotYours, "offline escrow %s is released only by the central bank settling vouchers", s.id(p.from))
		case p.from != r.origin && s.accounts[p.from].tag != r.origin:
			return broken(ErrNotYours, "%s does not serve %s", s.id(r.origin), s.id(p.from))
		}
	}
	return nil
}
