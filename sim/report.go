package sim

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"
)

// Report is what a run did, for machines (JSON) and people (WriteTable).
type Report struct {
	Scenario string `json:"scenario"`
	Seed     int64  `json:"seed"`

	Elapsed     float64        `json:"elapsed_s"`
	Target      float64        `json:"target_per_s,omitempty"` // the planned rate; 0 for a closed loop
	Achieved    float64        `json:"achieved_per_s"`         // payments paid (online or offline) a second inside the window
	Payments    int            `json:"payments"`
	Paid        int            `json:"paid"`
	Failed      int            `json:"failed"`
	Errors      map[string]int `json:"errors,omitempty"` // failed payments by code
	P50         float64        `json:"p50_ms"`
	P99         float64        `json:"p99_ms"`
	P999        float64        `json:"p999_ms"`
	WindowS     [2]float64     `json:"window_s"` // the part of the run measured, after warm-up and before cool-down
	Timeline    []Second       `json:"timeline"`
	Money       []MoneySample  `json:"money"`              // CBDC by tier, once a second
	LedgerSeen  bool           `json:"ledger_seen"`        // the run could read the ledger's totals (a remote run needs a credential)
	Conserved   bool           `json:"conserved"`          // the ledger's sum of balances is zero and circulation adds up
	SignedAhead float64        `json:"signed_ahead_s"`     // seconds spent signing the planned payments before the run (0: each was signed as it was made)
	SentSigned  int            `json:"sent_signed_ahead"`  // online payments sent as signed before the run
	Plan        string         `json:"plan"`               // SHA-256 of the planned payments and attacks: the same for the same seed
	Balances    string         `json:"balances,omitempty"` // SHA-256 of every party's final holdings (wallet and deposit), to compare runs; in-process runs only
	Circulation int64          `json:"circulation"`        // CBDC in circulation at the end
	Offline     *OfflineReport `json:"offline,omitempty"`

	// Outages are the scenario's scripted outages, in seconds from the
	// run's start, as the time axes of Timeline, Money and Exposure count.
	Outages []OutageWindow `json:"outages,omitempty"`
	// FailedInOutage counts the failed payments whose payer or payee a
	// scripted outage had cut off when the payment was due, and
	// OutageErrors counts them by code; both are part of Failed and Errors.
	FailedInOutage int            `json:"failed_in_outage"`
	OutageErrors   map[string]int `json:"outage_errors,omitempty"`
}

// OfflineReport is the offline side of a run: purses, payments made with
// vouchers, what reconciliation made of them, and the attacks.
type OfflineReport struct {
	Purses   int            `json:"purses"`
	Payments int            `json:"payments"` // honest payments tried offline
	Paid     int            `json:"paid"`
	Failed   map[string]int `json:"failed,omitempty"` // by code
	// RefusedByLimits counts honest payments a purse refused because of a
	// policy limit: the per-payment cap, the purse cap, payments before a
	// sync, or a purse run dry.
	RefusedByLimits map[string]int `json:"refused_by_limits,omitempty"`
	// MadeButRefused counts failed payments whose voucher the payer's purse
	// had already made when the payee's refused it: the payer's next sync
	// hands it in and it settles to the payee all the same.
	MadeButRefused int `json:"made_but_refused"`

	// Every voucher made, honest or not, as the ledger's settlement has it
	// at the end.
	Vouchers      int            `json:"vouchers"`
	Settled       int            `json:"settled"`
	SettledAmount int64          `json:"settled_amount"`
	Rejected      int            `json:"rejected"`
	RejectedBy    map[string]int `json:"rejected_by,omitempty"`
	Pending       int            `json:"pending"`
	NotUploaded   int            `json:"not_uploaded"` // held by attackers' victims' purses only, never handed in
	// Time from an offline payment to its settlement, in seconds.
	SettleP50 float64 `json:"settle_p50_s"`
	SettleP99 float64 `json:"settle_p99_s"`

	Conflicts     map[string]int   `json:"conflicts,omitempty"` // recorded by the ledger, by kind
	HonestRevoked int              `json:"honest_revoked"`      // devices revoked that committed no attack
	LossByBearer  map[string]int64 `json:"loss_by_bearer,omitempty"`
	LossByPayees  int64            `json:"loss_by_payees"`
	Attacks       []AttackOutcome  `json:"attacks,omitempty"`
	SyncErrors    map[string]int   `json:"sync_errors,omitempty"`

	Exposure []ExposureSample `json:"exposure"` // once a second
}

// ExposureSample is the offline exposure at one second of the run: value
// paid in vouchers the ledger has not settled or rejected yet, and the
// value held in purse escrow.
type ExposureSample struct {
	T         int   `json:"t"`
	Unsettled int64 `json:"unsettled"`
	Escrow    int64 `json:"escrow"`
}

// OutageWindow is one scripted outage of a run.
type OutageWindow struct {
	From    float64 `json:"from_s"` // seconds from the run's start
	To      float64 `json:"to_s"`
	Bank    string  `json:"bank,omitempty"`    // the bank cut off, or
	Wallets float64 `json:"wallets,omitempty"` // the share of all wallets cut off
	Label   string  `json:"label"`             // such as "outage: bank-2" or "outage: 30% of wallets"
}

