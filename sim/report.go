package sim

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"
)

// Report is what a run did, for machines (JSON) and people (WriteTable).
type Report struct {
	Scenario string `json:"scenario"`
	Seed     int64  `json:"seed"`

	Elapsed     float64        `json:"elapsed_s"`
	Target      float64        `json:"target_per_s,omitempty"` // the planned rate; 0 for a closed loop
	Achieved    float64        `json:"achieved_per_s"`         // answered payments a second inside the window
	Payments    int            `json:"payments"`
	Paid        int            `json:"paid"`
	Failed      int            `json:"failed"`
	Errors      map[string]int `json:"errors,omitempty"` // failed payments by code
	P50         float64        `json:"p50_ms"`
	P99         float64        `json:"p99_ms"`
	P999        float64        `json:"p999_ms"`
	WindowS     [2]float64     `json:"window_s"` // the part of the run measured, after warm-up and before cool-down
	Timeline    []Second       `json:"timeline"`
	Money       []MoneySample  `json:"money"`       // CBDC by tier, once a second
	Conserved   bool           `json:"conserved"`   // the ledger's sum of balances is zero and circulation adds up
	Balances    string         `json:"balances"`    // SHA-256 of every party's final balance, to compare runs
	Circulation int64          `json:"circulation"` // CBDC in circulation at the end
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
	T      int     `json:"t"`
	Paid   int     `json:"paid"`
	Failed int     `json:"failed"`
	P99    float64 `json:"p99_ms"`
}

func (r *runner) build(_ context.Context, elapsed time.Duration) (*Report, error) {
	sc := r.w.sc
	rep := &Report{Scenario: sc.Name, Seed: sc.Seed, Elapsed: elapsed.Seconds(), Errors: map[string]int{}}
	switch sc.Arrival.Process {
	case ArrivalFixed, ArrivalPoisson:
		rep.Target = sc.Arrival.Rate
	}
	from, to := sc.Warmup.D(), elapsed-sc.Cooldown.D()
	if to <= from {
		from, to = 0, elapsed
	}
	rep.WindowS = [2]float64{from.Seconds(), to.Seconds()}
	var inWindow []time.Duration
	perSecond := map[int][]outcome{}
	for _, o := range r.out {
		rep.Payments++
		if o.code != "" {
			rep.Failed++
			rep.Errors[o.code]++
		} else {
			rep.Paid++
		}
		if o.at >= from && o.at < to {
			inWindow = append(inWindow, o.latency)
		}
		perSecond[int(o.at/time.Second)] = append(perSecond[int(o.at/time.Second)], o)
	}
	slices.Sort(inWindow)
	rep.Achieved = float64(len(inWindow)) / (to - from).Seconds()
	rep.P50, rep.P99, rep.P999 = quantile(inWindow, 0.5), quantile(inWindow, 0.99), quantile(inWindow, 0.999)
	rep.Timeline = timeline(perSecond)
	r.mu.Lock()
	rep.Money = append([]MoneySample(nil), r.money...)
	r.mu.Unlock()
	tot := r.w.ledger.Totals()
	rep.Conserved, rep.Circulation = tot.Conserved(), tot.Circulation
	bal, err := r.w.Balances()
	if err != nil {
		return nil, err
	}
	rep.Balances = balancesDigest(bal)
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
			if o.code != "" {
				s.Failed++
			} else {
				s.Paid++
			}
			lat = append(lat, o.latency)
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
	codes := make([]string, 0, len(r.Errors))
	for c := range r.Errors {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "    %-22s %d\n", c, r.Errors[c])
	}
	verdict := "conserved"
	if !r.Conserved {
		verdict = "NOT CONSERVED"
	}
	fmt.Fprintf(w, "  money       %s; %d yen in circulation; balances %s\n", verdict, r.Circulation, r.Balances[:16])
}
