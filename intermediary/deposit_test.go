package intermediary_test

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"sync"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// onboardWith opens a customer with an opening deposit and connects its wallet.
func (n *testNet) onboardWith(bank, name, personID string, deposit int64) (bankadmin.CustomerInfo, *wallet.Client) {
	n.t.Helper()
	key := newKey(n.t)
	c, err := n.banks[bank].Onboard(n.ctx, bankadmin.CustomerSpec{Name: name, PersonID: personID,
		Deposit: deposit, PublicKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}})
	if err != nil {
		n.t.Fatalf("onboard %s: %v", name, err)
	}
	w, err := wallet.Dial(n.ctx, n.banks[bank].url, key, wallet.DialOptions{})
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { w.Close() })
	return c, w
}

func status(t *testing.T, b *testBank) bankadmin.Status {
	t.Helper()
	st, err := b.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A credit is money from outside: reserves and deposits rise together, the
// customer can draw it as CBDC, and the bank's books do not move (the
// harness checks them, and the ledger's conservation, at cleanup).
func TestBank_CreditDepositIsSpendableAndKeepsTheBooks(t *testing.T) {
	n := newTestNet(t, 1, nil)
	b := n.banks["bank-1"]
	hanako, w := n.onboardWith("bank-1", "Hanako Yamada", "MN-HANAKO", 0)
	before := status(t, b)
	c, err := b.CreditDeposit("salary-2026-04", hanako.ID, 250_000)
	if err != nil {
		t.Fatal(err)
	}
	if c.Deposit != 250_000 || c.Amount != 250_000 || c.Customer != hanako.ID || c.Time.IsZero() {
		t.Errorf("credit = %+v", c)
	}
	after := status(t, b)
	if after.Deposits-before.Deposits != 250_000 || after.Reserves-before.Reserves != 250_000 || after.Books != before.Books {
		t.Errorf("status moved from %+v to %+v; want deposits and reserves up 250000 each, books unchanged", before, after)
	}
	wd, err := w.Withdraw(n.ctx, "", 100_000)
	if err != nil {
		t.Fatalf("withdrawing the credited money: %v", err)
	}
	if wd.Deposit != 150_000 {
		t.Errorf("deposit after withdrawing 100000 = %d, want 150000", wd.Deposit)
	}
}

func TestBank_CreditDepositIdempotent(t *testing.T) {
	n := newTestNet(t, 1, nil)
	b := n.banks["bank-1"]
	hanako, _ := n.onboardWith("bank-1", "Hanako Yamada", "MN-HANAKO", 10_000)
	taro, _ := n.onboardWith("bank-1", "Taro Sato", "MN-TARO", 10_000)
	first, err := b.CreditDeposit("cash-0001", hanako.ID, 5_000)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			again, err := b.CreditDeposit("cash-0001", hanako.ID, 5_000)
			if err != nil || again != first {
				t.Errorf("retry = %+v, %v; want the first credit %+v", again, err, first)
			}
		})
	}
	wg.Wait()
	if got, _ := b.Customer(hanako.ID); got.Deposit != 15_000 {
		t.Errorf("deposit after a credit retried 8 times = %d, want 15000", got.Deposit)
	}
	_, err = b.CreditDeposit("cash-0001", hanako.ID, 6_000)
	mustCode(t, err, protocol.CodeRequestIDReused)
	_, err = b.CreditDeposit("cash-0001", taro.ID, 5_000)
	mustCode(t, err, protocol.CodeRequestIDReused)

	// The id is remembered across a restart of the bank.
	b.srv.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = n.reopenBank("bank-1", b)
	if again, err := b.CreditDeposit("cash-0001", hanako.ID, 5_000); err != nil || again != first {
		t.Errorf("retry after a restart = %+v, %v; want %+v", again, err, first)
	}
	if got, _ := b.Customer(hanako.ID); got.Deposit != 15_000 {
		t.Errorf("deposit after a restart = %d, want 15000", got.Deposit)
	}
}

// Every refusal leaves the deposit, the reserves and the id untouched: the
// same id may then be used for a credit that is right.
func TestBank_CreditDepositRefusals(t *testing.T) {
	n := newTestNet(t, 1, nil)
	b := n.banks["bank-1"]
	hanako, _ := n.onboardWith("bank-1", "Hanako Yamada", "MN-HANAKO", 1<<62)
	before := status(t, b)
	for _, tc := range []struct {
		name, id, customer string
		amount             int64
		code               string
	}{
		{"no such customer", "c1", "c-99", 1_000, protocol.CodeBadCustomer},
		{"zero", "c1", hanako.ID, 0, protocol.CodeInvalidAmount},
		{"negative", "c1", hanako.ID, -1_000, protocol.CodeInvalidAmount},
		{"overflow", "c1", hanako.ID, 1 << 62, protocol.CodeAmountOverflow},
		{"empty id", "", hanako.ID, 1_000, protocol.CodeBadRequestID},
		{"id too long", "0123456789012345678901234567890123", hanako.ID, 1_000, protocol.CodeBadRequestID},
		{"id with a space", "cash 1", hanako.ID, 1_000, protocol.CodeBadRequestID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.CreditDeposit(tc.id, tc.customer, tc.amount)
			mustCode(t, err, tc.code)
		})
	}
	if after := status(t, b); after != before {
		t.Errorf("refused credits moved the bank from %+v to %+v", before, after)
	}
	if _, err := b.CreditDeposit("c1", hanako.ID, 1_000); err != nil {
		t.Errorf("the id of refused credits: %v", err)
	}
}

func TestAdmin_CreditDepositOverHTTP(t *testing.T) {
	n := newTestNet(t, 1, nil)
	b := n.banks["bank-1"]
	hanako, _ := n.onboardWith("bank-1", "Hanako Yamada", "MN-HANAKO", 0)
	url := b.http + "/admin/customers/" + hanako.ID + "/deposit"
	var c bankadmin.DepositCredit
	if code := adminCall(t, "POST", url, `{"request_id":"payroll-0425","amount":250000}`, &c); code != http.StatusOK || c.Deposit != 250_000 {
		t.Fatalf("credit: %d %+v", code, c)
	}
	for _, tc := range []struct {
		url, body, code, message string
		status                   int
	}{
		{url, `{"request_id":"payroll-0425","amount":"250000"}`, protocol.CodeBadMessage, "amount must be a whole number of yen, not a string", 400},
		{url, `{"request_id":"payroll-0425","amount":250000,"memo":"April"}`, protocol.CodeBadMessage, `the body has a field "memo" that this request does not take (it takes request_id, amount)`, 400},
		{url, `{"request_id":"payroll-0425","amount":1}`, protocol.CodeRequestIDReused, "", 400},
		{b.http + "/admin/customers/c-99/deposit", `{"request_id":"x","amount":1}`, protocol.CodeBadCustomer, `no customer "c-99"`, 400},
	} {
		var e struct{ Error protocol.Error }
		if status := adminCall(t, "POST", tc.url, tc.body, &e); status != tc.status || e.Error.Code != tc.code || tc.message != "" && e.Error.Message != tc.message {
			t.Errorf("%s: %d %+v; want %d %s %q", tc.body, status, e.Error, tc.status, tc.code, tc.message)
		}
	}
}
