package demo

import (
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// Settlement is offline settlement as the demo reads it: in this
// process (Settling) or at a ledger in others (RemoteLedger).
type Settlement interface {
	// Summary is settlement's figures; false while none settles (a
	// ledger without it; a replicated one in this process between
	// leaders, where a remote one shows the last figures read).
	Summary() (*OfflineState, bool)
	// HandedIn reports whether the ledger holds voucher h, handed in by
	// its payer or its payee; false only when the ledger says it does
	// not, so a voucher that may be settled is not counted on a device.
	HandedIn(h offline.Hash) bool
	// Purse is a purse's escrow balance at the ledger and whether the
	// ledger revoked it; false when the ledger cannot say.
	Purse(sn offline.Serial) (escrow int64, revoked, ok bool)
}

// Settling is settlement in this process, looked up each time the demo
// reads it: settler returns nil while none settles.
func Settling(settler func() *settlement.Settler) Settlement { return localSettlement(settler) }

type localSettlement func() *settlement.Settler

func (f localSettlement) Summary() (*OfflineState, bool) {
	st := f()
	if st == nil {
		return nil, false
	}
	sum := st.Summary()
	o := &OfflineState{Vouchers: sum.Vouchers, Settled: sum.Settled, Pending: sum.Pending, PendingAmount: sum.PendingAmount.Clamp(),
		Rejected: sum.Rejected, Devices: sum.Devices, RevokedDevices: sum.RevokedDevices, Conflicts: map[string]int{},
		LossByBearer: map[string]int64{}, LossByPayees: sum.LossByPayees.Clamp(), Policy: policyView(st.Policy())}
	for k, v := range sum.Conflicts {
		o.Conflicts[string(k)] = v
	}
	for k, v := range sum.LossByBearer {
		o.LossByBearer[string(k)] = v.Clamp()
	}
	return o, true
}

func (f localSettlement) HandedIn(h offline.Hash) bool {
	st := f()
	if st == nil {
		return false
	}
	_, _, known := st.Voucher(h)
	return known
}

func (f localSettlement) Purse(sn offline.Serial) (int64, bool, bool) {
	st := f()
	if st == nil {
		return 0, false, false
	}
	info, err := st.Device(sn)
	if err != nil {
		return 0, false, false
	}
	return info.EscrowBalance, info.Revoked != "", true
}
