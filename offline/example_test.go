package offline_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/pursetest"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// Keys from fixed seeds and a fixed clock keep the examples' output the
// same on every run; pursetest.Purse provisions and funds a purse as the
// bank does online, step by step in this package's example.
var (
	exampleNow, exampleRoot, exampleBankKey = pursetest.Now, pursetest.Root, pursetest.BankKey
	examplePurse                            = pursetest.Purse
)

// A purse is provisioned (the central bank certifies the bank's key, the
// bank certifies the purse's key), funded from its owner's online wallet,
// and pays another purse with no network between them: the payee asks,
// the payer answers with a signed voucher, the payee checks and accepts it.
func Example() {
	now := time.Date(2030, 4, 10, 12, 0, 0, 0, time.UTC)
	root := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'r'}, ed25519.SeedSize))
	bankKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'b'}, ed25519.SeedSize))

	// The central bank certifies the bank's key for a year.
	bank, err := offline.IssueBankCert(root, "bank-a", bankKey.Public().(ed25519.PublicKey), now.AddDate(1, 0, 0))
	if err != nil {
		log.Fatal(err)
	}
	// The bank certifies each purse's key under a serial, with the policy's limits.
	provision := func(serial byte) *offline.Purse {
		p, err := offline.NewPurse(root.Public().(ed25519.PublicKey))
		if err != nil {
			log.Fatal(err)
		}
		dev, err := offline.IssueDeviceCert(bankKey, offline.DeviceCert{Serial: offline.Serial{15: serial}, Key: p.PublicKey(),
			BankID: "bank-a", Limits: offline.DefaultPolicy().Limits, Issued: now, Expires: now.Add(offline.DefaultCertLifetime)})
		if err != nil {
			log.Fatal(err)
		}
		if err := p.Install(offline.Chain{Bank: bank, Device: dev}, now); err != nil {
			log.Fatal(err)
		}
		return p
	}
	alice, shop := provision(1), provision(2)

	// The bank moves 5,000 yen into escrow for alice's purse and signs a receipt.
	f := offline.FundingReceipt{Serial: alice.Serial(), Seq: 1, Amount: 5000, Time: now}
	f.Sign(bankKey)
	if err := alice.Fund(f); err != nil {
		log.Fatal(err)
	}

	// Offline: the shop asks for 1,500 yen, alice pays, the shop accepts.
	q, err := shop.Request(1500, now)
	if err != nil {
		log.Fatal(err)
	}
	v, err := alice.Pay(q, now)
	if err != nil {
		log.Fatal(err)
	}
	if err := shop.Accept(v, now); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("alice: balance %d, voucher #%d\n", alice.Balance(), v.Counter)
	fmt.Printf("shop: balance %d, pending %d (%s mode: spendable once settled online)\n",
		shop.Balance(), shop.Pending(), shop.Chain().Device.Limits.Mode)
	// Output:
	// alice: balance 3500, voucher #1
	// shop: balance 0, pending 1500 (staged mode: spendable once settled online)
}

// The payee checks a voucher before it takes the value (see Accept for the
// whole list). Each refusal carries a stable code.
func ExamplePurse_Accept() {
	now := exampleNow
	alice, shop := examplePurse(1, 5000), examplePurse(2, 0)
	q, err := shop.Request(1500, now)
	if err != nil {
		log.Fatal(err)
	}
	v, err := alice.Pay(q, now)
	if err != nil {
		log.Fatal(err)
	}

	// A voucher changed on its way (here its time) no longer carries
	// alice's signature.
	changed := v
	changed.Time = v.Time.Add(time.Millisecond)
	fmt.Println("changed:", offline.CodeOf(shop.Accept(changed, now)))

	fmt.Println("genuine:", shop.Accept(v, now))

	// The request it answered is used up: the same voucher again is refused.
	fmt.Println("again:", offline.CodeOf(shop.Accept(v, now)))

	// Anyone can check a voucher's origin and limits on its own; after the
	// payer's certificate has expired, it fails.
	later := now.Add(offline.DefaultCertLifetime + time.Hour)
	fmt.Println("a month later:", offline.CodeOf(offline.CheckVoucher(&v, exampleRoot.Public().(ed25519.PublicKey), nil, later)))
	// Output:
	// changed: bad_signature
	// genuine: <nil>
	// again: unknown_request
	// a month later: certificate_expired
}

// Requests and vouchers travel between devices as text, for a QR code or a
// paste: the payer reads the payee's request, the payee reads the voucher.
func ExampleParseVoucherText() {
	now := exampleNow
	alice, shop := examplePurse(1, 5000), examplePurse(2, 0)
	q, err := shop.Request(800, now)
	if err != nil {
		log.Fatal(err)
	}

	// The shop shows its request as text; alice's device reads it.
	seen, err := offline.ParsePaymentRequestText(q.Text())
	if err != nil {
		log.Fatal(err)
	}
	v, err := alice.Pay(seen, now)
	if err != nil {
		log.Fatal(err)
	}

	// Alice's device shows the voucher as text; the shop's reads it.
	text := v.Text()
	got, err := offline.ParseVoucherText(text)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("prefix:", strings.SplitAfter(text, ":")[0])
	fmt.Println("same voucher:", got.Hash() == v.Hash())
	fmt.Println("signature:", got.VerifySignature(exampleRoot.Public().(ed25519.PublicKey)))
	fmt.Println("accepted:", shop.Accept(got, now), shop.Pending())

	// Text that is not a voucher is refused as malformed.
	_, err = offline.ParseVoucherText("cbdc-vch1:not-a-voucher")
	fmt.Println("garbage:", offline.CodeOf(err))
	// Output:
	// prefix: cbdc-vch1:
	// same voucher: true
	// signature: <nil>
	// accepted: <nil> 800
	// garbage: malformed
}
