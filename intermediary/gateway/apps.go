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
}

// maxAppWallets bounds what is kept: a room's phones, not a city's. The
// longest offline is forgotten first.
const maxAppWallets = 1000

func (a *appWallets) signedIn(keyID, address, name string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byKey == nil {
		a.byKey = map[string]*appWallet{}
	}
	aw := a.byKey[keyID]
	if aw == nil {
		if len(a.order) >= maxAppWallets {
			a.forgetOne()
		}
		aw = &appWallet{info: bankadmin.AppWallet{Address: address, Joined: now}}
		a.byKey[keyID] = aw
		a.order = append(a.order, keyID)
		a.count.Store(int32(len(a.order)))
	}
	aw.info.Name = name
	aw.sessions++
	aw.info.Online, aw.info.Seen = true, now
}

// forgetOne drops the wallet offline longest, or the first when all are
// online.
func (a *appWallets) forgetOne() {
	drop := -1
	for i, k := range a.order {
		aw := a.byKey[k]
		if !aw.info.Online && (drop < 0 || aw.info.Seen.Before(a.byKey[a.order[drop]].info.Seen)) {
			drop = i
		}
	}
	drop = max(drop, 0)
	delete(a.byKey, a.order[drop])
	a.order = slices.Delete(a.order, drop, drop+1)
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

// did notes an instruction's outcome: code is its error code, "" when it
// succeeded with answer.
func (a *appWallets) did(keyID, typ, code string, answer any, now time.Time) {
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
	switch v := answer.(type) {
	case *protocol.Paid:
		in.Paid++
	case *protocol.PurseFunded:
		in.Funded += v.Amount
	case *protocol.PurseSynced:
		in.Synced++
		in.HandedIn += len(v.Vouchers)
	}
}

// moved notes a movement of a wallet's money: an offline voucher settled
// into it, whoever handed it in, while it is connected or not.
func (a *appWallets) moved(keyID string, e protocol.Entry) {
	if e.Reason != protocol.ReasonOffline || e.Amount <= 0 || a.count.Load() == 0 {
		return // the common case, a bank's every payment, takes no lock
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if aw := a.byKey[keyID]; aw != nil {
		aw.info.Settled++
		aw.info.Received += e.Amount
	}
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
