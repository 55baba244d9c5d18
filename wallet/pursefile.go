package wallet

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/chacha20poly1305"

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
	if len(passphrase) < minPassphrase {
		return nil, ErrWeakPassphrase
	}
	if err := params.validate(); err != nil {
		return nil, err
	}
	f := &purseFile{Kind: purseFileKind, keyFile: keyFile{Version: KeyFileVersion, KDF: kdfName, Params: params,
		Cipher: cipherName, Salt: make([]byte, 16), Nonce: make([]byte, chacha20poly1305.NonceSizeX), PublicKey: p.PublicKey()}}
	if _, err := rand.Read(f.Salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(f.Nonce); err != nil {
		return nil, err
	}
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
	switch {
	case f.Kind != purseFileKind:
		return nil, fmt.Errorf("%w: kind %q, want %q", ErrKeyFileFormat, f.Kind, purseFileKind)
	case f.Version != KeyFileVersion || f.KDF != kdfName || f.Cipher != cipherName:
		return nil, fmt.Errorf("%w: version %d, %q with %q", ErrKeyFileFormat, f.Version, f.KDF, f.Cipher)
	case len(f.Salt) < 16 || len(f.Nonce) != chacha20poly1305.NonceSizeX || len(f.PublicKey) != ed25519.PublicKeySize:
		return nil, fmt.Errorf("%w: salt, nonce or public key has the wrong length", ErrKeyFileFormat)
	}
	if err := f.Params.validate(); err != nil {
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
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("wallet: write purse file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := writeSynced(tmp, data); err != nil {
		return fmt.Errorf("wallet: write purse file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("wallet: write purse file: %w", err)
	}
	return syncDir(dir)
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
