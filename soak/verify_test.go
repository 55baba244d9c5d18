package soak

import (
	"strings"
	"testing"
)

// The check must catch each way books can disagree with the answers
// wallets were given; a clean set of books passes.
func TestCheck_FindsEachDiscrepancy(t *testing.T) {
	newRun := func() (*run, []statement) {
		r := &run{parties: []*party{{n: 0, address: "w0@bank-1", start: 10_000}, {n: 1, address: "w1@bank-2", start: 5_000}},
			paid: []acked{{id: "soak-0", from: 0, to: 1, amount: 700, seq: 10}, {id: "soak-1", from: 1, to: 0, amount: 200, seq: 12}}}
		st := []statement{
			{payments: map[uint64][]ledgerEntry{10: {{-700, "w1@bank-2"}}, 12: {{200, "w1@bank-2"}}}, holdings: 9_500},
			{payments: map[uint64][]ledgerEntry{10: {{700, "w0@bank-1"}}, 12: {{-200, "w0@bank-1"}}}, holdings: 5_500},
		}
		return r, st
	}
	for _, tc := range []struct {
		name  string
		spoil func(r *run, st []statement)
		want  func(rep *Report) bool
		says  string
	}{
		{"clean books", func(*run, []statement) {}, func(rep *Report) bool { return rep.OK() && rep.Checked == 2 && rep.HoldingsChecked == 2 }, ""},
		{"a payment missing at the payee", func(r *run, st []statement) { delete(st[1].payments, 10); st[1].holdings -= 700 },
			func(rep *Report) bool { return rep.Lost == 1 && rep.Checked == 1 }, "missing from the payee's history"},
		{"a payment booked twice", func(r *run, st []statement) {
			st[0].payments[10] = append(st[0].payments[10], ledgerEntry{-700, "w1@bank-2"})
		}, func(rep *Report) bool { return rep.Doubled == 1 }, "in the payer's history 2 times"},
		{"two answers naming one record", func(r *run, st []statement) { r.paid[1].seq = 10 },
			func(rep *Report) bool { return rep.Doubled == 1 }, "both answered with journal record 10"},
		{"a payment nobody was told of", func(r *run, st []statement) {
			st[0].payments[20] = []ledgerEntry{{-50, "w1@bank-2"}}
		}, func(rep *Report) bool { return rep.Unexpected == 1 }, "a payment nobody was answered for: record 20"},
		{"holdings off by a yen", func(r *run, st []statement) { st[1].holdings++ },
			func(rep *Report) bool { return rep.HoldingsWrong == 1 }, "party 1 holds 5501 yen"},
		{"the wrong amount booked", func(r *run, st []statement) { st[1].payments[10][0].amount = 70 },
			func(rep *Report) bool { return rep.Lost == 1 && rep.Unexpected == 1 }, "record 10, 70 yen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, st := newRun()
			tc.spoil(r, st)
			rep := &Report{}
			r.check(st, rep)
			if !tc.want(rep) {
				t.Errorf("report %+v", rep)
			}
			if tc.says == "" {
				return
			}
			if rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), tc.says) {
				t.Errorf("problems %q, want one saying %q", rep.Problems, tc.says)
			}
		})
	}
}

func TestCheck_ProblemsAreCapped(t *testing.T) {
	rep := &Report{}
	for i := range maxProblems + 5 {
		rep.problem("problem %d", i)
	}
	if len(rep.Problems) != maxProblems || rep.MoreProblems != 5 || rep.OK() {
		t.Errorf("%d problems kept, %d more counted", len(rep.Problems), rep.MoreProblems)
	}
}
