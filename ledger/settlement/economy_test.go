package settlement

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// An offline economy for the adversarial property test: honest people pay
// and sync as the rules say; attackers cheat in every way the threat model
// allows. The economy runs against a live settler, because honest purses
// need the ledger's sync receipts to keep paying; everything handed in is
// logged as upload messages, to be replayed on fresh copies of the ledger
// in other orders.

// role is what a person does besides paying honestly.
type role int

const (
	honest     role = iota
	cloner          // copies its purse K times and spends from every copy
	roller          // loads an old state of its purse and pays again
	forger          // raises its balance without funding and overspends
	keyholder       // holds its purse's key: signs vouchers with the counters, syncs, times and amounts it likes
	accomplice      // a payee that accepts anything and hands it in
	tamperer        // changes vouchers it received before handing them in
	loser           // loses its purse to a thief, who keeps paying; retires it
	numRoles
)

func (r role) String() string {
	return [...]string{"honest", "cloner", "roller", "forger", "keyholder", "accomplice", "tamperer", "loser"}[r]
}

// honestParty: a party whose own conduct follows the rules (a loser's
// thief is not its conduct; it retires the purse as the rules say).
func (r role) honestParty() bool { return r == honest || r == loser }

// message is one upload, as raw bytes, replayable in any order, or the
// retirement of a lost purse.
type message struct {
	bank   ledger.AccountID
	up     Upload
	retire bool
}

// economy is what the play produced.
type economy struct {
	w         *world
	rng       *mrand.Rand
	people    []*person
	roles     map[*person]role
	cash      int64
	funded    map[offline.Serial]int64
	made      map[offline.Hash]offline.Voucher // every genuine voucher signed by a registered device's key
	forged    map[offline.Hash]offline.Voucher // vouchers under certificates a bank's key signed and never registered
	branches  map[offline.Serial]int           // copies and forks beyond the first that each device spent from
	spentBy   map[offline.Serial][]offline.Voucher
	log       []message
	retired   []offline.Serial
	thieves   map[*person]*offline.Purse
	copies    map[*person][]*offline.Purse
	keys      map[*person]*rogue
	mates     map[*person]*person           // a keyholder's accomplice
	inbox     map[*person][]offline.Voucher // an accomplice's raw inbox
	places    map[*person]uint64
	rogueBank ledger.AccountID
	impostor  *rogue // a certificate the rogue bank's key signed over another bank's serial
	phantom   *rogue // a certificate the rogue bank's key signed and never registered

	rogueStates map[*rogue]*rogueState
}

const economyCash = 2_000_000

func newEconomy(w *world, rng *mrand.Rand, people int) *economy {
	e := &economy{w: w, rng: rng, roles: map[*person]role{}, funded: map[offline.Serial]int64{},
		made: map[offline.Hash]offline.Voucher{}, forged: map[offline.Hash]offline.Voucher{},
		branches: map[offline.Serial]int{}, spentBy: map[offline.Serial][]offline.Voucher{},
		thieves: map[*person]*offline.Purse{}, copies: map[*person][]*offline.Purse{}, keys: map[*person]*rogue{},
		mates: map[*person]*person{}, inbox: map[*person][]offline.Voucher{}, places: map[*person]uint64{}, cash: economyCash,
		rogueStates: map[*rogue]*rogueState{}}
	for i := range people {
		bank := ledger.AccountID([]string{"bank-a", "bank-b"}[rng.IntN(2)])
		r := honest
		if i >= 2 && i < 2+int(numRoles)-1 {
			r = role(i - 1) // one of each attack, after two honest people
		} else if i >= 2 && rng.IntN(5) == 0 {
			r = role(1 + rng.IntN(int(numRoles)-1))
		}
		var p *person
		if r == keyholder {
			p = e.keyholderPerson(bank)
		} else {
			p = w.person(bank, e.cash)
		}
		e.people = append(e.people, p)
		e.roles[p] = r
		if amount := 10_000 * (1 + int64(rng.IntN(6))); r != accomplice && !(r == honest && i < 2) {
			w.fund(p, amount)
			e.funded[serial(p)] += amount
		}
	}
	for p, r := range e.roles {
		if r == keyholder {
			e.mates[p] = e.someone(func(q *person) bool { return e.roles[q] == accomplice })
		}
	}
	e.rogueBank = "bank-b"
	return e
}

