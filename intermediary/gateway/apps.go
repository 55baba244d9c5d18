package gateway

import (
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// appWallets follows the wallets that sign in from a browser: a session
// whose websocket came with an Origin is a page's, the bank's own wallet
// app (or a page of an origin the bank lists). The presenter's panel of
// phones shows them joining, paying, going offline and reconciling.
// Programs (the demo's own wallets, the simulator) send no Origin and are
// not followed. Its mu is a leaf: nothing else is locked under it, and
// it may be taken under the bank's locks (Notify is called with them held).
type appWallets struct {
	mu    sync.Mutex
	byKey map[string]*appWallet // by wallet key id
	order []string              // key ids, first sign-in first
	count atomic.Int32          // len(order), read without mu
}

type appWallet struct {
	info     bankadmin.AppWallet
	sessions int
	escrow   string     // its purse's escrow account, "" while it has none
	answered [16]string // request ids of its last instructions, so a retry counts once
	next     int        // where answered takes the next id
	settled  uint64     // the ledger record of the last voucher counted into Settled
}

// maxAppWallets bounds what is kept: a room's phones, not a city's. When
// full, the wallet offline longest is forgotten for a newcomer; while
// every one kept is online, a newcomer is not followed.
const maxAppWallets = 1000

// follows reports whether the wallet is followed already.
func (a *appWallets) follows(keyID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byKey[keyID] != nil
}

// signedIn notes a session of the wallet. name and escrow, its
// customer's name and its purse's escrow account, are the bank's, read
// for a wallet not yet followed; "" keeps what is known.
func (a *appWallets) signedIn(keyID, address, name, escrow string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byKey == nil {
		a.byKey = map[string]*appWallet{}
	}
	aw := a.byKey[keyID]
	if aw == nil {
		if len(a.order) >= maxAppWallets && !a.forgetOne() {
			return
		}
		aw = &appWallet{info: bankadmin.AppWallet{Address: address, Joined: now}}
		a.byKey[keyID] = aw
		a.order = append(a.order, keyID)
		a.count.Store(int32(len(a.order)))
	}
	if name != "" {
		aw.info.Name = name
	}
	if escrow != "" {
		aw.escrow = escrow
	}
	aw.sessions++
	aw.info.Online, aw.info.Seen = true, now
}

// forgetOne drops the wallet offline longest; false when every one is
// online. Dropping one online would let a script that signs in enough
// wallets push the room's phones off the panel.
func (a *appWallets) forgetOne() bool {
	drop := -1
	for i, k := range a.order {
		aw := a.byKey[k]
		if !aw.info.Online && (drop < 0 || aw.info.Seen.Before(a.byKey[a.order[drop]].info.Seen)) {
			drop = i
		}
	}
	if drop < 0 {
		return false
	}
	delete(a.byKey, a.order[drop])
	a.order = slices.Delete(a.order, drop, drop+1)
	return true
}

func (a *appWallets) left(keyID string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if aw := a.byKey[keyID]; aw != nil && aw.sessions > 0 {
		if aw.sessions--; aw.sessions == 0 {
			aw.info.Online, aw.info.Seen = false, now
		}
	}
}

// did notes the outcome of the instruction with request id id: code is
// its error code, "" when it succeeded with answer. An instruction asked
// again under the same id (a retry after a lost answer) is answered as
// the first time and counted once.
func (a *appWallets) did(keyID, id, typ, code string, answer any, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	aw := a.byKey[keyID]
	if aw == nil {
		return
	}
	in := &aw.info
	in.Seen = now
	if reads[typ] && code == "" {
		return // what a phone does, not what it looks at
	}
	in.Last, in.LastCode = typ, code
	if code != "" {
		in.Refused++
		return
	}
	if id != "" {
		if slices.Contains(aw.answered[:], id) {
			return
		}
		aw.answered[aw.next] = id
		aw.next = (aw.next + 1) % len(aw.answered)
	}
	switch v := answer.(type) {
	case *protocol.Paid:
		in.Paid++
	case *protocol.PurseCertificates:
		aw.escrow = v.Escrow
	case *protocol.PurseFunded:
		in.Funded += v.Amount
	case *protocol.PurseSynced:
		in.Synced++
		in.HandedIn += len(v.Vouchers)
	}
}

// moved notes a movement of a wallet's money: an offline voucher settled
// into it, whoever handed it in, while it is connected or not. A defund
// (from its own purse's escrow) is no voucher received, and a voucher
// paid partly from the payer's escrow and partly by whoever bears a
// shortfall is one record of two credits: one voucher.
func (a *appWallets) moved(keyID string, e protocol.Entry) {
	if e.Reason != protocol.ReasonOffline || e.Amount <= 0 || a.count.Load() == 0 {
		return // the common case, a bank's every payment, takes no lock
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	aw := a.byKey[keyID]
	if aw == nil || aw.escrow != "" && e.Counterparty == aw.escrow {
		return
	}
	if e.Seq != aw.settled || e.Seq == 0 {
		aw.info.Settled++
		aw.settled = e.Seq
	}
	aw.info.Received += e.Amount
}

// reads are the instructions that change nothing.
var reads = map[string]bool{protocol.TypeBalance: true, protocol.TypeHistory: true, protocol.TypeRequests: true,
	protocol.TypeSchedules: true, protocol.TypeRevocations: true}

func (a *appWallets) list() []bankadmin.AppWallet {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]bankadmin.AppWallet, 0, len(a.order))
	for _, k := range a.order {
		out = append(out, a.byKey[k].info)
	}
	return out
}

// AppWallets lists the wallets that have signed in from a browser since
// the bank started, first sign-in first.
func (g *Server) AppWallets() []bankadmin.AppWallet { return g.apps.list() }

func (g *Server) adminAppWallets(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, bankadmin.AppWalletList{Wallets: g.apps.list()})
}
