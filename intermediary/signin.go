package intermediary

import (
	"bytes"
	"context"
	"crypto/ed25519"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// SignIn runs a wallet's hello or register: the wallet proves it holds
// its key by signing the challenge its connection was sent. remote is the
// client's network address, which registrations are rate-limited by.
func (b *Bank) SignIn(ctx context.Context, env protocol.Envelope, challenge []byte, remote string) (*Wallet, error) {
	var pub, signed, sig []byte
	var reg protocol.Register
	if env.Type == protocol.TypeHello {
		var h protocol.Hello
		if err := protocol.ReadBody(env.Body, &h); err != nil {
			return nil, err
		}
		pub, signed, sig = h.PublicKey, h.Challenge, h.Signature
	} else {
		if err := protocol.ReadBody(env.Body, &reg); err != nil {
			return nil, err
		}
		pub, signed, sig = reg.PublicKey, reg.Challenge, reg.Signature
	}
	if err := checkPublicKey(pub); err != nil {
		return nil, err
	}
	switch {
	case !bytes.Equal(signed, challenge):
		return nil, fail(protocol.CodeWrongChallenge, "the signed challenge is not the one this connection was sent")
	case !ed25519.Verify(pub, protocol.SessionBytes(string(b.id), challenge, pub), sig):
		return nil, fail(protocol.CodeBadSignature, "the signature over the challenge does not verify with the public key")
	}
	if env.Type == protocol.TypeRegister && !b.registeredTo(pub, reg.PersonID) {
		if !b.allowRegister(remote) {
			return nil, fail(protocol.CodeRateLimited, "too many registrations from this address; try again later")
		}
		if _, err := b.Onboard(ctx, bankadmin.CustomerSpec{Name: reg.Name, PersonID: reg.PersonID, Unverified: true, Deposit: b.cfg.OpeningDeposit,
			PublicKeys: []ed25519.PublicKey{pub}}); err != nil {
			return nil, err
		}
	}
	keyID := protocol.WalletKeyID(pub)
	if w := b.wallet(keyID); w != nil {
		return w, nil
	}
	return nil, fail(protocol.CodeUnknownWallet, "no wallet with this key is registered at %s; register first, or connect to the bank that serves it", b.id)
}

// Welcome is what a wallet is told once it has signed in.
func (b *Bank) Welcome(w *Wallet) protocol.Welcome {
	waterfall, autoCharge := w.settings()
	b.mu.RLock()
	c := b.customers[w.customer]
	b.mu.RUnlock()
	t, _ := b.cfg.tier(c.tier)
	return protocol.Welcome{Bank: string(b.id), Wallet: w.addr, Customer: c.id, Tier: t,
		Settings: protocol.Settings{Waterfall: waterfall, AutoCharge: autoCharge}}
}
