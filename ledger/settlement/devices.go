package settlement

import (
	"context"
	"fmt"

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
// the same certificate again returns the escrow account; a later
// certificate for the same serial, key and wallet renews it, unless the
// device is revoked.
func (s *Settler) RegisterDevice(ctx context.Context, bank ledger.AccountID, cert offline.DeviceCert, wallet ledger.AccountID) (ledger.AccountID, error) {
	bc, err := s.BankCert(bank)
	if err != nil {
		return "", err
	}
	// A bank's clock may run a little ahead of the ledger's.
	at := s.cfg.Now()
	if skew := cert.Issued.Sub(at); skew > 0 && skew <= MaxClockSkew {
		at = cert.Issued
	}
	if err := cert.Verify(bc, at); err != nil {
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
	if err := s.checkRegistration(cert, wallet); err != nil {
		return "", err
	}
	escrow := EscrowAccount(cert.Serial)
	spec := ledger.AccountSpec{ID: escrow, Kind: ledger.KindEscrow, Intermediary: bank}
	if _, err := s.l.OpenAccount(ctx, "dev:"+cert.Serial.String(), spec); err != nil {
		return "", fmt.Errorf("settlement: open escrow for %s: %w", cert.Serial, err)
	}
	err = s.run(ctx, func(r *round) error {
		if err := s.registration(cert, wallet); err != nil {
			return err
		}
		d := s.devices[cert.Serial]
		if d == nil {
			d = &device{serial: cert.Serial, bank: bank, wallet: wallet, escrow: escrow, incoming: map[*entry]bool{}}
			s.devices[d.serial] = d
		}
		if !d.registered(&cert) {
			d.certs = append(d.certs, cert)
			r.w.device(d)
		}
		return nil
	})
	return escrow, err
}

// checkRegistration refuses a certificate that clashes with what is
// registered, before an escrow account is opened for it.
func (s *Settler) checkRegistration(cert offline.DeviceCert, wallet ledger.AccountID) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.failure != nil {
		return s.stoppedErr()
	}
	return s.registration(cert, wallet)
}

// registration says why a certificate may not be registered, or nil.
// Called with s.mu held.
func (s *Settler) registration(cert offline.DeviceCert, wallet ledger.AccountID) error {
	d := s.devices[cert.Serial]
	switch {
	case d == nil:
		return nil
	case d.escrow == "":
		return &detailed{ErrDeviceExists, fmt.Sprintf("serial %s was used by a certificate no bank registered", cert.Serial)}
	case !d.certs[0].Key.Equal(cert.Key) || d.wallet != wallet || string(d.bank) != cert.BankID:
		return &detailed{ErrDeviceExists, fmt.Sprintf("serial %s is registered to another key or wallet", cert.Serial)}
	case d.registered(&cert):
		return nil
	case d.revoked != "":
		return &detailed{ErrDeviceRevoked, fmt.Sprintf("device %s is revoked (%s); its certificate is not renewed", cert.Serial, d.revoked)}
	case !cert.Issued.After(d.certs[len(d.certs)-1].Issued):
		return &detailed{ErrBadCertificate, fmt.Sprintf("a renewal of %s must be issued after its current certificate", cert.Serial)}
	}
	return nil
}

// DeviceInfo is what the ledger knows of a device.
type DeviceInfo struct {
	Serial        offline.Serial
	Bank, Wallet  ledger.AccountID
	Escrow        ledger.AccountID
	EscrowBalance int64
	Mode          offline.Mode
	Revoked       offline.ConflictKind // "" while in good standing
	Cert          offline.DeviceCert   // the latest certificate registered
	SyncedThrough uint64               // the ledger holds its vouchers 1..SyncedThrough
	Receipt       uint64               // the highest counter a sync receipt vouched for
}

// Device returns what the ledger knows of a device.
func (s *Settler) Device(serial offline.Serial) (DeviceInfo, error) {
	s.mu.RLock()
	d := s.devices[serial]
	if d == nil || d.escrow == "" {
		s.mu.RUnlock()
		return DeviceInfo{}, &detailed{ErrUnknownDevice, serial.String()}
	}
	info := DeviceInfo{Serial: serial, Bank: d.bank, Wallet: d.wallet, Escrow: d.escrow, Mode: d.mode(), Revoked: d.revoked,
		Cert: d.certs[len(d.certs)-1], SyncedThrough: d.through, Receipt: d.receipt}
	s.mu.RUnlock()
	bal, err := s.l.Balance(info.Escrow)
	info.EscrowBalance = bal
	return info, err
}

// Revocations returns the current revocation list, signed by the root key.
// Its Seq is the number of revoked devices, so it only grows.
func (s *Settler) Revocations() offline.RevocationList {
	s.mu.RLock()
	if s.crl != nil && s.crl.Seq == uint64(s.revoked) {
		defer s.mu.RUnlock()
		return *s.crl
	}
	serials := make([]offline.Serial, 0, s.revoked)
	for sn, d := range s.devices {
		if d.revoked != "" {
			serials = append(serials, sn)
		}
	}
	seq := uint64(s.revoked)
	s.mu.RUnlock()
	l := offline.IssueRevocationList(s.root, seq, s.cfg.Now(), serials)
	s.mu.Lock()
	if s.crl == nil || s.crl.Seq < l.Seq {
		s.crl = &l
	}
	s.mu.Unlock()
	return l
}

// revoke marks a device revoked for the first rule it broke. Called by the
// owner with s.mu held.
func (s *Settler) revoke(r *round, d *device, why offline.ConflictKind) {
	if d.revoked != "" {
		return
	}
	d.revoked = why
	s.revoked++
	d.sortOpen()
	r.w.device(d)
	r.revoked = append(r.revoked, d.serial)
	s.cfg.Logger.Warn("offline device revoked", "serial", d.serial.String(), "bank", d.bank, "reason", why)
}

// conflict records a broken rule with its evidence and, unless it is only
// a sign of collusion, revokes the device. bank names the bank blamed for
// a certificate it never registered. Called by the owner with s.mu held.
func (s *Settler) conflict(r *round, kind offline.ConflictKind, d *device, bank ledger.AccountID, detail string, evidence ...offline.Hash) {
	if bank == "" {
		bank = d.bank
	}
	c := Conflict{Seq: uint64(len(s.conflicts)) + 1, Kind: kind, Device: d.serial, Bank: bank, Evidence: evidence,
		Detail: detail, Time: r.now.UTC(), Revokes: kind != offline.AcceptedInvalid}
	s.conflicts = append(s.conflicts, c)
	r.w.conflicts = append(r.w.conflicts, c)
	r.conflicts = append(r.conflicts, c)
	if c.Revokes {
		s.revoke(r, d, kind)
	}
}

// Conflicts returns every conflict found, oldest first.
func (s *Settler) Conflicts() []Conflict {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]Conflict(nil), s.conflicts...)
}

