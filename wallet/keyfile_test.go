package wallet

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testParams keep argon2id cheap in tests; the format is the same.
var testParams = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

var passphrase = []byte("correct horse battery")

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestKeyFile_RoundTrip(t *testing.T) {
	key := newKey(t)
	data, err := EncryptKey(key, passphrase, testParams)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, key.Seed()) {
		t.Fatal("key file holds the seed in the clear")
	}
	got, err := DecryptKey(data, passphrase)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(key) {
		t.Error("decrypted key differs")
	}
	again, _ := EncryptKey(key, passphrase, testParams)
	if bytes.Equal(again, data) {
		t.Error("two encryptions of one key are identical: salt or nonce is not random")
	}
}

func TestKeyFile_Refusals(t *testing.T) {
	key := newKey(t)
	data, err := EncryptKey(key, passphrase, testParams)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(change func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		b, _ := json.Marshal(m)
		return b
	}
	otherKey := newKey(t).Public().(ed25519.PublicKey)
	tests := []struct {
		name       string
		data       []byte
		passphrase []byte
		want       error
	}{
		{"wrong passphrase", data, []byte("wrong horse battery"), ErrWrongPassphrase},
		{"ciphertext changed", edit(func(m map[string]any) { m["ciphertext"] = flipB64(m["ciphertext"].(string)) }), passphrase, ErrWrongPassphrase},
		{"public key swapped", edit(func(m map[string]any) { m["public_key"] = otherKey }), passphrase, ErrWrongPassphrase},
		{"cost lowered", edit(func(m map[string]any) { m["kdf_params"].(map[string]any)["memory_kib"] = 32 }), passphrase, ErrWrongPassphrase},
		{"salt changed", edit(func(m map[string]any) { m["salt"] = flipB64(m["salt"].(string)) }), passphrase, ErrWrongPassphrase},
		{"newer version", edit(func(m map[string]any) { m["version"] = 2 }), passphrase, ErrKeyFileFormat},
		{"other cipher", edit(func(m map[string]any) { m["cipher"] = "aes-gcm" }), passphrase, ErrKeyFileFormat},
		{"hostile memory cost", edit(func(m map[string]any) { m["kdf_params"].(map[string]any)["memory_kib"] = 1 << 30 }), passphrase, ErrKeyFileFormat},
		{"zero passes", edit(func(m map[string]any) { m["kdf_params"].(map[string]any)["time"] = 0 }), passphrase, ErrKeyFileFormat},
		{"short nonce", edit(func(m map[string]any) { m["nonce"] = "AAAA" }), passphrase, ErrKeyFileFormat},
		{"not JSON", []byte("-----BEGIN PRIVATE KEY-----"), passphrase, ErrKeyFileFormat},
		{"empty", nil, passphrase, ErrKeyFileFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := DecryptKey(tt.data, tt.passphrase)
			if !errors.Is(err, tt.want) || key != nil {
				t.Fatalf("err = %v, key %v; want %v", err, key != nil, tt.want)
			}
		})
	}
}

// flipB64 changes the first character of a base64 string to another valid one.
func flipB64(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestKeyFile_EncryptRefusesBadInput(t *testing.T) {
	key := newKey(t)
	if _, err := EncryptKey(key, []byte("short"), testParams); !errors.Is(err, ErrWeakPassphrase) {
		t.Errorf("short passphrase: err = %v", err)
	}
	if _, err := EncryptKey(key[:10], passphrase, testParams); err == nil {
		t.Error("accepted a truncated key")
	}
	if _, err := EncryptKey(key, passphrase, KDFParams{Time: 1, MemoryKiB: 64, Threads: 0}); !errors.Is(err, ErrKeyFileFormat) {
		t.Errorf("zero threads: err = %v", err)
	}
}

func TestKeyFile_WriteIsAtomicAndNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alice.key")
	key := newKey(t)
	data, err := EncryptKey(key, passphrase, testParams)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(path, data); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", info.Mode().Perm())
	}
	got, err := ReadKeyFile(path, passphrase)
	if err != nil || !got.Equal(key) {
		t.Fatalf("read back: %v", err)
	}
	other, _ := EncryptKey(newKey(t), passphrase, testParams)
	err = WriteKeyFile(path, other)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second write: err = %v, want a refusal", err)
	}
	if again, _ := ReadKeyFile(path, passphrase); !again.Equal(key) {
		t.Error("the first key was replaced")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file", len(entries))
	}
	if _, err := ReadKeyFile(path, []byte("wrong horse battery")); !errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), path) {
		t.Errorf("wrong passphrase: err = %v, want ErrWrongPassphrase naming the file", err)
	}
}

func FuzzDecryptKey(f *testing.F) {
	data, err := EncryptKey(newKey(f), passphrase, testParams)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"version":1,"kdf":"argon2id","kdf_params":{"time":1,"memory_kib":8,"threads":1}}`))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		key, err := DecryptKey(b, passphrase)
		if err == nil {
			if len(key) != ed25519.PrivateKeySize {
				t.Fatalf("accepted a key of %d bytes", len(key))
			}
			return
		}
		if !errors.Is(err, ErrKeyFileFormat) && !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("error %v is neither a format error nor a wrong passphrase", err)
		}
	})
}
