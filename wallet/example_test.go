package wallet_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/digital-yen/cbdc-sandbox/internal/pursetest"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// exampleKDF keeps argon2id cheap so the examples run fast; a wallet uses
// wallet.DefaultKDFParams.
var exampleKDF = wallet.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// A wallet's key lives in a key file sealed under a passphrase. The file
// is written once and never replaced; opening it needs the passphrase.
func ExampleWriteKeyFile() {
	dir, err := os.MkdirTemp("", "wallet-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "alice.key")
	passphrase := []byte("correct horse battery")

	// A fixed seed keeps the example's output the same; a wallet makes
	// its key with ed25519.GenerateKey.
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{'a'}, ed25519.SeedSize))
	data, err := wallet.EncryptKey(key, passphrase, exampleKDF)
	if err != nil {
		log.Fatal(err)
	}
	if err := wallet.WriteKeyFile(path, data); err != nil {
		log.Fatal(err)
	}

	opened, err := wallet.ReadKeyFile(path, passphrase)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same key:", opened.Equal(key))
	_, err = wallet.ReadKeyFile(path, []byte("wrong horse battery"))
	fmt.Println("wrong passphrase:", errors.Is(err, wallet.ErrWrongPassphrase))
	err = wallet.WriteKeyFile(path, data)
	fmt.Println("written twice:", err != nil)
	// Output:
	// same key: true
	// wrong passphrase: true
	// written twice: true
}

// An offline purse lives in a purse file, sealed like a key file and
// rewritten after every change. Here two purses, each read from its file,
// pay with no network between them: the shop's purse asks, alice's pays,
// the shop's checks and accepts; each is saved again.
func ExampleWritePurseFile() {
	dir, err := os.MkdirTemp("", "wallet-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	pass := []byte("correct horse battery")
	alicePath, shopPath := filepath.Join(dir, "alice.purse"), filepath.Join(dir, "shop.purse")
	save := func(path string, p *offline.Purse) {
		data, err := wallet.EncryptPurse(p, pass, exampleKDF)
		if err != nil {
			log.Fatal(err)
		}
		if err := wallet.WritePurseFile(path, data); err != nil {
			log.Fatal(err)
		}
	}
	open := func(path string) *offline.Purse {
		p, err := wallet.ReadPurseFile(path, pass)
		if err != nil {
			log.Fatal(err)
		}
		return p
	}
	// Online, the bank provisions both purses and funds alice's (see
	// Client.ProvisionPurse and Client.FundPurse); examplePurse stands in.
	save(alicePath, examplePurse(1, 5000))
	save(shopPath, examplePurse(2, 0))

	// Offline. The shop's purse shows a request as text (a QR code).
	now := exampleNow
	shop := open(shopPath)
	q, err := shop.Request(1200, now)
	if err != nil {
		log.Fatal(err)
	}
	save(shopPath, shop)

	// Alice's purse reads the request and answers with a voucher.
	alice := open(alicePath)
	req, err := offline.ParsePaymentRequestText(q.Text())
	if err != nil {
		log.Fatal(err)
	}
	v, err := alice.Pay(req, now)
	if err != nil {
		log.Fatal(err)
	}
	save(alicePath, alice)

	// The shop's purse reads the voucher, checks it and takes the value.
	shop = open(shopPath)
	got, err := offline.ParseVoucherText(v.Text())
	if err != nil {
		log.Fatal(err)
	}
	if err := shop.Accept(got, now); err != nil {
		log.Fatal(err)
	}
	save(shopPath, shop)

	fmt.Println("alice:", open(alicePath).Balance())
	fmt.Println("shop pending:", open(shopPath).Pending())
	// Output:
	// alice: 3800
	// shop pending: 1200
}

// A fixed clock and keys from fixed seeds keep the examples' output the
// same on every run; pursetest.Purse provisions and funds a purse as the
// bank does online (the offline package's example shows each step).
var (
	exampleNow   = pursetest.Now
	examplePurse = pursetest.Purse
)