func outageWindows(outages []Outage) []OutageWindow {
	var out []OutageWindow
	for _, o := range outages {
		label := "outage: " + o.Bank
		if o.Bank == "" {
			label = "outage: " + strconv.FormatFloat(math.Round(o.Wallets*1000)/10, 'f', -1, 64) + "% of wallets"
		}
		out = append(out, OutageWindow{From: o.At.D().Seconds(), To: (o.At.D() + o.For.D()).Seconds(),
			Bank: o.Bank, Wallets: o.Wallets, Label: label})
	}
	return out
}

// MoneySample is the CBDC held by each tier at one second of the run.
type MoneySample struct {
	T              int   `json:"t"`
	Intermediaries int64 `json:"intermediaries"`
	Wallets        int64 `json:"wallets"`
	Escrow         int64 `json:"offline_escrow"`
	Loss           int64 `json:"loss_accounts"`
}

// Second is one second of the run.
type Second struct {
	T       int     `json:"t"`
	Paid    int     `json:"paid"`
	Offline int     `json:"offline"` // of the paid, made with vouchers
	Failed  int     `json:"failed"`
	P99     float64 `json:"p99_ms"`
	// FailedInOutage is the part of Failed whose payer or payee a scripted
	// outage had cut off.
	FailedInOutage int `json:"failed_in_outage,omitempty"`
}

func (r *runner) build(ctx context.Context, elapsed time.Duration) (*Report, error) {
	sc := r.w.sc
	rep := &Report{Scenario: sc.Name, Seed: sc.Seed, Elapsed: elapsed.Seconds(), Errors: map[string]int{}, Plan: r.planDigest,
		SignedAhead: r.signing.Seconds(), SentSigned: int(r.sentSigned.Load())}
	from, to := sc.Warmup.D(), elapsed-sc.Cooldown.D()
	if to <= from {
		from, to = 0, elapsed
	}
	switch sc.Arrival.Process {
	case ArrivalFixed, ArrivalPoisson:
		rep.Target = sc.Arrival.Rate
	case ArrivalSchedule: // the schedule's mean over the measured window
		n := 0
		for _, p := range r.plan {
			if p.At >= from && p.At < to {
				n++
			}
		}
		rep.Target = float64(n) / (to - from).Seconds()
	}
	rep.WindowS = [2]float64{from.Seconds(), to.Seconds()}
	if rep.Outages = outageWindows(sc.Outages); rep.Outages != nil {
		rep.OutageErrors = map[string]int{}
	}
	var inWindow []time.Duration // online payments' latencies
	paidInWindow := 0
	perSecond := map[int][]outcome{}
	for _, o := range r.out {
		rep.Payments++
		if o.code != "" {
			rep.Failed++
			rep.Errors[o.code]++
			if o.cut {
				rep.FailedInOutage++
				rep.OutageErrors[o.code]++
			}
		} else {
			rep.Paid++
		}
		if o.at >= from && o.at < to {
			if o.code == "" {
				paidInWindow++
			}
			if !o.offline && !o.local {
				inWindow = append(inWindow, o.latency)
			}
		}
		perSecond[int(o.at/time.Second)] = append(perSecond[int(o.at/time.Second)], o)
	}
	slices.Sort(inWindow)
	rep.Achieved = float64(paidInWindow) / (to - from).Seconds()
	rep.P50, rep.P99, rep.P999 = quantile(inWindow, 0.5), quantile(inWindow, 0.99), quantile(inWindow, 0.999)
	rep.Timeline = timeline(perSecond)
	r.mu.Lock()
	rep.Money = append([]MoneySample(nil), r.money...)
	r.mu.Unlock()
	if tot, seen := r.w.sb.Totals(ctx); seen {
		rep.LedgerSeen, rep.Conserved, rep.Circulation = true, tot.Conserved(), tot.Circulation
	}
	bal, err := r.w.Holdings(ctx)
	if err != nil {
		return nil, err
	}
	if bal != nil {
		rep.Balances = balancesDigest(bal)
	}
	if r.off != nil && sc.Offline != nil {
		rep.Offline = r.off.finish()
	}
	return rep, nil
}

func timeline(perSecond map[int][]outcome) []Second {
	var out []Second
	for t := 0; len(perSecond) > 0; t++ {
		os, ok := perSecond[t]
		if !ok {
			out = append(out, Second{T: t})
			continue
		}
		delete(perSecond, t)
		s := Second{T: t}
		lat := make([]time.Duration, 0, len(os))
		for _, o := range os {
			switch {
			case o.code != "":
				s.Failed++
				if o.cut {
					s.FailedInOutage++
				}
			case o.offline:
				s.Paid++
				s.Offline++
			default:
				s.Paid++
			}
			if !o.offline && !o.local {
				lat = append(lat, o.latency)
			}
		}
		slices.Sort(lat)
		s.P99 = quantile(lat, 0.99)
		out = append(out, s)
	}
	return out
}

