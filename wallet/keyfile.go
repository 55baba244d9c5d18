package wallet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/digital-yen/cbdc-sandbox/internal/atomicfile"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// A key file holds a wallet's ed25519 key encrypted under a passphrase:
// argon2id stretches the passphrase into a key, XChaCha20-Poly1305 seals
// the key's 32-byte seed. Everything else in the file (format, parameters,
// public key) is bound into the seal as associated data, so a file whose
// parameters or public key were changed fails to open like a wrong
// passphrase would. The file is JSON so a person can see what it holds.

// KeyFileVersion is the format this package writes.
const KeyFileVersion = 1

// KDFParams are argon2id's cost parameters.
type KDFParams struct {
	Time      uint32 `json:"time"`       // passes over memory
	MemoryKiB uint32 `json:"memory_kib"` // memory in KiB
	Threads   uint8  `json:"threads"`
}

// DefaultKDFParams follow RFC 9106's second recommended option (3 passes,
// 64 MiB), which takes a few tenths of a second on a laptop.
var DefaultKDFParams = KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 2}

// Bounds on the parameters a key file may ask for, so a hostile file cannot
// make opening it take gigabytes or minutes.
const (
	maxKDFTime      = 16
	maxKDFMemoryKiB = 1 << 20 // 1 GiB
	maxKDFThreads   = 16
	minPassphrase   = 8
)

var (
	// ErrWrongPassphrase means the passphrase does not open the key file, or
	// the file was altered.
	ErrWrongPassphrase = errors.New("wallet: wrong passphrase, or the key file was altered")

	// ErrKeyFileFormat means the bytes are not a key file this version reads.
	ErrKeyFileFormat = errors.New("wallet: not a key file this version can read")

	// ErrWeakPassphrase means the passphrase is shorter than 8 bytes.
	ErrWeakPassphrase = fmt.Errorf("wallet: passphrase must be at least %d bytes", minPassphrase)
)

type keyFile struct {
	Version    int       `json:"version"`
	KDF        string    `json:"kdf"`
	Params     KDFParams `json:"kdf_params"`
	Salt       []byte    `json:"salt"`
	Cipher     string    `json:"cipher"`
	Nonce      []byte    `json:"nonce"`
	PublicKey  []byte    `json:"public_key"`
	Ciphertext []byte    `json:"ciphertext"`
}

const (
	kdfName    = "argon2id"
	cipherName = "xchacha20-poly1305"
)

func (p KDFParams) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxKDFTime:
		return fmt.Errorf("%w: argon2id time %d outside 1..%d", ErrKeyFileFormat, p.Time, maxKDFTime)
	case p.Threads < 1 || p.Threads > maxKDFThreads:
		return fmt.Errorf("%w: argon2id threads %d outside 1..%d", ErrKeyFileFormat, p.Threads, maxKDFThreads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxKDFMemoryKiB:
		return fmt.Errorf("%w: argon2id memory %d KiB outside %d..%d", ErrKeyFileFormat, p.MemoryKiB, 8*uint32(p.Threads), maxKDFMemoryKiB)
	}
	return nil
}

// associatedData binds everything but the ciphertext into the seal.
func (f *keyFile) associatedData() []byte {
	ad, _ := json.Marshal(struct {
		Version   int
		KDF       string
		Params    KDFParams
		Salt      []byte
		Cipher    string
		PublicKey []byte
	}{f.Version, f.KDF, f.Params, f.Salt, f.Cipher, f.PublicKey})
	return ad
}

func (f *keyFile) aead(passphrase []byte) (aeadSealer, error) {
	key := argon2.IDKey(passphrase, f.Salt, f.Params.Time, f.Params.MemoryKiB, f.Params.Threads, chacha20poly1305.KeySize)
	return chacha20poly1305.NewX(key)
}

type aeadSealer interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}

// EncryptKey seals key under passphrase and returns the key file's bytes.
func EncryptKey(key ed25519.PrivateKey, passphrase []byte, params KDFParams) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("wallet: an ed25519 private key is %d bytes, got %d", ed25519.PrivateKeySize, len(key))
	}
	f, err := newKeyFile(passphrase, params, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	aead, err := f.aead(passphrase)
	if err != nil {
		return nil, err
	}
	f.Ciphertext = aead.Seal(nil, f.Nonce, key.Seed(), f.associatedData())
	return json.MarshalIndent(f, "", "  ")
}

// newKeyFile checks the passphrase and parameters and starts a sealed file
// for publicKey with a fresh salt and nonce; the caller seals the contents.
func newKeyFile(passphrase []byte, params KDFParams, publicKey []byte) (*keyFile, error) {
	if len(passphrase) < minPassphrase {
		return nil, ErrWeakPassphrase
	}
	if err := params.validate(); err != nil {
		return nil, err
	}
	f := &keyFile{Version: KeyFileVersion, KDF: kdfName, Params: params, Cipher: cipherName,
		Salt: make([]byte, 16), Nonce: make([]byte, chacha20poly1305.NonceSizeX), PublicKey: publicKey}
	if _, err := rand.Read(f.Salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(f.Nonce); err != nil {
		return nil, err
	}
	return f, nil
}

// check refuses a file this version cannot read, or whose parameters are
// out of bounds, before any work is spent on its passphrase.
func (f *keyFile) check() error {
	switch {
	case f.Version != KeyFileVersion:
		return fmt.Errorf("%w: version %d, this build reads %d", ErrKeyFileFormat, f.Version, KeyFileVersion)
	case f.KDF != kdfName || f.Cipher != cipherName:
		return fmt.Errorf("%w: %q with %q, want %q with %q", ErrKeyFileFormat, f.KDF, f.Cipher, kdfName, cipherName)
	case len(f.Salt) < 16 || len(f.Nonce) != chacha20poly1305.NonceSizeX || len(f.PublicKey) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: salt, nonce or public key has the wrong length", ErrKeyFileFormat)
	}
	return f.Params.validate()
}

// DecryptKey opens a key file's bytes with passphrase.
func DecryptKey(data, passphrase []byte) (ed25519.PrivateKey, error) {
	var f keyFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFileFormat, err)
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	aead, err := f.aead(passphrase)
	if err != nil {
		return nil, err
	}
	seed, err := aead.Open(nil, f.Nonce, f.Ciphertext, f.associatedData())
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, ErrWrongPassphrase
	}
	key := ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(key.Public().(ed25519.PublicKey), f.PublicKey) {
		return nil, ErrWrongPassphrase
	}
	return key, nil
}

// WriteKeyFile writes a new key file atomically: to a temporary file in
// the same directory, fsynced, linked into place, and the directory
// fsynced. It refuses to replace an existing file, so a key is never lost
// by writing another over it.
func WriteKeyFile(path string, data []byte) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("wallet: %s already exists; choose another path or remove it first", path)
	}
	if err := atomicfile.WriteNew(path, data, 0o600); err != nil {
		return fmt.Errorf("wallet: write key file: %w", err)
	}
	return nil
}

// ReadKeyFile reads and opens the key file at path.
func ReadKeyFile(path string, passphrase []byte) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wallet: read key file: %w", err)
	}
	key, err := DecryptKey(data, passphrase)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}
