// Package pursetest makes offline purses provisioned and funded as a
// bank would online, from fixed keys and a fixed clock, so examples and
// tests print the same on every run. A real central bank and bank keep
// their keys secret.
package pursetest

import (
	"bytes"
	"crypto/ed25519"
	"time"

	"github.com/digital-yen/cbdc-sandbox/offline"
)

// The central bank's root key, the bank "bank-a"'s key and the time.
var (
	Now     = time.Date(2030, 4, 10, 12, 0, 0, 0, time.UTC)
	Root    = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'r'}, ed25519.SeedSize))
	BankKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'b'}, ed25519.SeedSize))
)

// Purse is a purse "bank-a" certified under serial n and funded with
// amount yen. It panics on an error, which only a change to the offline
// package's rules can cause.
func Purse(n byte, amount int64) *offline.Purse {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	bank, err := offline.IssueBankCert(Root, "bank-a", BankKey.Public().(ed25519.PublicKey), Now.AddDate(1, 0, 0))
	must(err)
	p, err := offline.NewPurse(Root.Public().(ed25519.PublicKey))
	must(err)
	dev, err := offline.IssueDeviceCert(BankKey, offline.DeviceCert{Serial: offline.Serial{15: n}, Key: p.PublicKey(),
		BankID: "bank-a", Limits: offline.DefaultPolicy().Limits, Issued: Now, Expires: Now.Add(offline.DefaultCertLifetime)})
	must(err)
	must(p.Install(offline.Chain{Bank: bank, Device: dev}, Now))
	if amount > 0 {
		f := offline.FundingReceipt{Serial: p.Serial(), Seq: 1, Amount: amount, Time: Now}
		f.Sign(BankKey)
		must(p.Fund(f))
	}
	return p
}
