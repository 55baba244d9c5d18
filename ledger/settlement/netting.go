package settlement

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// net settles cycles of waiting payers in intermittent mode by netting:
// of all waiting vouchers, it keeps the largest set, a prefix of each
// payer's in settling order, with which no escrow would go below zero were
// they all paid at once, and pays that set in one ledger operation of net
// transfers. A cycle of honest payers, each waiting for the others, thus
// settles in full; nobody is forced.
func (s *Settler) net(r *round) bool {
	sel, net := s.netSet(r.now)
	if len(sel) == 0 {
		return false
	}
	var effects []effect
	h := sha256.New()
	for _, e := range sel {
		// Paid in full from escrow: its payee gets what it has not
		// received, its bearer what it paid in the escrow's stead.
		effects = append(effects, effect{hash: e.hash, fromEscrow: e.v.Amount, closed: true})
		h.Write(e.hash[:])
		fmt.Fprintf(h, ":%d;", e.ops)
	}
	id := "net:" + hex.EncodeToString(h.Sum(nil)[:20])
	o := &op{id: id, effects: effects, reserve: map[ledger.AccountID]int64{}, transfers: netTransfers(net)}
	for a, v := range net {
		if v < 0 {
			o.reserve[a] = -v
		}
		if d := s.escrowOwner(a); d != nil && v > 0 {
			o.credits = append(o.credits, d.serial)
		}
	}
	s.plan(r, o)
	return true
}

// netQueues returns, for every intermittent payer, the prefix of its open
// vouchers nothing but escrow holds back, and the payers in serial order.
func (s *Settler) netQueues(now time.Time) (map[*device][]*entry, []*device) {
	queue := map[*device][]*entry{}
	var payers []*device
	for _, d := range s.sortedDevices() {
		if d.mode() != offline.Intermittent {
			continue
		}
		for _, e := range d.open {
			if e.inflight != "" || e.refused || s.defundWaits(d, e, now) || s.gapReserve(d, e, now) > 0 {
				break
			}
			queue[d] = append(queue[d], e)
		}
		if len(queue[d]) > 0 {
			payers = append(payers, d)
		}
	}
	return queue, payers
}

// netSet picks the vouchers netting can pay at once, and each account's
// net change.
func (s *Settler) netSet(now time.Time) ([]*entry, map[ledger.AccountID]int64) {
	queue, payers := s.netQueues(now)
	net := map[ledger.AccountID]int64{}
	move := func(e *entry, sign int64) {
		net[e.payer2escrow(s)] -= sign * e.need()
		net[e.payee] += sign * e.unpaid()
		if e.fromBearer > 0 {
			net[e.bearer] += sign * e.fromBearer
		}
	}
	for _, d := range payers {
		net[d.escrow] += s.available(d)
		for _, e := range queue[d] {
			move(e, 1)
		}
	}
	// Drop the last voucher of any payer that would go below zero until
	// none does; dropping only lowers others, so the result does not
	// depend on which payer goes first.
	for changed := true; changed; {
		changed = false
		for _, d := range payers {
			for len(queue[d]) > 0 && net[d.escrow] < 0 {
				es := queue[d]
				move(es[len(es)-1], -1)
				queue[d] = es[:len(es)-1]
				changed = true
			}
		}
	}
	var sel []*entry
	for _, d := range payers {
		sel = append(sel, queue[d]...)
		net[d.escrow] -= s.available(d)
	}
	for a, v := range net {
		if v == 0 {
			delete(net, a)
		}
	}
	if len(net) == 0 {
		return nil, nil
	}
	return sel, net
}

// netTransfers turns net changes into transfers from the accounts that go
// down to those that go up; each debtor pays no more than its net, so
// every transfer is covered on its own.
func netTransfers(net map[ledger.AccountID]int64) []ledger.Transfer {
	var debtors, creditors []ledger.AccountID
	for _, a := range sortedAccounts(net) {
		if net[a] < 0 {
			debtors = append(debtors, a)
		} else {
			creditors = append(creditors, a)
		}
	}
	owe, due := map[ledger.AccountID]int64{}, map[ledger.AccountID]int64{}
	for _, a := range debtors {
		owe[a] = -net[a]
	}
	for _, a := range creditors {
		due[a] = net[a]
	}
	var ts []ledger.Transfer
	for i, j := 0, 0; i < len(debtors) && j < len(creditors); {
		from, to := debtors[i], creditors[j]
		amt := min(owe[from], due[to])
		ts = append(ts, ledger.Transfer{From: from, To: to, Amount: amt})
		if owe[from] -= amt; owe[from] == 0 {
			i++
		}
		if due[to] -= amt; due[to] == 0 {
			j++
		}
	}
	return ts
}
