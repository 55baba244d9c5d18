package ledgerhttp

import (
	"encoding/hex"
	"fmt"

	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

func toWireReport(r settlement.Report) wireReport {
	w := wireReport{Device: r.Device.String(), Settled: r.Settled, Pending: r.Pending, Rejected: r.Rejected,
		Duplicate: r.Duplicate, SettledAmount: r.SettledAmount, SyncedThrough: r.SyncedThrough, Receipt: r.Receipt.Marshal()}
	for _, v := range r.Vouchers {
		w.Vouchers = append(w.Vouchers, toWireResult(v))
	}
	for _, v := range r.Freed {
		w.Freed = append(w.Freed, toWireResult(v))
	}
	for _, c := range r.Conflicts {
		wc := wireConflict{Seq: c.Seq, Kind: string(c.Kind), Device: c.Device.String(), Bank: c.Bank, Detail: c.Detail,
			Time: c.Time, Revokes: c.Revokes}
		for _, h := range c.Evidence {
			wc.Evidence = append(wc.Evidence, h.String())
		}
		w.Conflicts = append(w.Conflicts, wc)
	}
	for _, s := range r.Revoked {
		w.Revoked = append(w.Revoked, s.String())
	}
	return w
}

func toWireResult(v settlement.VoucherResult) wireVoucherResult {
	return wireVoucherResult{Hash: v.Hash.String(), Payer: v.Payer.String(), Counter: v.Counter, Payee: v.Payee.String(),
		Amount: v.Amount, Outcome: string(v.Outcome), Reason: v.Reason, Fault: v.Fault, PayeeAccount: v.PayeeAccount,
		FromEscrow: v.FromEscrow, FromBearer: v.FromBearer, Bearer: v.Bearer, PayeeLoss: v.PayeeLoss, Seq: v.Seq}
}

func fromWireReport(w wireReport) (settlement.Report, error) {
	var r settlement.Report
	var err error
	if r.Device, err = offline.ParseSerial(w.Device); err != nil {
		return r, err
	}
	r.Settled, r.Pending, r.Rejected, r.Duplicate, r.SettledAmount = w.Settled, w.Pending, w.Rejected, w.Duplicate, w.SettledAmount
	r.SyncedThrough = w.SyncedThrough
	if r.Receipt, err = offline.ParseSyncReceipt(w.Receipt); err != nil {
		return r, fmt.Errorf("ledgerhttp: the ledger's sync receipt: %w", err)
	}
	for _, list := range []struct {
		in  []wireVoucherResult
		out *[]settlement.VoucherResult
	}{{w.Vouchers, &r.Vouchers}, {w.Freed, &r.Freed}} {
		for _, v := range list.in {
			res, err := fromWireResult(v)
			if err != nil {
				return r, err
			}
			*list.out = append(*list.out, res)
		}
	}
	for _, c := range w.Conflicts {
		rc := settlement.Conflict{Seq: c.Seq, Kind: offline.ConflictKind(c.Kind), Bank: c.Bank, Detail: c.Detail, Time: c.Time,
			Revokes: c.Revokes}
		if rc.Device, err = offline.ParseSerial(c.Device); err != nil {
			return r, err
		}
		for _, h := range c.Evidence {
			hh, err := parseHash(h)
			if err != nil {
				return r, err
			}
			rc.Evidence = append(rc.Evidence, hh)
		}
		r.Conflicts = append(r.Conflicts, rc)
	}
	for _, s := range w.Revoked {
		sn, err := offline.ParseSerial(s)
		if err != nil {
			return r, err
		}
		r.Revoked = append(r.Revoked, sn)
	}
	return r, nil
}

func fromWireResult(w wireVoucherResult) (settlement.VoucherResult, error) {
	v := settlement.VoucherResult{Counter: w.Counter, Amount: w.Amount, Outcome: offline.Outcome(w.Outcome), Reason: w.Reason, Fault: w.Fault,
		PayeeAccount: w.PayeeAccount, FromEscrow: w.FromEscrow, FromBearer: w.FromBearer, Bearer: w.Bearer,
		PayeeLoss: w.PayeeLoss, Seq: w.Seq}
	var err error
	if v.Hash, err = parseHash(w.Hash); err != nil {
		return v, err
	}
	if v.Payer, err = offline.ParseSerial(w.Payer); err != nil {
		return v, err
	}
	v.Payee, err = offline.ParseSerial(w.Payee)
	return v, err
}

func parseHash(s string) (offline.Hash, error) {
	var h offline.Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("ledgerhttp: %q is not a 64-hex-digit hash", s)
	}
	copy(h[:], b)
	return h, nil
}
