package offline

import "crypto/ed25519"

// TrustRoot sets the root key of a purse made without one, as a wallet does
// when its bank hands it the root key at provisioning (trust on first use).
// A purse that already trusts a root keeps it; another key is refused.
func (p *Purse) TrustRoot(root ed25519.PublicKey) error {
	if len(root) != ed25519.PublicKeySize {
		return broken(ErrMalformed, "root key is %d bytes, want %d", len(root), ed25519.PublicKeySize)
	}
	if len(p.root) == 0 || p.root.Equal(make(ed25519.PublicKey, ed25519.PublicKeySize)) {
		p.root = append(ed25519.PublicKey(nil), root...)
		return nil
	}
	if !p.root.Equal(root) {
		return broken(ErrUnknownBank, "the purse trusts another root key")
	}
	return nil
}
