package ledgerhttp

import (
	"crypto/ed25519"
	"testing"
)

func TestKeys_AddIsIdempotentAndNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	k, err := OpenKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	other, _, _ := ed25519.GenerateKey(nil)
	if err := k.Add("bank-1", pub); err != nil {
		t.Fatal(err)
	}
	if err := k.Add("bank-1", pub); err != nil {
		t.Errorf("adding the same key again: %v", err)
	}
	if err := k.Add("bank-1", other); err == nil {
		t.Error("replacing a bank's key was allowed")
	}
	if err := k.Add("bank-2", pub[:5]); err == nil {
		t.Error("a short key was accepted")
	}
	k.Close()
	k, err = OpenKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	all, err := k.All()
	if err != nil || len(all) != 1 || !all["bank-1"].Equal(pub) || !k.Has("bank-1") || k.Has("bank-2") {
		t.Errorf("after reopening: %v, %v", all, err)
	}
}