// keyholderPerson is a person whose purse key the test holds as a rogue.
func (e *economy) keyholderPerson(bank ledger.AccountID) *person {
	w := e.w
	p := w.person(bank, e.cash)
	r := &rogue{bank: bank, wallet: p.wallet, escrow: p.escrow, chain: *p.purse.Chain()}
	r.key = purseKey(w.t, p.purse)
	e.keys[p] = r
	return p
}

// purseKey reads a purse's private key from its saved state, as anyone
// holding the purse file can.
func purseKey(t interface{ Fatal(...any) }, p *offline.Purse) ed25519.PrivateKey {
	saved := p.Save()
	return ed25519.NewKeyFromSeed(saved[2 : 2+ed25519.SeedSize])
}

func (e *economy) someone(ok func(*person) bool) *person {
	i := e.rng.IntN(len(e.people))
	for _, p := range append(e.people[i:], e.people[:i]...) {
		if ok(p) {
			return p
		}
	}
	return nil
}

// receiver picks an honest payee other than p.
func (e *economy) receiver(not *person) *person {
	return e.someone(func(q *person) bool {
		return q != not && e.roles[q].honestParty() && !slices.Contains(e.retired, serial(q))
	})
}

func (e *economy) now() time.Time { return e.w.clockNow() }

// honestPay has from pay an honest payee with a genuine purse; it reports
// whether a voucher was made and accepted.
func (e *economy) honestPay(payer *person, from *offline.Purse, to *person) bool {
	if to == nil || from.Balance() < 100 || from.SinceSync() >= uint64(e.w.cfg.Policy.PaymentsBeforeSync) {
		return false
	}
	amount := 100 * (1 + e.rng.Int64N(min(from.Balance(), e.w.cfg.Policy.PaymentCap)/100))
	q, err := to.purse.Request(amount, e.now())
	if err != nil {
		return false // the payee's purse is full
	}
	v, err := from.Pay(q, e.now())
	if err != nil {
		to.purse.CancelRequest(q.Nonce)
		return false
	}
	e.made[v.Hash()] = v
	e.spentBy[serial(payer)] = append(e.spentBy[serial(payer)], v)
	if err := to.purse.Accept(v, e.now()); err != nil {
		// Refused (a revoked payer, a counter the payee saw): the voucher
		// stays in the payer's log and is handed in by its payer.
		to.purse.CancelRequest(q.Nonce)
	}
	return true
}

// sync hands in what a purse holds as a wallet does, in messages of random
// size, received first, and applies the ledger's receipts.
func (e *economy) sync(p *person, purse *offline.Purse) {
	up := purse.Upload()
	recv, sent := up.Received, up.Sent
	before := up.ReceivedBefore
	total := up.ReceivedBefore + uint64(len(recv))
	for first := true; first || len(recv)+len(sent) > 0; first = false {
		n := 1 + e.rng.IntN(6)
		u := Upload{Device: up.Serial, Counter: up.Counter, ReceivedBefore: before, ReceivedTotal: total, TotalKnown: true}
		for len(recv) > 0 && len(u.Received) < n {
			u.Received, recv = append(u.Received, recv[0].Marshal()), recv[1:]
		}
		for len(sent) > 0 && len(u.Sent)+len(u.Received) < n {
			u.Sent, sent = append(u.Sent, sent[0].Marshal()), sent[1:]
		}
		before += uint64(len(u.Received))
		rep := e.send(p.bank, u)
		if err := purse.ApplySync(rep.Receipt, nil); err != nil && offline.CodeOf(err) != offline.ErrStaleReceipt.Code {
			// A copy of a purse that paid differently gets no receipt it
			// can use; an honest purse always does.
			if e.roles[p].honestParty() || offline.CodeOf(err) != offline.ErrWrongDevice.Code {
				e.w.t.Fatalf("%s (%s) applies its receipt: %v", p.name, e.roles[p], err)
			}
		}
	}
	crl := e.w.s.Revocations()
	purse.UpdateRevocations(crl)
}

