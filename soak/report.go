package soak

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// maxProblems is how many problems a report spells out; the rest are
// counted.
const maxProblems = 20

// Report is what a soak found. A run passes when Problems is empty.
type Report struct {
	Scenario string        `json:"scenario"`
	Seed     int64         `json:"seed"`
	Banks    int           `json:"banks"`
	Parties  int           `json:"parties"`
	TLS      bool          `json:"tls"`
	Load     time.Duration `json:"load_ns"` // how long payments arrived, with the time to answer the last ones
	Took     time.Duration `json:"took_ns"` // the whole run, with onboarding, checks and audit

	Kills    map[string]int `json:"kills"` // SIGKILLs by process; each was started again
	Restarts int            `json:"restarts"`
	// StartRetries counts starts tried again because the process did not
	// come up, such as a ledger that could not bind its address.
	StartRetries int            `json:"start_retries"`
	Freezes      map[string]int `json:"freezes"` // SIGSTOPs by process; each was continued
	// SlowestAnswer is the longest a payment waited for its bank's
	// answer; WalletTimeouts the attempts that got none within 30 s.
	SlowestAnswer  time.Duration `json:"slowest_answer_ns"`
	WalletTimeouts int           `json:"wallet_timeouts"`
	// FrozenWaits is what wallets saw of the requests they sent while a
	// process was stopped, by process.
	FrozenWaits map[string]*FrozenWait `json:"frozen_waits,omitempty"`

	Sent      int            `json:"sent"`      // payments sent
	Paid      int            `json:"paid"`      // answered as made
	Refused   map[string]int `json:"refused"`   // answered with a refusal, by code
	Unsettled int            `json:"unsettled"` // still in doubt when the run gave up on them
	Cut       int            `json:"cut"`       // sent, then the connection was lost before the answer
	Retries   int            `json:"retries"`   // sends again with the same request id
	Redials   int            `json:"redials"`   // wallet sessions opened again after a bank went away

	Checked         int    `json:"checked"`          // payments made found once at payer and payee
	Lost            int    `json:"lost"`             // answered as made and missing
	Doubled         int    `json:"doubled"`          // applied more than once
	Unexpected      int    `json:"unexpected"`       // in a history without an answer saying so
	HoldingsChecked int    `json:"holdings_checked"` // parties whose holdings were checked
	HoldingsWrong   int    `json:"holdings_wrong"`   // parties holding other than their answers say
	Audit           string `json:"audit"`            // OK, failed or not run

	Problems     []string `json:"problems,omitempty"`
	MoreProblems int      `json:"more_problems,omitempty"`
}

func (r *run) newReport(load time.Duration) *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	sc := r.cfg.Scenario
	rep := &Report{Scenario: sc.Name, Seed: sc.Seed, Banks: sc.Banks, Parties: len(r.parties), TLS: r.cfg.TLS, Load: load,
		Kills: map[string]int{}, Paid: len(r.paid), Refused: maps.Clone(r.refused), Unsettled: len(r.unsettled),
		Cut: r.cut, Retries: r.retries, Redials: r.redials, SlowestAnswer: r.slowest, WalletTimeouts: r.timeouts}
	for _, k := range r.kills {
		rep.Kills[k]++
	}
	rep.Freezes, rep.FrozenWaits = map[string]int{}, map[string]*FrozenWait{}
	for _, f := range r.freezes {
		rep.Freezes[f]++
	}
	for name, w := range r.waits {
		c := *w
		c.Answers = maps.Clone(w.Answers)
		rep.FrozenWaits[name] = &c
	}
	for _, s := range r.services() {
		rep.Restarts += s.starts - 1
		rep.StartRetries += s.retried
	}
	rep.Sent = rep.Paid + rep.Unsettled
	for _, n := range rep.Refused {
		rep.Sent += n
	}
	if want := r.cfg.faults(r.cfg.Kills); len(r.kills) < want {
		rep.problem("%d of the %d SIGKILLs asked for were made: restarts took too long for the load's length", len(r.kills), want)
	}
	if want := r.cfg.faults(r.cfg.Freezes); len(r.freezes) < want {
		rep.problem("%d of the %d SIGSTOPs asked for were made: the faults took too long for the load's length", len(r.freezes), want)
	}
	if w := r.waits["ledger"]; w != nil && w.Longest > r.cfg.FrozenLedgerBound {
		rep.problem("a wallet waited %s for an answer while the ledger was frozen; the banks must answer within %s", w.Longest.Round(time.Millisecond), r.cfg.FrozenLedgerBound)
	}
	if len(r.unsettled) > 0 {
		rep.problem("%d payments were still in doubt %s after the load ended, such as %s", len(r.unsettled), r.cfg.Settle, r.unsettled[0])
	}
	return rep
}

