package intermediary

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/reqid"
)

// open runs hello or register: the wallet proves it holds its key by
// signing this connection's challenge.
func (s *session) open(env protocol.Envelope) {
	if s.w != nil {
		s.fail(env.ID, fail(protocol.CodeAlreadyAuthed, "this session is already open for %s", s.w.addr))
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	var key struct {
		PublicKey []byte `json:"public_key"`
	}
	json.Unmarshal(env.Body, &key) // authenticate reports a bad body
	rid := reqid.ForWallet(string(s.b.id), protocol.WalletKeyID(key.PublicKey), env.ID)
	start := time.Now()
	w, err := s.authenticate(reqid.With(ctx, rid), env)
	took, code := time.Since(start), errorCode(err)
	if on := s.b.cfg.OnRequest; on != nil {
		on(env.Type, code, took)
	}
	s.b.log.Debug("wallet request", "request_id", rid, "type", env.Type, "code", code, "took", took)
	if err != nil {
		s.fail(env.ID, err)
		return
	}
	s.w = w
	s.authed.Store(true)
	s.b.hub.signedIn(s)
	s.beginRequest() // notifications wait until the welcome is sent
	defer s.endRequest(0)
	s.b.hub.join(s)
	acct, err := s.b.led.Account(ctx, ledger.AccountID(w.addr))
	if err == nil {
		s.b.hub.setBalance(w.keyID, acct.Balance, acct.LastSeq)
	}
	s.reply(protocol.TypeWelcome, env.ID, s.b.welcome(w))
}

func (s *session) authenticate(ctx context.Context, env protocol.Envelope) (*wallet, error) {
	var pub, challenge, sig []byte
	var reg protocol.Register
	if env.Type == protocol.TypeHello {
		var h protocol.Hello
		if err := protocol.ReadBody(env.Body, &h); err != nil {
			return nil, err
		}
		pub, challenge, sig = h.PublicKey, h.Challenge, h.Signature
	} else {
		if err := protocol.ReadBody(env.Body, &reg); err != nil {
			return nil, err
		}
		pub, challenge, sig = reg.PublicKey, reg.Challenge, reg.Signature
	}
	if err := checkPublicKey(pub); err != nil {
		return nil, err
	}
	switch {
	case !bytes.Equal(challenge, s.challenge):
		return nil, fail(protocol.CodeWrongChallenge, "the signed challenge is not the one this connection was sent")
	case !ed25519.Verify(pub, protocol.SessionBytes(string(s.b.id), challenge, pub), sig):
		return nil, fail(protocol.CodeBadSignature, "the signature over the challenge does not verify with the public key")
	}
	if env.Type == protocol.TypeRegister && !s.b.registeredTo(pub, reg.PersonID) {
		if !s.b.allowRegister(s.remote) {
			return nil, fail(protocol.CodeRateLimited, "too many registrations from this address; try again later")
		}
		if _, err := s.b.Onboard(ctx, CustomerSpec{Name: reg.Name, PersonID: reg.PersonID, Unverified: true, Deposit: s.b.cfg.OpeningDeposit,
			PublicKeys: []ed25519.PublicKey{pub}}); err != nil {
			return nil, err
		}
	}
	keyID := protocol.WalletKeyID(pub)
	if w := s.b.wallet(keyID); w != nil {
		return w, nil
	}
	return nil, fail(protocol.CodeUnknownWallet, "no wallet with this key is registered at %s; register first, or connect to the bank that serves it", s.b.id)
}

func (b *Bank) welcome(w *wallet) protocol.Welcome {
	waterfall, autoCharge := w.settings()
	b.mu.RLock()
	c := b.customers[w.customer]
	b.mu.RUnlock()
	t, _ := b.cfg.tier(c.tier)
	return protocol.Welcome{Bank: string(b.id), Wallet: w.addr, Customer: c.id, Tier: t,
		Settings: protocol.Settings{Waterfall: waterfall, AutoCharge: autoCharge}}
}
