package settlement

import (
	"context"
	"fmt"
	"sort"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// EscrowAccount is the ledger account that holds a device's offline value.
func EscrowAccount(s offline.Serial) ledger.AccountID {
	return ledger.AccountID("escrow-" + s.String())
}

// RegisterDevice records a device the bank certified and opens its escrow
// account, served by the bank. wallet is the owner's online wallet, where
// defunds and, in staged mode, payments to the device settle. Registering
// the same device again returns its escrow account.
func (s *Settler) RegisterDevice(ctx context.Context, bank ledger.AccountID, cert offline.DeviceCert, wallet ledger.AccountID) (ledger.AccountID, error) {
	bc, err := s.BankCert(bank)
	if err != nil {
		return "", err
	}
	if err := cert.Verify(bc, s.cfg.Now()); err != nil {
		return "", &detailed{ErrBadCertificate, err.Error()}
	}
	// A bank may not give its devices looser limits than the policy: under
	// the guarantee or payee policies their losses would fall on others.
	pol := s.cfg.Policy
	if cert.Limits != pol.Limits || cert.Expires.Sub(cert.Issued) > pol.CertLifetime {
		return "", &detailed{ErrBadCertificate, fmt.Sprintf("certificate limits %+v for %s differ from the policy's %+v, or it lives longer than %s",
			cert.Limits, cert.Expires.Sub(cert.Issued), pol.Limits, pol.CertLifetime)}
	}
	if a, err := s.l.Account(wallet); err != nil || a.Kind != ledger.KindWallet || a.Intermediary != bank {
		return "", &detailed{ErrNotYourDevice, fmt.Sprintf("%s is not a wallet %s serves", wallet, bank)}
	}
	if d, err := s.registered(cert, wallet); d != nil || err != nil {
		return EscrowAccount(cert.Serial), err
	}
	escrow := EscrowAccount(cert.Serial)
	spec := ledger.AccountSpec{ID: escrow, Kind: ledger.KindEscrow, Intermediary: bank}
	if _, err := s.l.OpenAccount(ctx, "dev:"+cert.Serial.String(), spec); err != nil {
		return "", fmt.Errorf("settlement: open escrow for %s: %w", cert.Serial, err)
	}
	d := &device{serial: cert.Serial, bank: bank, wallet: wallet, escrow: escrow, cert: cert}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.devices[cert.Serial]; old != nil && old.escrow != "" {
		return escrow, nil // registered by a concurrent call
	}
	if old := s.devices[cert.Serial]; old != nil {
		d.revoked = old.revoked // seen in vouchers before the bank registered it
		d.short, d.lost = old.short, old.lost
	}
	if err := s.write(s.encode(&batch{devices: []*device{d}})); err != nil {
		return "", s.stop(err)
	}
	s.devices[d.serial] = d
	return escrow, nil
}

// registered returns the device already registered with this certificate's
// serial, refusing one registered with another key or wallet.
func (s *Settler) registered(cert offline.DeviceCert, wallet ledger.AccountID) (*device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != nil {
		return nil, &detailed{ErrStopped, s.failure.Error()}
	}
	d := s.devices[cert.Serial]
	switch {
	case d == nil || d.escrow == "":
		return nil, nil
	case !d.cert.Key.Equal(cert.Key) || d.wallet != wallet || d.bank != ledger.AccountID(cert.BankID):
		return nil, &detailed{ErrDeviceExists, fmt.Sprintf("serial %s is registered to another key or wallet", cert.Serial)}
	}
	return d, nil
}

// DeviceInfo is what the ledger knows of a device.
type DeviceInfo struct {
	Serial        offline.Serial
	Bank, Wallet  ledger.AccountID
	Escrow        ledger.AccountID
	EscrowBalance int64
	Mode          offline.Mode
	Revoked       offline.ConflictKind // "" while in good standing
}

// Device returns what the ledger knows of a device.
func (s *Settler) Device(serial offline.Serial) (DeviceInfo, error) {
	s.mu.Lock()
	d := s.devices[serial]
	if d == nil || d.escrow == "" {
		s.mu.Unlock()
		return DeviceInfo{}, &detailed{ErrUnknownDevice, serial.String()}
	}
	info := DeviceInfo{Serial: serial, Bank: d.bank, Wallet: d.wallet, Escrow: d.escrow, Mode: d.mode(), Revoked: d.revoked}
	s.mu.Unlock()
	bal, err := s.l.Balance(info.Escrow)
	info.EscrowBalance = bal
	return info, err
}

// Revocations returns the current revocation list, signed by the root key.
// Its Seq is the number of revoked devices, so it only grows.
func (s *Settler) Revocations() offline.RevocationList {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crl == nil || s.crl.Seq != uint64(s.revoked) {
		serials := make([]offline.Serial, 0, s.revoked)
		for sn, d := range s.devices {
			if d.revoked != "" {
				serials = append(serials, sn)
			}
		}
		l := offline.IssueRevocationList(s.root, uint64(s.revoked), s.cfg.Now(), serials)
		s.crl = &l
	}
	return *s.crl
}

// revoke marks a device revoked for the first rule it broke. Called with s.mu held.
func (s *Settler) revoke(d *device, why offline.ConflictKind, b *batch, rep *Report) {
	if d.revoked != "" {
		return
	}
	d.revoked = why
	s.revoked++
	b.devices = append(b.devices, d)
	rep.Revoked = append(rep.Revoked, d.serial)
	s.cfg.Logger.Warn("offline device revoked", "serial", d.serial.String(), "bank", d.bank, "reason", why)
}

// conflict records a broken rule with its evidence and revokes the device.
// Called with s.mu held.
func (s *Settler) conflict(kind offline.ConflictKind, d *device, detail string, b *batch, rep *Report, evidence ...offline.Hash) {
	c := Conflict{Seq: uint64(len(s.conflicts)) + 1, Kind: kind, Device: d.serial, Evidence: evidence,
		Detail: detail, Time: s.cfg.Now().UTC()}
	s.conflicts = append(s.conflicts, c)
	b.conflicts = append(b.conflicts, c)
	rep.Conflicts = append(rep.Conflicts, c)
	s.revoke(d, kind, b, rep)
}

// Conflicts returns every conflict found, oldest first.
func (s *Settler) Conflicts() []Conflict {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Conflict(nil), s.conflicts...)
}