// send hands in one message at the live settler and logs it.
func (e *economy) send(bank ledger.AccountID, u Upload) Report {
	e.w.t.Helper()
	e.log = append(e.log, message{bank: bank, up: u})
	rep, err := e.w.s.Reconcile(e.w.ctx, bank, u)
	if err != nil {
		e.w.t.Fatalf("upload for %s: %v", u.Device, err)
	}
	return rep
}

// play runs the economy for the given number of steps, then has everyone
// hand in what they hold.
func (e *economy) play(steps int) {
	ringAt := e.rng.IntN(steps)
	for step := range steps {
		if step == ringAt {
			e.ring()
		}
		e.w.advance(time.Duration(1+e.rng.IntN(90)) * time.Minute)
		p := e.people[e.rng.IntN(len(e.people))]
		switch e.roles[p] {
		case honest:
			e.honestStep(p)
		case loser:
			e.loserStep(p)
		case cloner, roller, forger:
			e.firmwareCheat(p)
		case keyholder:
			e.keyholderStep(p)
		case tamperer:
			e.honestStep(p)
		case accomplice:
		}
		if e.rng.IntN(12) == 0 {
			e.rogueBankStep()
		}
	}
	e.finish()
}

func (e *economy) honestStep(p *person) {
	switch e.rng.IntN(6) {
	case 0:
		e.sync(p, p.purse)
	case 1:
		e.defund(p)
	case 2:
		e.bounce(p)
	default:
		if !e.honestPay(p, p.purse, e.receiver(p)) {
			e.sync(p, p.purse)
		}
	}
}

// ring: an honest purse pays all it can to the first of the two honest
// people who start with empty purses, who pays it to the second, who pays
// it back, and the first purse pays it on: in intermittent mode, uploads
// in an unlucky order leave the three waiting on each other in a cycle.
func (e *economy) ring() {
	a := e.someone(func(q *person) bool {
		return e.roles[q] == honest && q.purse.Balance() >= 1000 && slices.Index(e.people, q) >= 2
	})
	if a == nil {
		return
	}
	b, c := e.people[0], e.people[1]
	amount := min(a.purse.Balance(), e.w.cfg.Policy.PaymentCap)
	if e.payExactly(a, b, amount) && e.payExactly(b, c, amount) && e.payExactly(c, a, amount) {
		e.payExactly(a, e.receiver(a), amount)
	}
}

// bounce: p pays q, q pays the same back out of what it received (in
// intermittent mode), and p pays it on to a third: value that flows round,
// so that uploads in an unlucky order leave honest payers waiting on each
// other.
func (e *economy) bounce(p *person) {
	q := e.receiver(p)
	amount := min(p.purse.Balance(), e.w.cfg.Policy.PaymentCap)
	if q == nil || e.roles[q] != honest || amount < 100 {
		return
	}
	before := q.purse.Balance()
	if !e.payExactly(p, q, amount) || q.purse.Balance()-before != amount {
		return // refused, or staged: q cannot spend it yet
	}
	if e.payExactly(q, p, amount) {
		e.payExactly(p, e.receiver(p), amount)
	}
}

