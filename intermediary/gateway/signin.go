package gateway

import (
	"context"
	"encoding/json"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/reqid"
)

// open runs hello or register: the wallet proves it holds its key by
// signing this connection's challenge. It runs on the reader, so
// nothing else runs before the wallet is known.
func (s *session) open(env protocol.Envelope) {
	if s.w != nil {
		s.fail(env.ID, fail(protocol.CodeAlreadyAuthed, "this session is already open for %s", s.w.Address()))
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	var key struct {
		PublicKey []byte `json:"public_key"`
	}
	json.Unmarshal(env.Body, &key) // SignIn reports a bad body
	rid := reqid.ForWallet(string(s.g.id), protocol.WalletKeyID(key.PublicKey), env.ID)
	start := time.Now()
	w, err := s.g.b.SignIn(reqid.With(ctx, rid), env, s.challenge, s.remote)
	took, code := time.Since(start), errorCode(err)
	if on := s.g.cfg.OnRequest; on != nil {
		on(env.Type, code, took)
	}
	s.g.log.Debug("wallet request", "request_id", rid, "type", env.Type, "code", code, "took", took)
	if err != nil {
		s.fail(env.ID, err)
		return
	}
	s.w = w
	s.authed.Store(true)
	if s.browser {
		// The bank's file is read for a wallet seen first, not at every
		// reconnection; its purse, if it sets one up later, comes with
		// the answer to purse_provision.
		var name, escrow string
		if !s.g.apps.follows(w.KeyID()) {
			if c, err := s.g.b.Customer(w.CustomerID()); err == nil {
				name = c.Name
			}
			escrow = s.g.b.PurseEscrow(w)
		}
		s.g.apps.signedIn(w.KeyID(), w.Address(), name, escrow, s.g.cfg.Now())
	}
	s.g.hub.signedIn(s)
	s.beginRequest() // notifications wait until the welcome is sent
	defer s.endRequest(0)
	s.g.hub.join(s)
	if balance, asOf, err := s.g.b.LedgerBalance(ctx, w); err == nil {
		s.g.hub.setBalance(w.KeyID(), balance, asOf)
	}
	s.reply(protocol.TypeWelcome, env.ID, s.g.b.Welcome(w))
}
