package wallet

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"

	"github.com/digital-yen/cbdc-sandbox/internal/atomicfile"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// A purse file holds an offline purse's whole state (its key, balance,
// counter and logs) sealed like a key file: argon2id and XChaCha20-Poly1305,
// with the format, parameters and the purse's public key bound in. Unlike
// a key file it is rewritten after every change to the purse.

// purseFileKind tells a purse file from a key file; it is part of the seal.
const purseFileKind = "offline-purse"

type purseFile struct {
	Kind string `json:"kind"`
	keyFile
}

func (f *purseFile) associatedData() []byte {
	return append([]byte(f.Kind+"\n"), f.keyFile.associatedData()...)
}

// EncryptPurse seals a purse's state under passphrase.
func EncryptPurse(p *offline.Purse, passphrase []byte, params KDFParams) ([]byte, error) {
	kf, err := newKeyFile(passphrase, params, p.PublicKey())
	if err != nil {
		return nil, err
	}
	f := &purseFile{Kind: purseFileKind, keyFile: *kf}
	aead, err := f.aead(passphrase)
	if err != nil {
		return nil, err
	}
	f.Ciphertext = aead.Seal(nil, f.Nonce, p.Save(), f.associatedData())
	return json.MarshalIndent(f, "", "  ")
}

// DecryptPurse opens a purse file's bytes with passphrase.
func DecryptPurse(data, passphrase []byte) (*offline.Purse, error) {
	var f purseFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFileFormat, err)
	}
	if f.Kind != purseFileKind {
		return nil, fmt.Errorf("%w: kind %q, want %q", ErrKeyFileFormat, f.Kind, purseFileKind)
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	aead, err := f.aead(passphrase)
	if err != nil {
		return nil, err
	}
	state, err := aead.Open(nil, f.Nonce, f.Ciphertext, f.associatedData())
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	p, err := offline.LoadPurse(state)
	if err != nil {
		return nil, err
	}
	if !p.PublicKey().Equal(ed25519.PublicKey(f.PublicKey)) {
		return nil, ErrWrongPassphrase
	}
	return p, nil
}

// WritePurseFile replaces the purse file at path atomically: a temporary
// file in the same directory, fsynced, renamed over the old one, and the
// directory fsynced, so a crash leaves the old state or the new, whole.
func WritePurseFile(path string, data []byte) error {
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fmt.Errorf("wallet: write purse file: %w", err)
	}
	return nil
}

// ReadPurseFile reads and opens the purse file at path.
func ReadPurseFile(path string, passphrase []byte) (*offline.Purse, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wallet: read purse file: %w", err)
	}
	p, err := DecryptPurse(data, passphrase)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}