// Voucher returns the stored encoding and result of a voucher, for
// evidence and reports.
func (s *Settler) Voucher(h offline.Hash) ([]byte, VoucherResult, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.vouchers[h]
	if e == nil {
		return nil, VoucherResult{}, false
	}
	return e.raw, e.result(), true
}

// RetireDevice revokes a device its owner reported lost or stolen: payees
// with the new revocation list refuse it, and what is left in its escrow
// returns to the owner's wallet once none of its vouchers can be honoured
// any more (its last certificate's expiry and the upload grace, and in
// intermittent mode one certificate lifetime more for value on its way to
// it): until then a voucher the purse made before it was lost, or a thief
// made before payees learned of the revocation, may still arrive.
func (s *Settler) RetireDevice(ctx context.Context, bank ledger.AccountID, serial offline.Serial) (DeviceInfo, error) {
	err := s.run(ctx, func(r *round) error {
		d := s.devices[serial]
		switch {
		case d == nil || d.escrow == "":
			return &detailed{ErrUnknownDevice, serial.String()}
		case d.bank != bank:
			return &detailed{ErrNotYourDevice, fmt.Sprintf("device %s is served by %s", serial, d.bank)}
		}
		s.revoke(r, d, offline.Retired)
		return nil
	})
	if err != nil {
		return DeviceInfo{}, err
	}
	return s.Device(serial)
}

func compareSerials(a, b offline.Serial) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}
