package ledgerhttp

import (
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"time"

	"github.com/digital-yen/cbdc-sandbox/boltfile"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	bolt "go.etcd.io/bbolt"
)

// KeysFileName is the registry of intermediaries' public keys, kept in the
// ledger's data directory beside the journal.
const KeysFileName = "intermediary-keys.db"

var bucketKeys = []byte("intermediary-keys")

// Keys is the registry of the public keys the ledger service accepts
// sign-ins from: one ed25519 key per intermediary, given at set-up.
type Keys struct {
	db *bolt.DB
}

// OpenKeys opens (or creates) the registry in the ledger's directory.
func OpenKeys(dir string) (*Keys, error) {
	path := filepath.Join(dir, KeysFileName)
	db, err := boltfile.Open(path, bolt.Options{Timeout: time.Second}, nil)
	if err != nil {
		return nil, fmt.Errorf("ledgerhttp: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketKeys)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("ledgerhttp: initialise %s: %w", path, err)
	}
	return &Keys{db: db}, nil
}

// Close closes the registry.
func (k *Keys) Close() error { return k.db.Close() }

// Add registers an intermediary's public key. Registering the same key
// again is harmless; replacing a key is refused, so a typo cannot lock a
// bank out or let another key in.
func (k *Keys) Add(id ledger.AccountID, pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("ledgerhttp: key of %s is %d bytes, want %d", id, len(pub), ed25519.PublicKeySize)
	}
	return k.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKeys)
		if old := b.Get([]byte(id)); old != nil {
			if string(old) == string(pub) {
				return nil
			}
			return fmt.Errorf("ledgerhttp: %s already has another key registered", id)
		}
		return b.Put([]byte(id), pub)
	})
}

// Has reports whether an intermediary has a key registered.
func (k *Keys) Has(id ledger.AccountID) bool {
	found := false
	k.db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketKeys).Get([]byte(id)) != nil
		return nil
	})
	return found
}

// All returns every registered key.
func (k *Keys) All() (map[ledger.AccountID]ed25519.PublicKey, error) {
	out := map[ledger.AccountID]ed25519.PublicKey{}
	err := k.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKeys).ForEach(func(id, pub []byte) error {
			if len(pub) != ed25519.PublicKeySize {
				return fmt.Errorf("ledgerhttp: stored key of %s is %d bytes", id, len(pub))
			}
			out[ledger.AccountID(id)] = ed25519.PublicKey(append([]byte(nil), pub...))
			return nil
		})
	})
	return out, err
}