func (rep *Report) problem(format string, args ...any) {
	if len(rep.Problems) >= maxProblems {
		rep.MoreProblems++
		return
	}
	rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
}

// OK says whether nothing was lost, doubled or made up, every party holds
// what it should and the audit passed.
func (rep *Report) OK() bool { return len(rep.Problems) == 0 && rep.MoreProblems == 0 }

// KillCount is the number of SIGKILLs.
func (rep *Report) KillCount() int {
	var n int
	for _, k := range rep.Kills {
		n += k
	}
	return n
}

// Print writes the report as a table.
func (rep *Report) Print(w io.Writer) {
	over := ""
	if rep.TLS {
		over = ", every connection over TLS"
	}
	fmt.Fprintf(w, "soak: scenario %s (seed %d): the ledger and %d banks as separate processes, %d wallets%s\n", rep.Scenario, rep.Seed, rep.Banks, rep.Parties, over)
	fmt.Fprintf(w, "  load          %s (whole run %s)\n", rep.Load.Round(time.Second), rep.Took.Round(time.Second))
	var kills []string
	for _, name := range slices.Sorted(maps.Keys(rep.Kills)) {
		kills = append(kills, fmt.Sprintf("%s %d", name, rep.Kills[name]))
	}
	fmt.Fprintf(w, "  SIGKILLs      %d (%s), restarts %d (%d tried again)\n", rep.KillCount(), orNone(strings.Join(kills, ", ")), rep.Restarts, rep.StartRetries)
	rep.printFreezes(w)
	var refused []string
	for _, code := range slices.Sorted(maps.Keys(rep.Refused)) {
		refused = append(refused, fmt.Sprintf("%s %d", code, rep.Refused[code]))
	}
	fmt.Fprintf(w, "  payments      sent %d, made %d, refused %d (%s), still in doubt %d\n", rep.Sent, rep.Paid, rep.Sent-rep.Paid-rep.Unsettled, orNone(strings.Join(refused, ", ")), rep.Unsettled)
	fmt.Fprintf(w, "  cut off       %d payments lost their connection after they were sent\n", rep.Cut)
	fmt.Fprintf(w, "  answers       the slowest in %s; %d attempts had none within 30 s\n", rep.SlowestAnswer.Round(time.Millisecond), rep.WalletTimeouts)
	fmt.Fprintf(w, "  retries       %d sends again with the same request id, %d sessions opened again\n", rep.Retries, rep.Redials)
	fmt.Fprintf(w, "  checked       %d payments made, each once in the payer's and the payee's history\n", rep.Checked)
	fmt.Fprintf(w, "  lost          %d\n", rep.Lost)
	fmt.Fprintf(w, "  doubled       %d\n", rep.Doubled)
	fmt.Fprintf(w, "  unexpected    %d payments in histories that no answer told of\n", rep.Unexpected)
	fmt.Fprintf(w, "  holdings      %d of %d parties hold what their answered payments say\n", rep.HoldingsChecked-rep.HoldingsWrong, rep.HoldingsChecked)
	fmt.Fprintf(w, "  audit         %s\n", rep.Audit)
	if rep.OK() {
		fmt.Fprintln(w, "  verdict       OK")
		return
	}
	fmt.Fprintln(w, "  verdict       FAILED")
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "    - %s\n", p)
	}
	if rep.MoreProblems > 0 {
		fmt.Fprintf(w, "    … and %d more\n", rep.MoreProblems)
	}
}

// printFreezes writes the SIGSTOPs and what wallets saw during them.
func (rep *Report) printFreezes(w io.Writer) {
	if len(rep.Freezes) == 0 {
		return
	}
	var n int
	var freezes []string
	for _, name := range slices.Sorted(maps.Keys(rep.Freezes)) {
		n += rep.Freezes[name]
		freezes = append(freezes, fmt.Sprintf("%s %d", name, rep.Freezes[name]))
	}
	fmt.Fprintf(w, "  SIGSTOPs      %d (%s), each continued\n", n, strings.Join(freezes, ", "))
	for _, name := range slices.Sorted(maps.Keys(rep.FrozenWaits)) {
		fw := rep.FrozenWaits[name]
		var answers []string
		for _, code := range slices.Sorted(maps.Keys(fw.Answers)) {
			answers = append(answers, fmt.Sprintf("%s %d", code, fw.Answers[code]))
		}
		fmt.Fprintf(w, "    %-10s  %d payments sent while it was stopped, answered within %s at most (%s)\n",
			name, fw.Sent, fw.Longest.Round(time.Millisecond), strings.Join(answers, ", "))
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
