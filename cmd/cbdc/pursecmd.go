package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// The purse verbs of `cbdc wallet`. Provision, fund, sync and defund talk
// to the bank; request, pay, accept and purse show only the purse file, as
// a device with no connection would.

// purseVerb says how a wallet verb uses the purse file.
type purseVerb int

const (
	noPurse     purseVerb = iota
	newPurse              // creates the purse file (provision)
	onlinePurse           // loads and saves it around a bank session
	localPurse            // loads and saves it; no bank session
)

// purseCommand is a wallet verb with what it does with the purse file.
type purseCommand struct {
	walletVerb
	purse purseVerb
	local func(a *walletArgs) (any, error) // for verbs that need no bank
}

var purseCommands = []purseCommand{
	onlineVerb("purse-provision", "create an offline purse and have the bank certify it", purseFlags, newPurse,
		func(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error) {
			return c.ProvisionPurse(ctx, a.id, a.purse)
		}),
	onlineVerb("purse-fund", "move money from the wallet into the offline purse", purseAmountFlags, onlinePurse,
		func(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error) {
			return c.FundPurse(ctx, a.id, a.purse, a.amount)
		}),
	onlineVerb("purse-sync", "upload offline payments for settlement and reset the sync count", purseFlags, onlinePurse,
		func(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error) {
			return c.SyncPurse(ctx, a.purse)
		}),
	onlineVerb("purse-defund", "move money from the offline purse back into the wallet", purseAmountFlags, onlinePurse,
		func(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error) {
			return c.DefundPurse(ctx, a.purse, a.amount)
		}),
	onlineVerb("purse-retire", "report a lost or stolen purse by its serial: it is revoked and its value comes back to the wallet", func(fs *flag.FlagSet, a *walletArgs) {
		fs.StringVar(&a.text, "serial", "", "the lost purse's serial (cbdc wallet purse shows it)")
		fs.StringVar(&a.id, "id", "", "request id; reuse one to retry")
	}, noPurse, func(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error) {
		return c.RetirePurse(ctx, a.id, a.text)
	}),
	localVerb("purse", "show the offline purse: balance, counter, payments since the last sync", purseFlags, showPurse),
	localVerb("purse-request", "offline: ask to be paid; prints a payment request to show the payer", purseAmountFlags, requestOffline),
	localVerb("purse-pay", "offline: answer a payment request; prints the voucher to give the payee", func(fs *flag.FlagSet, a *walletArgs) {
		purseFlags(fs, a)
		fs.StringVar(&a.text, "request", "", "the payee's payment request (cbdc-req1:…)")
	}, payOffline),
	localVerb("purse-accept", "offline: check a payer's voucher and take the value", func(fs *flag.FlagSet, a *walletArgs) {
		purseFlags(fs, a)
		fs.StringVar(&a.text, "voucher", "", "the payer's voucher (cbdc-vch1:…)")
	}, acceptOffline),
}

func onlineVerb(name, summary string, flags func(*flag.FlagSet, *walletArgs), purse purseVerb,
	run func(context.Context, *walletArgs, *wallet.Client) (any, error)) purseCommand {
	return purseCommand{walletVerb: walletVerb{name: name, summary: summary, flags: flags, run: run}, purse: purse}
}

func localVerb(name, summary string, flags func(*flag.FlagSet, *walletArgs), local func(*walletArgs) (any, error)) purseCommand {
	return purseCommand{walletVerb: walletVerb{name: name, summary: summary, flags: flags}, purse: localPurse, local: local}
}

func requestOffline(a *walletArgs) (any, error) {
	q, err := a.purse.Request(a.amount, time.Now())
	if err != nil {
		return nil, err
	}
	return map[string]any{"request": q.Text(), "amount": q.Amount, "payee": q.Payee.String()}, nil
}

func payOffline(a *walletArgs) (any, error) {
	q, err := offline.ParsePaymentRequestText(a.text)
	if err != nil {
		return nil, err
	}
	v, err := a.purse.Pay(q, time.Now())
	if err != nil {
		return nil, err
	}
	return map[string]any{"voucher": v.Text(), "amount": v.Amount, "counter": v.Counter, "balance": a.purse.Balance()}, nil
}

func acceptOffline(a *walletArgs) (any, error) {
	v, err := offline.ParseVoucherText(a.text)
	if err != nil {
		return nil, err
	}
	if err := a.purse.Accept(v, time.Now()); err != nil {
		return nil, err
	}
	return map[string]any{"accepted": v.Amount, "payer": v.Payer.String(), "balance": a.purse.Balance(), "pending": a.purse.Pending()}, nil
}

func purseFlags(fs *flag.FlagSet, a *walletArgs) {
	fs.StringVar(&a.purseFile, "purse", "wallet.purse", "the offline purse's file, sealed with the key file's passphrase")
	fs.Int64Var(&a.kdfMemory, "kdf-memory", int64(wallet.DefaultKDFParams.MemoryKiB), "argon2id memory in KiB for sealing the purse file")
	fs.StringVar(&a.id, "id", "", "request id; reuse one to retry")
}

func purseAmountFlags(fs *flag.FlagSet, a *walletArgs) {
	purseFlags(fs, a)
	fs.Int64Var(&a.amount, "amount", 0, "yen")
}

func showPurse(a *walletArgs) (any, error) {
	p := a.purse
	out := map[string]any{"serial": p.Serial().String(), "balance": p.Balance(), "pending": p.Pending(),
		"counter": p.Counter(), "since_sync": p.SinceSync()}
	if ch := p.Chain(); ch != nil {
		lim := ch.Device.Limits
		out["mode"], out["payment_cap"], out["purse_cap"] = lim.Mode.String(), lim.PaymentCap, lim.PurseCap
		out["payments_before_sync"], out["expires"] = lim.PaymentsBeforeSync, ch.Device.Expires
	}
	if crl := p.Revocations(); crl != nil {
		out["revocation_list"] = crl.Seq
	}
	return out, nil
}

// openPurse loads the purse file, or for provision makes a new purse
// (reusing an existing file, so provisioning again is harmless).
func openPurse(a *walletArgs, verb purseVerb) error {
	p, err := wallet.ReadPurseFile(a.purseFile, a.pass)
	switch {
	case err == nil:
		a.purse = p
		return nil
	case verb == newPurse && errors.Is(err, os.ErrNotExist):
		a.purse, err = offline.NewPurse(nil)
		return err
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("no purse file %s: create one with cbdc wallet purse-provision", a.purseFile)
	}
	return err
}

// savePurse seals the purse under the key file's passphrase.
func savePurse(a *walletArgs) error {
	params := wallet.DefaultKDFParams
	params.MemoryKiB = uint32(a.kdfMemory)
	data, err := wallet.EncryptPurse(a.purse, a.pass, params)
	if err != nil {
		return err
	}
	return wallet.WritePurseFile(a.purseFile, data)
}