// payExactly has from pay to exactly amount, if its purse lets it.
func (e *economy) payExactly(from, to *person, amount int64) bool {
	if to == nil || amount > from.purse.Balance() || amount > e.w.cfg.Policy.PaymentCap ||
		from.purse.SinceSync() >= uint64(e.w.cfg.Policy.PaymentsBeforeSync) {
		return false
	}
	q, err := to.purse.Request(amount, e.now())
	if err != nil {
		return false
	}
	v, err := from.purse.Pay(q, e.now())
	if err != nil {
		to.purse.CancelRequest(q.Nonce)
		return false
	}
	e.made[v.Hash()] = v
	e.spentBy[serial(from)] = append(e.spentBy[serial(from)], v)
	if err := to.purse.Accept(v, e.now()); err != nil {
		to.purse.CancelRequest(q.Nonce)
	}
	return true
}

// defund syncs, then returns part of the purse to the wallet.
func (e *economy) defund(p *person) {
	e.sync(p, p.purse)
	if p.purse.SinceSync() != 0 || p.purse.Balance() < 100 {
		return
	}
	v, err := p.purse.Defund(100*(1+e.rng.Int64N(p.purse.Balance()/100)), e.now())
	if err != nil {
		return
	}
	e.made[v.Hash()] = v
	e.spentBy[serial(p)] = append(e.spentBy[serial(p)], v)
	e.sync(p, p.purse)
}

// loserStep: an honest person whose purse is lost at some point to a thief
// who keeps paying with it; the owner retires it by serial.
func (e *economy) loserStep(p *person) {
	if thief := e.thieves[p]; thief != nil {
		e.honestPay(p, thief, e.receiver(p))
		return
	}
	if e.rng.IntN(6) == 0 && p.purse.Balance() > 0 {
		e.thieves[p] = p.purse
		e.retired = append(e.retired, serial(p))
		e.log = append(e.log, message{bank: p.bank, up: Upload{Device: serial(p)}, retire: true})
		if _, err := e.w.s.RetireDevice(e.w.ctx, p.bank, serial(p)); err != nil {
			e.w.t.Fatal(err)
		}
		return
	}
	e.honestStep(p)
}

// firmwareCheat: a purse whose secure element was copied, rolled back or
// given a balance it was never funded, but which still signs through the
// purse's own code.
func (e *economy) firmwareCheat(p *person) {
	sn := serial(p)
	switch e.roles[p] {
	case cloner:
		if len(e.copies[p]) < 2 && e.rng.IntN(4) == 0 {
			e.copies[p] = append(e.copies[p], clone(e.w.t, p.purse))
			e.branches[sn]++
		}
		from := p.purse
		if k := e.rng.IntN(len(e.copies[p]) + 1); k > 0 {
			from = e.copies[p][k-1]
		}
		if from.Balance() < 100 {
			from.ForgeBalance(20_000) // a copy spent dry is refilled: both copies must keep paying
		}
		e.honestPay(p, from, e.receiver(p))
	case roller:
		if e.copies[p] == nil {
			e.copies[p] = []*offline.Purse{clone(e.w.t, p.purse)} // the state it will roll back to
		}
		if e.rng.IntN(5) == 0 && p.purse.Counter() > e.copies[p][0].Counter() {
			p.purse = e.copies[p][0]
			e.copies[p] = nil
			e.branches[sn]++
		}
		if p.purse.Balance() < 100 {
			p.purse.ForgeBalance(10_000)
		}
		e.honestPay(p, p.purse, e.receiver(p))
	case forger:
		if e.rng.IntN(4) == 0 {
			p.purse.ForgeBalance(p.purse.Balance() + 20_000)
		}
		if !e.honestPay(p, p.purse, e.receiver(p)) {
			e.sync(p, p.purse)
		}
	}
	if e.rng.IntN(6) == 0 {
		e.sync(p, p.purse)
	}
}

// keyholderStep: an attacker who holds its purse's key and signs what it
// likes, with the receipts the ledger really gave it.
func (e *economy) keyholderStep(p *person) {
	r := e.keys[p]
	switch e.rng.IntN(6) {
	case 0, 1:
		e.rogueMain(p, r)
	case 2:
		e.rogueBranch(p, r)
	case 3:
		e.rogueToMate(p, r)
	default:
		e.syncRogue(p, r)
	}
}

