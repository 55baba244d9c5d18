package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// offlineFlags are the offline policy's flags, shared by `cbdc sandbox`
// and `cbdc ledger`.
type offlineFlags struct {
	mode, bearer string
	policy       offline.Policy
	certDays     int
	guarantee    int64
}

func (o *offlineFlags) register(fs *flag.FlagSet) {
	o.policy = offline.DefaultPolicy()
	o.mode, o.bearer = o.policy.Mode.String(), o.policy.LossBearer.String()
	o.certDays = int(o.policy.CertLifetime / (24 * time.Hour))
	fs.StringVar(&o.mode, "offline-mode", o.mode, "offline mode: staged (received value waits to settle) or intermittent (it can be spent again)")
	fs.StringVar(&o.bearer, "offline-loss", o.bearer, "who bears offline overspends: payer-bank, payee or guarantee")
	fs.Int64Var(&o.policy.PaymentCap, "offline-payment-cap", o.policy.PaymentCap, "largest single offline payment, yen")
	fs.Int64Var(&o.policy.PurseCap, "offline-purse-cap", o.policy.PurseCap, "most an offline purse may hold, yen")
	fs.Func("offline-sync-after", fmt.Sprintf("offline payments a purse may make before it must sync (default %d)", o.policy.PaymentsBeforeSync), func(s string) error {
		var n uint32
		if _, err := fmt.Sscan(s, &n); err != nil {
			return fmt.Errorf("want a whole number, got %q", s)
		}
		o.policy.PaymentsBeforeSync = n
		return nil
	})
	fs.IntVar(&o.certDays, "offline-cert-days", o.certDays, "days a purse's device certificate is valid")
	fs.Int64Var(&o.guarantee, "offline-guarantee-fund", settlement.DefaultGuaranteeFund, "yen the central bank puts in the guarantee account when it opens")
}

// Policy checks the flags and returns the policy they set.
func (o *offlineFlags) Policy() (offline.Policy, error) {
	p := o.policy
	var err error
	if p.Mode, err = offline.ParseMode(o.mode); err != nil {
		return p, err
	}
	if p.LossBearer, err = offline.ParseBearer(o.bearer); err != nil {
		return p, err
	}
	p.CertLifetime = time.Duration(o.certDays) * 24 * time.Hour
	if err := p.Validate(); err != nil {
		return p, err
	}
	if o.guarantee <= 0 {
		return p, fmt.Errorf("-offline-guarantee-fund must be a positive number of yen, got %d", o.guarantee)
	}
	return p, nil
}

// openSettlement opens offline settlement beside the ledger.
func openSettlement(ctx context.Context, l *ledger.Ledger, o *offlineFlags, log *slog.Logger) (*settlement.Settler, error) {
	p, err := o.Policy()
	if err != nil {
		return nil, err
	}
	return settlement.Open(ctx, l, settlement.Config{Policy: p, GuaranteeFund: o.guarantee, Logger: log})
}
