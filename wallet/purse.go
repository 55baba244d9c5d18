package wallet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// ProvisionPurse has the bank certify the purse's key for this wallet and
// installs the certificates and the current revocation list. The purse
// trusts the root key the bank names if it trusts none yet.
func (c *Client) ProvisionPurse(ctx context.Context, id string, p *offline.Purse) (*protocol.PurseCertificates, error) {
	var r protocol.PurseCertificates
	if err := c.signed(ctx, protocol.TypePurseProvision, c.id(id), &protocol.PurseProvision{PublicKey: p.PublicKey()}, protocol.TypePurseCerts, &r); err != nil {
		return nil, err
	}
	if err := p.TrustRoot(r.RootKey); err != nil {
		return nil, err
	}
	var ch offline.Chain
	var err error
	if ch.Bank, err = offline.ParseBankCert(r.BankCert); err != nil {
		return nil, err
	}
	if ch.Device, err = offline.ParseDeviceCert(r.DeviceCert); err != nil {
		return nil, err
	}
	if err := p.Install(ch, time.Now()); err != nil {
		return nil, err
	}
	if err := c.applyRevocations(p, r.Revocations); err != nil {
		return nil, err
	}
	return &r, nil
}

func (c *Client) applyRevocations(p *offline.Purse, raw []byte) error {
	l, err := offline.ParseRevocationList(raw)
	if err != nil {
		return err
	}
	return p.UpdateRevocations(l)
}

// FundPurse moves amount yen from the wallet into the purse's escrow and
// applies the bank's receipt. A retry with the same id gets the same
// receipt, which the purse has already applied.
func (c *Client) FundPurse(ctx context.Context, id string, p *offline.Purse, amount int64) (*protocol.PurseFunded, error) {
	var r protocol.PurseFunded
	m := &protocol.PurseFund{Serial: p.Serial().String(), Amount: amount}
	if err := c.signed(ctx, protocol.TypePurseFund, c.id(id), m, protocol.TypePurseFunded, &r); err != nil {
		return nil, err
	}
	f, err := offline.ParseFundingReceipt(r.Receipt)
	if err != nil {
		return nil, err
	}
	if err := p.Fund(f); err != nil && !errors.Is(err, offline.ErrStaleReceipt) {
		return nil, err
	}
	return &r, nil
}

// SyncPurse uploads what the purse sent and received since its last sync,
// in as many purse_sync messages as it takes, applies each sync receipt,
// installs a renewed certificate and fetches a newer revocation list when
// there is one. It returns the answers in order; an answer whose receipt
// the purse cannot apply (a copy of the purse already synced that counter)
// is returned with the error, since the ledger has reconciled that upload
// and its outcomes and conflicts stand. What the purse received
// goes first: the ledger resets the purse's count of payments only when
// its escrow, with the value on its way to it, covers what it paid.
func (c *Client) SyncPurse(ctx context.Context, p *offline.Purse) ([]*protocol.PurseSynced, error) {
	up := p.Upload()
	var out []*protocol.PurseSynced
	sent, recv := up.Sent, up.Received
	before := up.ReceivedBefore
	for first := true; first || len(sent)+len(recv) > 0; first = false {
		total := up.ReceivedBefore + uint64(len(up.Received))
		m := protocol.PurseSync{Serial: up.Serial.String(), Counter: up.Counter, ReceivedBefore: before, ReceivedTotal: &total}
		for len(recv) > 0 && len(m.Received) < protocol.MaxSyncVouchers {
			m.Received, recv = append(m.Received, recv[0].Marshal()), recv[1:]
		}
		for len(sent) > 0 && len(m.Sent)+len(m.Received) < protocol.MaxSyncVouchers {
			m.Sent, sent = append(m.Sent, sent[0].Marshal()), sent[1:]
		}
		var r protocol.PurseSynced
		if err := c.Call(ctx, protocol.TypePurseSync, c.NewRequestID(), &m, protocol.TypePurseSynced, &r); err != nil {
			return out, err
		}
		if err := c.applySync(ctx, p, &r); err != nil {
			return append(out, &r), err
		}
		before += uint64(len(m.Received))
		out = append(out, &r)
	}
	return out, nil
}

func (c *Client) applySync(ctx context.Context, p *offline.Purse, r *protocol.PurseSynced) error {
	s, err := offline.ParseSyncReceipt(r.Receipt)
	if err != nil {
		return err
	}
	if err := p.ApplySync(s, nil); err != nil {
		return fmt.Errorf("wallet: apply sync receipt: %w", err)
	}
	if len(r.DeviceCert) > 0 {
		if err := c.installRenewal(p, r.DeviceCert); err != nil {
			return err
		}
	}
	if crl := p.Revocations(); crl == nil || r.RevocationSeq > crl.Seq {
		var rl protocol.RevocationsResult
		if err := c.Call(ctx, protocol.TypeRevocations, c.NewRequestID(), nil, protocol.TypeRevocationList, &rl); err != nil {
			return err
		}
		return c.applyRevocations(p, rl.List)
	}
	return nil
}

// installRenewal installs the renewed certificate the bank sent with a
// sync answer. It is checked as of its own issue time, so a bank clock a
// little ahead of the device's does not lose it.
func (c *Client) installRenewal(p *offline.Purse, raw []byte) error {
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

// DefundPurse returns amount yen from the purse to the wallet: it syncs,
// makes the purse's defund voucher and syncs again, which settles it.
func (c *Client) DefundPurse(ctx context.Context, p *offline.Purse, amount int64) (*protocol.PurseSynced, error) {
	if _, err := c.SyncPurse(ctx, p); err != nil {
		return nil, err
	}
	if _, err := p.Defund(amount, time.Now()); err != nil {
		return nil, err
	}
	rs, err := c.SyncPurse(ctx, p)
	if err != nil {
		return nil, err
	}
	return rs[len(rs)-1], nil
}

// RetirePurse reports the wallet's purse lost or stolen, by serial (the
// purse itself is gone). The wallet can provision a new purse afterwards.
func (c *Client) RetirePurse(ctx context.Context, id, serial string) (*protocol.PurseRetired, error) {
	var r protocol.PurseRetired
	err := c.signed(ctx, protocol.TypePurseRetire, c.id(id), &protocol.PurseRetire{Serial: serial}, protocol.TypePurseRetired, &r)
	return &r, err
}