// rogueState is a keyholder's own chain: what it has signed on it and the
// receipts the ledger gave it.
type rogueState struct {
	counter  uint64
	last     offline.Hash
	unsynced []offline.Voucher
	receipts []offline.SyncReceipt
}

func (e *economy) rogueOf(r *rogue) *rogueState {
	if e.rogueStates[r] == nil {
		e.rogueStates[r] = &rogueState{}
	}
	return e.rogueStates[r]
}

// rogueMain pays an honest payee the next voucher of its own chain, within
// the rules a payee checks, whatever its escrow holds.
func (e *economy) rogueMain(p *person, r *rogue) {
	st := e.rogueOf(r)
	if st.counter-r.receipt.Counter >= uint64(e.w.cfg.Policy.PaymentsBeforeSync) {
		e.syncRogue(p, r)
		return
	}
	to := e.receiver(p)
	v, ok := e.rogueVoucher(r, to, st.counter+1, st.last, r.receipt, 100*(1+e.rng.Int64N(e.w.cfg.Policy.PaymentCap/100)))
	if !ok {
		return
	}
	st.counter, st.last = v.Counter, v.Hash()
	st.unsynced = append(st.unsynced, v)
}

// rogueBranch forks its chain at a receipt it was given earlier (or at
// the start) and pays honest payees vouchers that reuse counters its own
// chain already used: what any number of clones could do.
func (e *economy) rogueBranch(p *person, r *rogue) {
	st := e.rogueOf(r)
	var from offline.SyncReceipt
	if n := len(st.receipts); n > 0 && e.rng.IntN(3) > 0 {
		from = st.receipts[e.rng.IntN(n)]
	}
	prev, counter := from.Head, from.Counter
	accepted := 0
	for range 1 + e.rng.IntN(int(min(e.w.cfg.Policy.PaymentsBeforeSync, 4))) {
		v, ok := e.rogueVoucher(r, e.receiver(p), counter+1, prev, from, 100*(1+e.rng.Int64N(e.w.cfg.Policy.PaymentCap/100)))
		if !ok {
			break
		}
		accepted++
		counter, prev = v.Counter, v.Hash()
	}
	if accepted > 0 {
		e.branches[serial(p)]++
	}
}

// rogueVoucher signs a voucher for an honest payee's request and has the
// payee accept it; it reports whether the payee did.
func (e *economy) rogueVoucher(r *rogue, to *person, counter uint64, prev offline.Hash, rc offline.SyncReceipt, amount int64) (offline.Voucher, bool) {
	if to == nil || counter-rc.Counter > uint64(e.w.cfg.Policy.PaymentsBeforeSync) {
		return offline.Voucher{}, false
	}
	q, err := to.purse.Request(amount, e.now())
	if err != nil {
		return offline.Voucher{}, false
	}
	v := offline.Voucher{Chain: r.chain, Payer: r.serial(), Counter: counter, Prev: prev, Synced: rc.Counter,
		Payee: q.Payee, Amount: amount, Nonce: q.Nonce, Time: e.now().Truncate(time.Millisecond)}
	if rc.Counter > 0 {
		v.Receipt = rc
	}
	v = signWith(r.key, v)
	if err := to.purse.Accept(v, e.now()); err != nil {
		to.purse.CancelRequest(q.Nonce)
		return offline.Voucher{}, false
	}
	e.made[v.Hash()] = v
	e.spentBy[r.serial()] = append(e.spentBy[r.serial()], v)
	return v, true
}

func signWith(key ed25519.PrivateKey, v offline.Voucher) offline.Voucher {
	copy(v.Signature[:], ed25519.Sign(key, v.SignedBytes()))
	return v
}

