package wallet

import (
	"errors"
	"fmt"
	"time"

	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// The purse's side of each purse exchange with its bank, without the
// network: what a purse does with the bank's answers. The Client's purse
// methods use them, and so does a wallet in a browser (package purseweb,
// compiled to WebAssembly), so every wallet keeps its purse by one code.

// InstallCertificates applies a purse_certs answer: the purse trusts its
// root key, installs its certificates (checked as of now, or of the
// device certificate's issue time when the bank's clock is ahead of the
// device's) and takes its revocation list.
func InstallCertificates(p *offline.Purse, r *protocol.PurseCertificates, now time.Time) error {
	if err := p.TrustRoot(r.RootKey); err != nil {
		return err
	}
	var ch offline.Chain
	var err error
	if ch.Bank, err = offline.ParseBankCert(r.BankCert); err != nil {
		return err
	}
	if ch.Device, err = offline.ParseDeviceCert(r.DeviceCert); err != nil {
		return err
	}
	if err := p.Install(ch, latest(now, ch.Device.Issued)); err != nil {
		return err
	}
	return ApplyRevocations(p, r.Revocations)
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// ApplyRevocations installs a revocation list the bank sent.
func ApplyRevocations(p *offline.Purse, raw []byte) error {
	l, err := offline.ParseRevocationList(raw)
	if err != nil {
		return err
	}
	return p.UpdateRevocations(l)
}

// ApplyFunding applies a purse_funded answer's receipt; a receipt the
// purse applied already (the answer to a retry) changes nothing.
func ApplyFunding(p *offline.Purse, r *protocol.PurseFunded) error {
	f, err := offline.ParseFundingReceipt(r.Receipt)
	if err != nil {
		return err
	}
	if err := p.Fund(f); err != nil && !errors.Is(err, offline.ErrStaleReceipt) {
		return err
	}
	return nil
}

// SyncMessages are the purse_sync messages that upload what the purse
// sent and received since its last sync, received first (the ledger
// resets the purse's count of payments only when its escrow, with the
// value on its way to it, covers what it paid), at most
// protocol.MaxSyncVouchers vouchers each; one with no vouchers when
// there is nothing to upload. Send them in order, applying each answer
// (ApplySynced) before the next.
func SyncMessages(p *offline.Purse) []protocol.PurseSync {
	up := p.Upload()
	total := up.ReceivedBefore + uint64(len(up.Received))
	sent, recv := up.Sent, up.Received
	before := up.ReceivedBefore
	var out []protocol.PurseSync
	for first := true; first || len(sent)+len(recv) > 0; first = false {
		m := protocol.PurseSync{Serial: up.Serial.String(), Counter: up.Counter, ReceivedBefore: before, ReceivedTotal: &total}
		for len(recv) > 0 && len(m.Received) < protocol.MaxSyncVouchers {
			m.Received, recv = append(m.Received, recv[0].Marshal()), recv[1:]
		}
		for len(sent) > 0 && len(m.Sent)+len(m.Received) < protocol.MaxSyncVouchers {
			m.Sent, sent = append(m.Sent, sent[0].Marshal()), sent[1:]
		}
		before += uint64(len(m.Received))
		out = append(out, m)
	}
	return out
}

// ApplySynced applies a purse_synced answer: its sync receipt, and a
// renewed certificate when it carries one. It reports whether the bank
// has a newer revocation list than the purse, which the wallet then
// fetches and applies (ApplyRevocations).
func ApplySynced(p *offline.Purse, r *protocol.PurseSynced) (newerRevocations bool, err error) {
	s, err := offline.ParseSyncReceipt(r.Receipt)
	if err != nil {
		return false, err
	}
	if err := p.ApplySync(s, nil); err != nil {
		return false, fmt.Errorf("wallet: apply sync receipt: %w", err)
	}
	if len(r.DeviceCert) > 0 {
		if err := installRenewal(p, r.DeviceCert); err != nil {
			return false, err
		}
	}
	crl := p.Revocations()
	return crl == nil || r.RevocationSeq > crl.Seq, nil
}

// installRenewal installs the renewed certificate the bank sent with a
// sync answer. It is checked as of its own issue time, so a bank clock a
// little ahead of the device's does not lose it.
func installRenewal(p *offline.Purse, raw []byte) error {
	dev, err := offline.ParseDeviceCert(raw)
	if err != nil {
		return fmt.Errorf("wallet: renewed certificate: %w", err)
	}
	ch := *p.Chain()
	ch.Device = dev
	if err := p.Install(ch, dev.Issued); err != nil {
		return fmt.Errorf("wallet: install renewed certificate: %w", err)
	}
	return nil
}
