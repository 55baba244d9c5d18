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
	Scenario string `json:"scenario"`
	Seed     int64  `json:"seed"`
	Banks    int    `json:"banks"`
	Parties  int    `json:"parties"`
	TLS      bool   `json:"tls"`
	// Replicas is how many replica processes the ledger ran as; 0 for
	// the lone ledger.
	Replicas int           `json:"replicas,omitempty"`
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
	// process was stopped, by process; for a replicated ledger's replicas,
	// by the role they had ("leader", "follower").
	FrozenWaits map[string]*FrozenWait `json:"frozen_waits,omitempty"`
	// Faults are the SIGKILLs and SIGSTOPs in the order they were made.
	Faults []Fault `json:"faults,omitempty"`
	// With a replicated ledger: its replicas' kills and freezes by the
	// role the replica had when it was hit, and over the leaders' kills
	// the failover as a wallet sees it, from the kill to the first
	// payment made after it (Fault.Failover): how many were measured,
	// the median and the longest.
	LeaderKills     int           `json:"leader_kills,omitempty"`
	FollowerKills   int           `json:"follower_kills,omitempty"`
	LeaderFreezes   int           `json:"leader_freezes,omitempty"`
	FollowerFreezes int           `json:"follower_freezes,omitempty"`
	Failovers       int           `json:"failovers,omitempty"`
	FailoverP50     time.Duration `json:"failover_p50_ns,omitempty"`
	FailoverMax     time.Duration `json:"failover_max_ns,omitempty"`

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
	// ReplicaHead is where every replica's journal ends, as the audit
	// found it: "record N, hash H".
	ReplicaHead string `json:"replica_head,omitempty"`

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
	if r.cfg.replicated() {
		rep.Replicas = r.cfg.Replicas
	}
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
	for _, name := range []string{"ledger", roleLeader, roleFollower} {
		if w := r.waits[name]; w != nil && w.Longest > r.cfg.FrozenLedgerBound {
			what := "the ledger"
			if name != "ledger" {
				what = "the ledger's " + name
			}
			rep.problem("a wallet waited %s for an answer while %s was frozen; the banks must answer within %s", w.Longest.Round(time.Millisecond), what, r.cfg.FrozenLedgerBound)
		}
	}
	rep.Faults = slices.Clone(r.faultLog)
	var failovers []time.Duration
	for _, f := range rep.Faults {
		switch {
		case f.Kind == faultKill.String() && f.Role == roleLeader:
			rep.LeaderKills++
			if f.Failover == 0 {
				rep.problem("no payment was made after the %s at %s of the leader %s", f.Kind, f.At.Round(time.Second), f.Process)
			} else {
				failovers = append(failovers, f.Failover)
			}
		case f.Kind == faultKill.String() && f.Role == roleFollower:
			rep.FollowerKills++
		case f.Role == roleLeader:
			rep.LeaderFreezes++
		case f.Role == roleFollower:
			rep.FollowerFreezes++
		}
	}
	rep.Failovers, rep.FailoverP50, rep.FailoverMax = percentiles(failovers)
	if len(r.unsettled) > 0 {
		rep.problem("%d payments were still in doubt %s after the load ended, such as %s", len(r.unsettled), r.cfg.Settle, r.unsettled[0])
	}
	return rep
}

// percentiles are the count, the median (the nearest rank: the lower of
// two middle values) and the longest of ds.
func percentiles(ds []time.Duration) (n int, p50, longest time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return len(ds), ds[(len(ds)-1)/2], ds[len(ds)-1]
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
	ledger := "the ledger"
	if rep.Replicas > 0 {
		ledger = fmt.Sprintf("the ledger as %d replicas", rep.Replicas)
	}
	fmt.Fprintf(w, "soak: scenario %s (seed %d): %s and %d banks as separate processes, %d wallets%s\n", rep.Scenario, rep.Seed, ledger, rep.Banks, rep.Parties, over)
	fmt.Fprintf(w, "  load          %s (whole run %s)\n", rep.Load.Round(time.Second), rep.Took.Round(time.Second))
	var kills []string
	for _, name := range slices.Sorted(maps.Keys(rep.Kills)) {
		kills = append(kills, fmt.Sprintf("%s %d", name, rep.Kills[name]))
	}
	fmt.Fprintf(w, "  SIGKILLs      %d (%s), restarts %d (%d tried again)\n", rep.KillCount(), orNone(strings.Join(kills, ", ")), rep.Restarts, rep.StartRetries)
	if rep.LeaderKills+rep.FollowerKills > 0 {
		fmt.Fprintf(w, "    replicas    %d of the leader, %d of a follower\n", rep.LeaderKills, rep.FollowerKills)
	}
	rep.printFreezes(w)
	if rep.Replicas > 0 {
		rep.printFailover(w)
	}
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
	if rep.Replicas > 0 && rep.ReplicaHead != "" {
		fmt.Fprintf(w, "  audit         %s: each of the %d replicas sound, all at the same head (%s)\n", rep.Audit, rep.Replicas, rep.ReplicaHead)
	} else {
		fmt.Fprintf(w, "  audit         %s\n", rep.Audit)
	}
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
	if rep.LeaderFreezes+rep.FollowerFreezes > 0 {
		fmt.Fprintf(w, "    replicas    %d of the leader, %d of a follower\n", rep.LeaderFreezes, rep.FollowerFreezes)
	}
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

// printFailover writes the leaders' failovers and every fault in turn.
func (rep *Report) printFailover(w io.Writer) {
	if rep.Failovers > 0 {
		fmt.Fprintf(w, "  failover      p50 %s, max %s from a leader's SIGKILL to the next payment made (%d of %d kills)\n",
			rep.FailoverP50.Round(time.Millisecond), rep.FailoverMax.Round(time.Millisecond), rep.Failovers, rep.LeaderKills)
	} else {
		fmt.Fprintf(w, "  failover      none measured (%d leader kills)\n", rep.LeaderKills)
	}
	if len(rep.Faults) == 0 {
		return
	}
	fmt.Fprintln(w, "  faults")
	for _, f := range rep.Faults {
		who := f.Process
		if f.Role != "" {
			who += " (" + f.Role + ")"
		}
		line := fmt.Sprintf("    %8s  %s %s", f.At.Round(time.Second), f.Kind, who)
		if f.Failover > 0 {
			line += fmt.Sprintf(", next payment made %s later", f.Failover.Round(time.Millisecond))
		}
		fmt.Fprintln(w, line)
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