// rogueToMate pays its accomplice what no honest payee accepts: over the
// cap, beyond its sync count, dated outside its certificate, or claiming
// a sync the ledger never made.
func (e *economy) rogueToMate(p *person, r *rogue) {
	mate := e.mates[p]
	if mate == nil {
		return
	}
	st := e.rogueOf(r)
	pol := e.w.cfg.Policy
	v := offline.Voucher{Chain: r.chain, Payer: r.serial(), Counter: st.counter + 1, Prev: st.last, Synced: r.receipt.Counter,
		Payee: serial(mate), Amount: 100, Time: e.now().Truncate(time.Millisecond)}
	if r.receipt.Counter > 0 {
		v.Receipt = r.receipt
	}
	rand.Read(v.Nonce[:])
	switch e.rng.IntN(4) {
	case 0:
		v.Amount = pol.PaymentCap * (2 + e.rng.Int64N(1000))
	case 1:
		v.Counter = r.receipt.Counter + uint64(pol.PaymentsBeforeSync) + 1 + uint64(e.rng.IntN(500))
	case 2:
		v.Time = r.chain.Device.Issued.Add(-time.Duration(1+e.rng.IntN(1000)) * time.Hour).Truncate(time.Millisecond)
	case 3:
		// A sync the ledger never made, "proved" by a receipt its bank's key signed.
		fake := offline.SyncReceipt{Serial: r.serial(), Counter: 10_000 + uint64(e.rng.IntN(1000)), Head: offline.Hash{9}, Time: e.now()}
		fake.Sign(e.w.keys[r.bank])
		v.Synced, v.Receipt, v.Counter = fake.Counter, fake, fake.Counter+1
	}
	v = signWith(r.key, v)
	if v.Counter == st.counter+1 {
		st.counter, st.last = v.Counter, v.Hash()
	}
	if v.Receipt.Counter == v.Synced && (v.Synced == 0 || v.Receipt.Verify(e.w.s.RootKey()) == nil) {
		e.made[v.Hash()] = v
		e.spentBy[r.serial()] = append(e.spentBy[r.serial()], v)
	}
	e.inbox[mate] = append(e.inbox[mate], v)
}

// syncRogue hands in the keyholder's own chain and keeps the receipt.
func (e *economy) syncRogue(p *person, r *rogue) {
	st := e.rogueOf(r)
	u := Upload{Device: r.serial(), Counter: st.counter}
	for _, v := range st.unsynced {
		u.Sent = append(u.Sent, v.Marshal())
	}
	rep := e.send(p.bank, u)
	st.unsynced = nil
	if rep.Receipt.Counter > r.receipt.Counter {
		r.receipt = rep.Receipt
		st.receipts = append(st.receipts, rep.Receipt)
	}
}

// rogueBankStep: the rogue bank's key certifies devices it never
// registers, one under another bank's registered serial, and pays honest
// payees with them.
func (e *economy) rogueBankStep() {
	w := e.w
	if e.impostor == nil {
		victim := e.someone(func(q *person) bool { return q.bank != e.rogueBank && e.roles[q].honestParty() })
		var sn offline.Serial
		if victim != nil {
			sn = serial(victim)
		}
		e.impostor = e.uncertified(sn)
		e.phantom = e.uncertified(offline.Serial{})
	}
	for _, r := range []*rogue{e.impostor, e.phantom} {
		if r == nil {
			continue
		}
		st := e.rogueOf(r)
		if st.counter >= uint64(w.cfg.Policy.PaymentsBeforeSync) {
			continue
		}
		to := e.receiver(nil)
		if to == nil || to.purse.Serial() == r.serial() {
			continue
		}
		q, err := to.purse.Request(100*(1+e.rng.Int64N(w.cfg.Policy.PaymentCap/100)), e.now())
		if err != nil {
			continue
		}
		v := signWith(r.key, offline.Voucher{Chain: r.chain, Payer: r.serial(), Counter: st.counter + 1, Prev: st.last,
			Payee: q.Payee, Amount: q.Amount, Nonce: q.Nonce, Time: e.now().Truncate(time.Millisecond)})
		if err := to.purse.Accept(v, e.now()); err != nil {
			to.purse.CancelRequest(q.Nonce)
			continue
		}
		st.counter, st.last = v.Counter, v.Hash()
		e.forged[v.Hash()] = v
	}
}