// WriteTable prints the report for people.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "scenario %s (seed %d), %.1f s\n", r.Scenario, r.Seed, r.Elapsed)
	if r.Target > 0 {
		fmt.Fprintf(w, "  rate        %.0f payments/s achieved of %.0f/s target (measured %.0f–%.0f s)\n", r.Achieved, r.Target, r.WindowS[0], r.WindowS[1])
	} else {
		fmt.Fprintf(w, "  rate        %.0f payments/s (measured %.0f–%.0f s)\n", r.Achieved, r.WindowS[0], r.WindowS[1])
	}
	fmt.Fprintf(w, "  latency     p50 %.1f ms  p99 %.1f ms  p99.9 %.1f ms\n", r.P50, r.P99, r.P999)
	fmt.Fprintf(w, "  payments    %d: %d paid, %d failed\n", r.Payments, r.Paid, r.Failed)
	if r.SignedAhead > 0 {
		fmt.Fprintf(w, "    %d signed before the run (in %.1f s), as each payer's phone would\n", r.SentSigned, r.SignedAhead)
	}
	if len(r.Outages) == 0 {
		writeCodes(w, "    ", r.Errors)
	} else if r.Failed > 0 {
		in, other := r.splitErrors()
		fmt.Fprintf(w, "    %d %s (payer or payee cut off)\n", r.FailedInOutage, r.duringOutage())
		writeCodes(w, "      ", in)
		fmt.Fprintf(w, "    %d other failures\n", r.Failed-r.FailedInOutage)
		writeCodes(w, "      ", other)
	}
	verdict := "conserved"
	switch {
	case !r.LedgerSeen:
		verdict = "not watched: the run was not given a view of the ledger"
	case !r.Conserved:
		verdict = "NOT CONSERVED"
	}
	if r.Offline != nil {
		r.Offline.write(w)
	}
	fmt.Fprintf(w, "  money       %s; %d yen in circulation\n", verdict, r.Circulation)
	fmt.Fprintf(w, "  digests     plan %.16s", r.Plan)
	if r.Balances != "" {
		fmt.Fprintf(w, "  balances %.16s", r.Balances)
	}
	fmt.Fprintln(w)
}

// write prints the offline side of the report.
func (o *OfflineReport) write(w io.Writer) {
	fmt.Fprintf(w, "  offline     %d purses; %d payments tried, %d paid\n", o.Purses, o.Payments, o.Paid)
	writeCounts(w, "refused by a limit", o.RefusedByLimits)
	if o.MadeButRefused > 0 {
		fmt.Fprintf(w, "    %d refused by the payee after the payer's purse paid; they settle at the payer's sync\n", o.MadeButRefused)
	}
	fmt.Fprintf(w, "  vouchers    %d made: %d settled (%d yen), %d rejected, %d pending, %d never handed in\n",
		o.Vouchers, o.Settled, o.SettledAmount, o.Rejected, o.Pending, o.NotUploaded)
	writeCounts(w, "rejected", o.RejectedBy)
	fmt.Fprintf(w, "  settling    p50 %.1f s  p99 %.1f s from payment to settlement\n", o.SettleP50, o.SettleP99)
	writeCounts(w, "conflicts", o.Conflicts)
	fmt.Fprintf(w, "  revoked     %d honest devices\n", o.HonestRevoked)
	for _, a := range o.Attacks {
		fmt.Fprintf(w, "  attack      %-15s %d planned, %d committed, %d caught, %d missed\n", a.Kind, a.Planned, a.Committed, a.Caught, a.Missed)
	}
	losses := map[string]int{}
	for k, v := range o.LossByBearer {
		losses[k] = int(v)
	}
	if o.LossByPayees > 0 {
		losses["payees"] = int(o.LossByPayees)
	}
	writeCounts(w, "losses (yen)", losses)
	writeCounts(w, "sync errors", o.SyncErrors)
}

// duringOutage names the failures a scripted outage caused, as the report
// labels them.
func (r *Report) duringOutage() string {
	if len(r.Outages) > 1 {
		return "during the scripted outages"
	}
	return "during the scripted outage"
}

// splitErrors divides Errors into the failures during a scripted outage
// (OutageErrors) and the others, leaving out codes with none.
func (r *Report) splitErrors() (during, other map[string]int) {
	during, other = map[string]int{}, map[string]int{}
	for c, n := range r.Errors {
		if m := r.OutageErrors[c]; m > 0 {
			during[c] = m
		}
		if m := n - r.OutageErrors[c]; m > 0 {
			other[c] = m
		}
	}
	return during, other
}

func writeCodes(w io.Writer, indent string, m map[string]int) {
	for _, c := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(w, "%s%-22s %d\n", indent, c, m[c])
	}
}

func writeCounts(w io.Writer, title string, m map[string]int) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Fprintf(w, "    %s:", title)
	for _, k := range keys {
		fmt.Fprintf(w, " %s %d", k, m[k])
	}
	fmt.Fprintln(w)
}
