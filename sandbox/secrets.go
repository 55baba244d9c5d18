package sandbox

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/digital-yen/cbdc-sandbox/internal/atomicfile"
)

// Secrets the tiers exchange at set-up — a bank's ledger credential, the
// holder key the banks share, a bank's admin token — are small files of
// hex or text, readable only by their owner. They are created once,
// atomically, and never overwritten: a second process finds the first
// one's file.

// LoadOrCreateSecret returns the file's contents, creating it with
// generate() first when it does not exist.
func LoadOrCreateSecret(path string, generate func() string) (string, error) {
	return loadOrCreateSecret(path, generate, true)
}

func loadOrCreateSecret(path string, generate func() string, retry bool) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	value := generate()
	// WriteNew never replaces an existing file: if another process got
	// there first, use its secret.
	if err := atomicfile.WriteNew(path, []byte(value+"\n"), 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) && retry {
			return loadOrCreateSecret(path, generate, false)
		}
		if errors.Is(err, fs.ErrExist) { // there, yet not readable: a link to nowhere, say
			return "", fmt.Errorf("%s exists but cannot be read as a file; remove it to have a new secret made", path)
		}
		return "", err
	}
	return value, nil
}

// RandomHex makes secrets of n random bytes in hex.
func RandomHex(n int) func() string {
	return func() string {
		b := make([]byte, n)
		rand.Read(b)
		return hex.EncodeToString(b)
	}
}

// LoadOrCreateBankKey returns a bank's ledger credential, an ed25519 key
// whose seed is stored in hex, creating it first when it does not exist.
func LoadOrCreateBankKey(path string) (ed25519.PrivateKey, error) {
	if _, err := LoadOrCreateSecret(path, RandomHex(ed25519.SeedSize)); err != nil {
		return nil, fmt.Errorf("bank key %s: %w", path, err)
	}
	return ReadBankKey(path)
}

// ReadBankKey reads a bank's ledger credential, which must exist.
func ReadBankKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bank key: %w", err)
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("bank key %s: not %d bytes of hex", path, ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// LoadHolderKey returns the key banks derive holder tokens with.
func LoadHolderKey(path string) ([]byte, error) {
	s, err := LoadOrCreateSecret(path, RandomHex(32))
	if err != nil {
		return nil, fmt.Errorf("holder key %s: %w", path, err)
	}
	key, err := hex.DecodeString(s)
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("holder key %s: not at least 16 bytes of hex", path)
	}
	return key, nil
}
