package wallet

import (
	"context"
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
	if err := InstallCertificates(p, &r, time.Now()); err != nil {
		return nil, err
	}
	return &r, nil
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
	if err := ApplyFunding(p, &r); err != nil {
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
	var out []*protocol.PurseSynced
	for _, m := range SyncMessages(p) {
		var r protocol.PurseSynced
		if err := c.Call(ctx, protocol.TypePurseSync, c.NewRequestID(), &m, protocol.TypePurseSynced, &r); err != nil {
			return out, err
		}
		if err := c.applySync(ctx, p, &r); err != nil {
			return append(out, &r), err
		}
		out = append(out, &r)
	}
	return out, nil
}

func (c *Client) applySync(ctx context.Context, p *offline.Purse, r *protocol.PurseSynced) error {
	newer, err := ApplySynced(p, r)
	if err != nil || !newer {
		return err
	}
	var rl protocol.RevocationsResult
	if err := c.Call(ctx, protocol.TypeRevocations, c.NewRequestID(), nil, protocol.TypeRevocationList, &rl); err != nil {
		return err
	}
	return ApplyRevocations(p, rl.List)
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
