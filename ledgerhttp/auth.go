package ledgerhttp

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

const (
	challengeTTL  = 30 * time.Second
	maxChallenges = 10_000 // outstanding at once; more are refused until some expire
)

// sessions issues challenges and the tokens that signed challenges earn.
type sessions struct {
	keys     map[ledger.AccountID]ed25519.PublicKey
	registry func(ledger.AccountID) (ed25519.PublicKey, bool) // a replicated ledger's; nil for none
	ttl      time.Duration
	now      func() time.Time

	mu         sync.Mutex // protects the maps below
	challenges map[string]time.Time
	tokens     map[string]session
}

type session struct {
	intermediary ledger.AccountID
	expires      time.Time
}

func newSessions(keys map[ledger.AccountID]ed25519.PublicKey, ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{keys: keys, ttl: ttl, now: now,
		challenges: make(map[string]time.Time), tokens: make(map[string]session)}
}

// key is the key an intermediary signs in with: the replicated
// registry's when it holds one, which the whole group agrees on, else the
// one this process was given.
func (s *sessions) key(id ledger.AccountID) (ed25519.PublicKey, bool) {
	if s.registry != nil {
		if k, ok := s.registry(id); ok {
			return k, true
		}
	}
	k, ok := s.keys[id]
	return k, ok
}

// challenge returns a fresh random challenge, good for one session.
func (s *sessions) challenge() ([]byte, bool) {
	c := make([]byte, 32)
	rand.Read(c)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	if len(s.challenges) >= maxChallenges {
		return nil, false
	}
	s.challenges[string(c)] = now.Add(challengeTTL)
	return c, true
}

// open checks a signed challenge and returns a new session token. Each
// challenge opens at most one session, so a captured signature is useless.
func (s *sessions) open(req sessionRequest) (string, time.Time, bool) {
	key, known := s.key(req.Intermediary)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	expires, issued := s.challenges[string(req.Challenge)]
	delete(s.challenges, string(req.Challenge))
	if !known || !issued || now.After(expires) ||
		!ed25519.Verify(key, sessionMessage(req.Intermediary, req.Challenge), req.Signature) {
		return "", time.Time{}, false
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)
	sess := session{intermediary: req.Intermediary, expires: now.Add(s.ttl)}
	s.tokens[token] = sess
	return token, sess.expires, true
}

// lookup returns the intermediary a token stands for.
func (s *sessions) lookup(token string) (ledger.AccountID, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.tokens[token]
	if !ok || s.now().After(sess.expires) {
		delete(s.tokens, token)
		return "", false
	}
	return sess.intermediary, true
}

func (s *sessions) expireLocked(now time.Time) {
	for c, exp := range s.challenges {
		if now.After(exp) {
			delete(s.challenges, c)
		}
	}
	for t, sess := range s.tokens {
		if now.After(sess.expires) {
			delete(s.tokens, t)
		}
	}
}
