package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/metrics"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/sandbox"
)

// offlineFlags are the offline policy's flags, shared by `cbdc sandbox`
// and `cbdc ledger`.
type offlineFlags struct {
	mode, bearer string
	policy       offline.Policy
	certDays     float64
	guarantee    int64
	window       time.Duration
}

func (o *offlineFlags) register(fs *flag.FlagSet) {
	o.policy = offline.DefaultPolicy()
	o.mode, o.bearer = o.policy.Mode.String(), o.policy.LossBearer.String()
	o.certDays = o.policy.CertLifetime.Hours() / 24
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
	fs.Float64Var(&o.certDays, "offline-cert-days", o.certDays, "days a purse's device certificate is valid (fractions for experiments: 0.001 is 86.4 s); a purse in good standing that syncs in the second half of them gets a new one")
	fs.DurationVar(&o.policy.UploadGrace, "offline-upload-grace", o.policy.UploadGrace, "how long after its payer's certificate expires a voucher may still reach the ledger and be honoured; a later one is its payee's loss")
	fs.Int64Var(&o.guarantee, "offline-guarantee-fund", settlement.DefaultGuaranteeFund, "yen the central bank puts in the guarantee account when it opens")
	fs.DurationVar(&o.window, "offline-window", 24*time.Hour, "how often the ledger closes the settlement window: waiting payers in a cycle settle by netting, what still waits is advanced by the bearer (payer-bank, guarantee), shortfalls now certain are decided")
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
	p.CertLifetime = time.Duration(o.certDays * float64(24*time.Hour)).Truncate(time.Millisecond)
	if err := p.Validate(); err != nil {
		return p, err
	}
	if o.window < time.Second {
		return p, fmt.Errorf("-offline-window must be at least 1s, got %s", o.window)
	}
	if o.guarantee <= 0 {
		return p, fmt.Errorf("-offline-guarantee-fund must be a positive number of yen, got %d", o.guarantee)
	}
	return p, nil
}

// openCentral opens the central ledger in dir as the flags say, and
// says which intermediaries keep a first float of another amount.
func openCentral(ctx context.Context, dir string, banks int, float int64, o *offlineFlags, m *metrics.Metrics, log *slog.Logger, stdout io.Writer) (*sandbox.Central, error) {
	p, err := o.Policy()
	if err != nil {
		return nil, err
	}
	c, err := sandbox.OpenCentral(ctx, sandbox.CentralConfig{Dir: dir, Banks: banks, Float: float, Policy: p,
		GuaranteeFund: o.guarantee, Window: o.window, Logger: log, Metrics: m})
	if err != nil {
		return nil, err
	}
	sayEarlierFloat(stdout, c.EarlierFloat)
	return c, nil
}

// sayEarlierFloat names the intermediaries whose first float an earlier
// start issued with another -float.
func sayEarlierFloat(w io.Writer, banks []ledger.AccountID) {
	for _, bank := range banks {
		fmt.Fprintf(w, "cbdc: %s received its first float with another -float earlier; -float applies to new intermediaries\n", bank)
	}
}

// summary names the policy in one line, for the sandbox's banner.
func (o *offlineFlags) summary() string {
	p, err := o.Policy()
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%s, %d yen a payment, %d a purse, sync after %d payments, losses borne by %s",
		p.Mode, p.PaymentCap, p.PurseCap, p.PaymentsBeforeSync, p.LossBearer)
}