// uncertified is a device certificate the rogue bank's key signs with the
// policy's limits and never registers; a zero serial picks a new one.
func (e *economy) uncertified(sn offline.Serial) *rogue {
	w := e.w
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	if sn.IsZero() {
		rand.Read(sn[:])
	}
	c := w.deviceCertFor(e.rogueBank, sn, pub, w.cfg.Policy.Limits, e.now(), w.cfg.Policy.CertLifetime)
	return &rogue{key: key, bank: e.rogueBank, chain: offline.Chain{Bank: w.certs[e.rogueBank], Device: c}}
}

// finish has everyone hand in what they hold: honest purses and cheaters'
// own purses sync, accomplices hand in their inboxes, tamperers hand in a
// changed voucher. Thieves, and the keyholder's forks, never sync: their
// payees hand their vouchers in.
func (e *economy) finish() {
	for _, p := range e.people {
		switch e.roles[p] {
		case honest, forger, cloner, roller:
			e.sync(p, p.purse)
			for _, c := range e.copies[p] {
				if e.rng.IntN(2) == 0 {
					e.sync(p, c)
				}
			}
		case loser:
			if e.thieves[p] == nil {
				e.sync(p, p.purse)
			}
		case keyholder:
			e.syncRogue(p, e.keys[p])
		case tamperer:
			e.tamper(p)
			e.sync(p, p.purse)
		case accomplice:
			e.handInInbox(p)
		}
	}
	// Payees sync once more, so every voucher accepted is handed in.
	for _, p := range e.people {
		if e.roles[p] == honest || e.roles[p] == loser && e.thieves[p] == nil {
			e.sync(p, p.purse)
		}
	}
}

// tamper hands in one received voucher with its amount raised, and
// sometimes keeps the genuine one back.
func (e *economy) tamper(p *person) {
	up := p.purse.Upload()
	if len(up.Received) == 0 {
		payer := e.someone(func(q *person) bool { return e.roles[q] == honest && q.purse.Balance() >= 100 })
		if payer == nil || !e.honestPay(payer, payer.purse, p) {
			return
		}
		up = p.purse.Upload()
		if len(up.Received) == 0 {
			return
		}
	}
	v := up.Received[e.rng.IntN(len(up.Received))]
	v.Amount += 100 * (1 + e.rng.Int64N(50))
	e.send(p.bank, Upload{Device: serial(p), Received: [][]byte{v.Marshal()}})
}

// handInInbox hands in an accomplice's raw inbox, in pieces, with the
// places an inbox gives them.
func (e *economy) handInInbox(p *person) {
	vs := e.inbox[p]
	for len(vs) > 0 {
		n := min(len(vs), 1+e.rng.IntN(4))
		u := Upload{Device: serial(p)}
		for _, v := range vs[:n] {
			u.Received = append(u.Received, v.Marshal())
		}
		u.ReceivedBefore = e.places[p]
		e.places[p] += uint64(n)
		u.ReceivedTotal, u.TotalKnown = e.places[p]+uint64(len(vs)-n), true
		e.send(p.bank, u)
		vs = vs[n:]
	}
}

func (e *economy) roleOf(sn offline.Serial) (role, *person) {
	for _, p := range e.people {
		if serial(p) == sn {
			return e.roles[p], p
		}
	}
	return -1, nil
}

func (e *economy) String() string {
	var s string
	for _, p := range e.people {
		s += fmt.Sprintf("%s:%s ", p.name, e.roles[p])
	}
	return s
}