// Voucher returns the stored encoding and result of a voucher, for
// evidence and reports.
func (s *Settler) Voucher(h offline.Hash) ([]byte, VoucherResult, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.vouchers[h]
	if e == nil {
		return nil, VoucherResult{}, false
	}
	return e.raw, e.res, true
}

// Summary totals offline settlement across the sandbox.
func (s *Settler) Summary() Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := Summary{Devices: len(s.devices), RevokedDevices: s.revoked,
		Conflicts: map[offline.ConflictKind]int{}, LossByBearer: map[ledger.AccountID]int64{}}
	for _, e := range s.vouchers {
		sum.Vouchers++
		switch e.status {
		case statusSettled:
			sum.Settled++
			sum.SettledAmount += e.res.FromEscrow + e.res.FromBearer
			if e.res.FromBearer > 0 {
				sum.LossByBearer[e.res.Bearer] += e.res.FromBearer
			}
			sum.LossByPayees += e.res.PayeeLoss
		case statusRejected:
			sum.Rejected++
		default:
			sum.Pending++
			sum.PendingAmount += e.v.Amount
		}
	}
	for _, c := range s.conflicts {
		sum.Conflicts[c.Kind]++
	}
	sum.RevocationSeq = uint64(s.revoked)
	return sum
}

// sortedPending returns a payer's pending entries in counter order, so
// unblocking is the same whatever order uploads came in.
func (s *Settler) sortedPending(payer offline.Serial) []*entry {
	var es []*entry
	for h := range s.pending[payer] {
		es = append(es, s.vouchers[h])
	}
	sort.Slice(es, func(i, j int) bool {
		if es[i].v.Counter != es[j].v.Counter {
			return es[i].v.Counter < es[j].v.Counter
		}
		return string(es[i].hash[:]) < string(es[j].hash[:])
	})
	return es
}

// RetireDevice revokes a device its owner reported lost or stolen: payees
// with the new revocation list refuse it, value paid to it from then on
// goes to the owner's wallet, and what is left in its escrow returns to the
// wallet when the settlement window closes, after the vouchers the device
// made before it was lost have had their chance to arrive.
func (s *Settler) RetireDevice(ctx context.Context, bank ledger.AccountID, serial offline.Serial) (DeviceInfo, error) {
	s.mu.Lock()
	d := s.devices[serial]
	switch {
	case s.failure != nil:
		s.mu.Unlock()
		return DeviceInfo{}, &detailed{ErrStopped, s.failure.Error()}
	case d == nil || d.escrow == "":
		s.mu.Unlock()
		return DeviceInfo{}, &detailed{ErrUnknownDevice, serial.String()}
	case d.bank != bank:
		s.mu.Unlock()
		return DeviceInfo{}, &detailed{ErrNotYourDevice, fmt.Sprintf("device %s is served by %s", serial, d.bank)}
	}
	if d.revoked == "" {
		var b batch
		s.revoke(d, offline.Retired, &b, &Report{})
		items := s.encode(&b)
		s.mu.Unlock()
		if err := s.write(items); err != nil {
			s.mu.Lock()
			defer s.mu.Unlock()
			return DeviceInfo{}, s.stop(err)
		}
	} else {
		s.mu.Unlock()
	}
	return s.Device(serial)
}

// releaseRetired returns what is left in retired devices' escrow to their
// owners' wallets, once their certificates have expired: until then a
// voucher the purse made (before it was lost, or a thief before payees
// learned of the revocation) may still arrive and must find the escrow.
// The amount is reserved while the transfer runs, so no settlement counts
// on it; a repeat after a lost answer finds nothing left to move.
func (s *Settler) releaseRetired(ctx context.Context) error {
	s.mu.Lock()
	now := s.cfg.Now()
	var ts []ledger.Transfer
	for _, d := range s.devices {
		if d.revoked != offline.Retired || len(s.pending[d.serial]) > 0 || !now.After(d.cert.Expires) {
			continue
		}
		if avail := s.available(d); avail > 0 {
			s.reserved[d.escrow] += avail
			ts = append(ts, ledger.Transfer{From: d.escrow, To: d.wallet, Amount: avail})
		}
	}
	seq := s.l.Totals().Seq
	s.mu.Unlock()
	var firstErr error
	for _, t := range ts {
		_, err := s.l.Transfer(context.WithoutCancel(ctx), fmt.Sprintf("release:%s:%d", t.From[len("escrow-"):], seq), t.From, t.To, t.Amount)
		s.mu.Lock()
		s.reserved[t.From] -= t.Amount
		s.mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("settlement: return retired escrow %s: %w", t.From, err)
		}
	}
	return firstErr
}
