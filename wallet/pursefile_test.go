package wallet

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/offline"
)

var testKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

func TestPurseFile_RoundTripAndTamper(t *testing.T) {
	p, err := offline.NewPurse(nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := EncryptPurse(p, []byte("correct horse"), testKDF)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "wallet.purse")
	if err := WritePurseFile(path, data); err != nil {
		t.Fatal(err)
	}
	if err := WritePurseFile(path, data); err != nil {
		t.Fatalf("a purse file must be replaceable: %v", err)
	}
	got, err := ReadPurseFile(path, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Save(), p.Save()) {
		t.Error("the purse read back differs from the one written")
	}
	if _, err := ReadPurseFile(path, []byte("wrong horse!")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
	// A key file is not a purse file, even under the right passphrase.
	_, key, _ := offlineKey()
	kf, err := EncryptKey(key, []byte("correct horse"), testKDF)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecryptPurse(kf, []byte("correct horse")); !errors.Is(err, ErrKeyFileFormat) {
		t.Errorf("a key file opened as a purse: %v", err)
	}
	tampered := bytes.Replace(data, []byte(`"kind": "offline-purse"`), []byte(`"kind": "offline-purse "`), 1)
	if _, err := DecryptPurse(tampered, []byte("correct horse")); err == nil {
		t.Error("a tampered purse file opened")
	}
}

func offlineKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(nil)
}
