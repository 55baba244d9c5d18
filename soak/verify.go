package soak

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// ledgerEntry is one payment line of a wallet's history.
type ledgerEntry struct {
	amount       int64
	counterparty string
}

// statement is what a party's bank says it holds and what moved.
type statement struct {
	payments map[uint64][]ledgerEntry // by journal seq
	holdings int64                    // wallet plus deposit
}

// verify reads every party's history and holdings from its bank and holds
// them to the answers the run was given: each payment answered as made is
// in the payer's and the payee's history exactly once, no payment is there
// that nobody was told of, and each party holds what it started with plus
// what it was paid less what it paid.
func (r *run) verify(ctx context.Context, rep *Report) error {
	statements := make([]statement, len(r.parties))
	sem := make(chan struct{}, 16)
	errs := make(chan error, len(r.parties))
	var wg sync.WaitGroup
	for n, p := range r.parties {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			vctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			st, err := r.statement(vctx, p)
			if err != nil {
				errs <- fmt.Errorf("soak: reading party %d's history at %s: %w", n, r.banks[p.bank].name, err)
				return
			}
			statements[n] = st
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	r.check(statements, rep)
	return nil
}

// check holds the statements to the answers.
func (r *run) check(statements []statement, rep *Report) {
	want := make([]int64, len(r.parties))
	for n, p := range r.parties {
		want[n] = p.start
	}
	bySeq := map[uint64]string{}
	for _, a := range r.paid {
		if other, ok := bySeq[a.seq]; ok {
			rep.Doubled++
			rep.problem("payments %s and %s were both answered with journal record %d", other, a.id, a.seq)
			continue
		}
		bySeq[a.seq] = a.id
		want[a.from] -= a.amount
		want[a.to] += a.amount
		payer := take(statements[a.from].payments, a.seq, ledgerEntry{-a.amount, r.parties[a.to].address})
		payee := take(statements[a.to].payments, a.seq, ledgerEntry{a.amount, r.parties[a.from].address})
		switch {
		case payer == 0 || payee == 0:
			rep.Lost++
			rep.problem("payment %s (record %d, %d yen, party %d to %d) was answered as made and is missing from the %s's history",
				a.id, a.seq, a.amount, a.from, a.to, map[bool]string{true: "payer", false: "payee"}[payer == 0])
		case payer > 1 || payee > 1:
			rep.Doubled++
			rep.problem("payment %s (record %d) is in the payer's history %d times and the payee's %d times", a.id, a.seq, payer, payee)
		default:
			rep.Checked++
		}
	}
	for n, st := range statements {
		for seq, left := range st.payments {
			for _, e := range left {
				rep.Unexpected++
				rep.problem("party %d's history has a payment nobody was answered for: record %d, %d yen, counterparty %s", n, seq, e.amount, e.counterparty)
			}
		}
		rep.HoldingsChecked++
		if st.holdings != want[n] {
			rep.HoldingsWrong++
			rep.problem("party %d holds %d yen (wallet and deposit); it started with %d and its answered payments leave it %d", n, st.holdings, r.parties[n].start, want[n])
		}
	}
}

// take removes the entries of record seq that match e and counts them.
func take(payments map[uint64][]ledgerEntry, seq uint64, e ledgerEntry) int {
	var n int
	kept := payments[seq][:0]
	for _, got := range payments[seq] {
		if got == e {
			n++
		} else {
			kept = append(kept, got)
		}
	}
	if len(kept) == 0 {
		delete(payments, seq)
	} else {
		payments[seq] = kept
	}
	return n
}

// statement pages through a party's whole history.
func (r *run) statement(ctx context.Context, p *party) (statement, error) {
	st := statement{payments: map[uint64][]ledgerEntry{}}
	c, err := r.session(ctx, p)
	if err != nil {
		return st, err
	}
	var cursor uint64
	for {
		page, err := c.History(ctx, cursor, 200)
		if err != nil {
			return st, err
		}
		for _, e := range page.Entries {
			if e.Reason == protocol.ReasonPayment {
				st.payments[e.Seq] = append(st.payments[e.Seq], ledgerEntry{e.Amount, e.Counterparty})
			}
		}
		if page.Next == 0 {
			break
		}
		cursor = page.Next
	}
	b, err := c.Balance(ctx)
	if err != nil {
		return st, err
	}
	st.holdings = b.Balance + b.Deposit
	return st, nil
}

// audit runs `cbdc audit` on the stopped ledger's data.
func (r *run) audit(ctx context.Context, rep *Report) {
	actx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(actx, r.cfg.Binary, "audit", r.cfg.Dir).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil && strings.Contains(string(out), "verdict: OK"):
		rep.Audit = "OK"
	case err == nil || errors.As(err, &exit):
		rep.Audit = "failed"
		rep.problem("cbdc audit %s: %v\n%s", r.cfg.Dir, err, out)
	default:
		rep.Audit = "not run"
		rep.problem("cbdc audit %s: %v", r.cfg.Dir, err)
	}
}
