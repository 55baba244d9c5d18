package bankadmin_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/sandbox"
)

// startBank serves one bank, with its central ledger, on a free port and
// returns a client for its admin API and its base address.
func startBank(t *testing.T) (*bankadmin.Client, *sandbox.Bank) {
	t.Helper()
	cfg := sandbox.Defaults()
	cfg.Dir, cfg.Banks, cfg.Listen = t.TempDir(), 1, "127.0.0.1:0"
	s, err := sandbox.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	b := s.Banks[0]
	return bankadmin.New(baseURL(b), b.Token, nil), b
}

func baseURL(b *sandbox.Bank) string { return "http://" + b.Addr }

func newKey(t *testing.T) ed25519.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// wantCode fails unless err is the bank's refusal with code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var pe *protocol.Error
	switch {
	case err == nil:
		t.Errorf("%s: no error, want %s", what, code)
	case !errors.As(err, &pe):
		t.Errorf("%s: %v (%T), want the bank's refusal %s", what, err, err, code)
	case pe.Code != code:
		t.Errorf("%s: %v, want %s", what, err, code)
	}
}

// The day at the counter of docs/admin-api.md, through the client: every
// route answers what the page says, and the books never move.
func TestClient_AdminDay(t *testing.T) {
	ctx := context.Background()
	admin, _ := startBank(t)

	st, err := admin.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bank != "bank-1" || st.Float != sandbox.DefaultFloat || st.Customers != 0 || st.Books != st.Reserves+st.Float-st.Deposits+st.OfflineLosses {
		t.Fatalf("status of a new bank: %+v", st)
	}
	books := st.Books

	tiers, err := admin.Tiers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tr := range tiers {
		names = append(names, tr.Name)
		if tr.HoldingLimit <= 0 || tr.PaymentLimit <= 0 {
			t.Errorf("tier %+v has no limits", tr)
		}
	}
	if strings.Join(names, ",") != "basic,standard,merchant" {
		t.Fatalf("tiers: %+v", tiers)
	}

	phone := newKey(t)
	c, err := admin.Onboard(ctx, bankadmin.CustomerSpec{Name: "Hanako Yamada", PersonID: "MN-1234-5678-9012", Deposit: 200_000,
		PublicKeys: []ed25519.PublicKey{phone}})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "c-1" || c.Name != "Hanako Yamada" || c.Tier != tiers[0] || c.Deposit != 200_000 || len(c.Wallets) != 1 {
		t.Fatalf("onboarded: %+v", c)
	}
	w := c.Wallets[0]
	if !bytes.Equal(w.PublicKey, phone) || w.Address != protocol.WalletAddress(phone, "bank-1") || !w.Waterfall || w.AutoCharge {
		t.Errorf("her wallet: %+v", w)
	}
	got, err := admin.Customer(ctx, "c-1")
	if err != nil || fmt.Sprint(got) != fmt.Sprint(c) {
		t.Errorf("looked up: %+v %v, want %+v", got, err, c)
	}

	tablet := newKey(t)
	wi, err := admin.AddWallet(ctx, "c-1", tablet)
	if err != nil || !bytes.Equal(wi.PublicKey, tablet) || wi.Address != protocol.WalletAddress(tablet, "bank-1") || !wi.Waterfall {
		t.Fatalf("another wallet: %+v %v", wi, err)
	}
	c, err = admin.SetTier(ctx, "c-1", "standard")
	if err != nil || c.Tier != tiers[1] || len(c.Wallets) != 2 {
		t.Fatalf("tier change: %+v %v", c, err)
	}
	if again, err := admin.SetTier(ctx, "c-1", "standard"); err != nil || fmt.Sprint(again) != fmt.Sprint(c) {
		t.Errorf("the same tier again: %+v %v", again, err)
	}

	credit, err := admin.CreditDeposit(ctx, "payroll-2026-04-25", "c-1", 250_000)
	if err != nil {
		t.Fatal(err)
	}
	if credit.RequestID != "payroll-2026-04-25" || credit.Customer != "c-1" || credit.Amount != 250_000 || credit.Deposit != 450_000 || credit.Time.IsZero() {
		t.Errorf("credit: %+v", credit)
	}

	issued, err := admin.IssueFloat(ctx, "", 5_000_000)
	if err != nil || issued.Float != sandbox.DefaultFloat+5_000_000 {
		t.Fatalf("issue: %+v %v", issued, err)
	}
	redeemed, err := admin.RedeemFloat(ctx, "", 1_000_000)
	if err != nil || redeemed.Float != issued.Float-1_000_000 || redeemed.Reserves != issued.Reserves+1_000_000 {
		t.Fatalf("redeem: %+v %v", redeemed, err)
	}

	st, err = admin.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Customers != 1 || st.Wallets != 2 || st.Deposits != 450_000 || st.Float != redeemed.Float {
		t.Errorf("status after the day: %+v", st)
	}
	// Money paid in from outside raises reserves and deposits together.
	if st.Books != books || issued.Books != books || redeemed.Books != books {
		t.Errorf("books %d, %d and %d after the day, were %d", issued.Books, redeemed.Books, st.Books, books)
	}
}

// Customers pages through customers in the order they were opened.
func TestClient_CustomersPages(t *testing.T) {
	ctx := context.Background()
	admin, _ := startBank(t)
	if page, err := admin.Customers(ctx, "", 0); err != nil || page == nil || len(page) != 0 {
		t.Fatalf("no customers yet: %#v %v", page, err)
	}
	for i := range 5 {
		if _, err := admin.Onboard(ctx, bankadmin.CustomerSpec{Name: fmt.Sprint("customer ", i), PersonID: fmt.Sprint("P-", i),
			PublicKeys: []ed25519.PublicKey{newKey(t)}}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	after := ""
	for range 5 {
		page, err := admin.Customers(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page {
			ids = append(ids, c.ID)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ID
	}
	if strings.Join(ids, ",") != "c-1,c-2,c-3,c-4,c-5" {
		t.Errorf("paged through %v", ids)
	}
	if page, err := admin.Customers(ctx, "", 1000); err != nil || len(page) != 5 || page[4].Name != "customer 4" {
		t.Errorf("one page of all: %+v %v", page, err)
	}
	_, err := admin.Customers(ctx, "c-99", 0)
	wantCode(t, "after an unknown id", err, protocol.CodeBadCustomer)
}

// Every refusal the documents list comes back as the bank's error with
// its code, and leaves the bank as it was.
func TestClient_Refusals(t *testing.T) {
	ctx := context.Background()
	admin, _ := startBank(t)
	phone := newKey(t)
	if _, err := admin.Onboard(ctx, bankadmin.CustomerSpec{Name: "Hanako Yamada", PersonID: "MN-1", PublicKeys: []ed25519.PublicKey{phone}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreditDeposit(ctx, "payroll-1", "c-1", 1000); err != nil {
		t.Fatal(err)
	}
	before, err := admin.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	spec := func(person string, keys ...ed25519.PublicKey) bankadmin.CustomerSpec {
		return bankadmin.CustomerSpec{Name: "Taro Sato", PersonID: person, PublicKeys: keys}
	}
	eleven := make([]ed25519.PublicKey, 11)
	for i := range eleven {
		eleven[i] = newKey(t)
	}
	for _, tc := range []struct {
		what string
		code string
		call func() error
	}{
		{"an unknown customer", protocol.CodeBadCustomer, func() error { _, err := admin.Customer(ctx, "c-99"); return err }},
		{"a wallet for an unknown customer", protocol.CodeBadCustomer, func() error { _, err := admin.AddWallet(ctx, "c-99", newKey(t)); return err }},
		{"a tier for an unknown customer", protocol.CodeBadCustomer, func() error { _, err := admin.SetTier(ctx, "c-99", "standard"); return err }},
		{"a credit to an unknown customer", protocol.CodeBadCustomer, func() error { _, err := admin.CreditDeposit(ctx, "cash-1", "c-99", 1000); return err }},
		{"an empty id", protocol.CodeBadCustomer, func() error { _, err := admin.Customer(ctx, ""); return err }},
		{"the id ..", protocol.CodeBadCustomer, func() error { _, err := admin.Customer(ctx, ".."); return err }},
		{"the id .", protocol.CodeBadCustomer, func() error { _, err := admin.SetTier(ctx, ".", "standard"); return err }},
		{"an id with a slash", protocol.CodeBadCustomer, func() error { _, err := admin.Customer(ctx, "c-1/tier"); return err }},
		{"an id with a query", protocol.CodeBadCustomer, func() error { _, err := admin.Customer(ctx, "c-1?limit=1"); return err }},
		{"an id of ../..", protocol.CodeBadCustomer, func() error { _, err := admin.CreditDeposit(ctx, "cash-1", "../../float/issue", 1000); return err }},
		{"an unknown tier", protocol.CodeBadCustomer, func() error { _, err := admin.SetTier(ctx, "c-1", "gold"); return err }},
		{"onboarding in an unknown tier", protocol.CodeBadCustomer, func() error {
			s := spec("MN-2", newKey(t))
			s.Tier = "gold"
			_, err := admin.Onboard(ctx, s)
			return err
		}},
		{"the same person twice", protocol.CodeBadCustomer, func() error { _, err := admin.Onboard(ctx, spec("mn-1", newKey(t))); return err }},
		{"no name", protocol.CodeBadCustomer, func() error {
			s := spec("MN-2", newKey(t))
			s.Name = ""
			_, err := admin.Onboard(ctx, s)
			return err
		}},
		{"no keys", protocol.CodeBadCustomer, func() error { _, err := admin.Onboard(ctx, spec("MN-2")); return err }},
		{"eleven keys", protocol.CodeBadCustomer, func() error { _, err := admin.Onboard(ctx, spec("MN-2", eleven...)); return err }},
		{"a negative deposit", protocol.CodeInvalidAmount, func() error {
			s := spec("MN-2", newKey(t))
			s.Deposit = -5000
			_, err := admin.Onboard(ctx, s)
			return err
		}},
		{"a short key", protocol.CodeBadPublicKey, func() error { _, err := admin.Onboard(ctx, spec("MN-2", ed25519.PublicKey{0, 1, 2})); return err }},
		{"a short key added", protocol.CodeBadPublicKey, func() error { _, err := admin.AddWallet(ctx, "c-1", ed25519.PublicKey{0, 1, 2}); return err }},
		{"a key taken", protocol.CodeWalletExists, func() error { _, err := admin.Onboard(ctx, spec("MN-2", phone)); return err }},
		{"a key added twice", protocol.CodeWalletExists, func() error { _, err := admin.AddWallet(ctx, "c-1", phone); return err }},
		{"a key given twice", protocol.CodeWalletExists, func() error { k := newKey(t); _, err := admin.Onboard(ctx, spec("MN-2", k, k)); return err }},
		{"a credit of nothing", protocol.CodeInvalidAmount, func() error { _, err := admin.CreditDeposit(ctx, "cash-1", "c-1", 0); return err }},
		{"a negative credit", protocol.CodeInvalidAmount, func() error { _, err := admin.CreditDeposit(ctx, "cash-1", "c-1", -1); return err }},
		{"a credit without an id", protocol.CodeBadRequestID, func() error { _, err := admin.CreditDeposit(ctx, "", "c-1", 1000); return err }},
		{"a credit with a bad id", protocol.CodeBadRequestID, func() error { _, err := admin.CreditDeposit(ctx, "pay roll", "c-1", 1000); return err }},
		{"a credit id reused", protocol.CodeRequestIDReused, func() error { _, err := admin.CreditDeposit(ctx, "payroll-1", "c-1", 2000); return err }},
		{"issuing nothing", protocol.CodeInvalidAmount, func() error { _, err := admin.IssueFloat(ctx, "", 0); return err }},
		{"issuing less than nothing", protocol.CodeInvalidAmount, func() error { _, err := admin.IssueFloat(ctx, "", -1); return err }},
		{"redeeming less than nothing", protocol.CodeInvalidAmount, func() error { _, err := admin.RedeemFloat(ctx, "r-1", -1); return err }},
		{"redeeming more than the float", protocol.CodeInsufficientFunds, func() error { _, err := admin.RedeemFloat(ctx, "", 1_000_000_000_000); return err }},
		{"a float move with a bad id", protocol.CodeBadRequestID, func() error { _, err := admin.IssueFloat(ctx, "a/b", 1000); return err }},
		{"a float move with a long id", protocol.CodeBadRequestID, func() error { _, err := admin.RedeemFloat(ctx, strings.Repeat("x", 33), 1000); return err }},
	} {
		wantCode(t, tc.what, tc.call(), tc.code)
	}

	// The admin API has no way to say a customer is unverified, so the
	// client does not send one as verified.
	_, err = admin.Onboard(ctx, bankadmin.CustomerSpec{Name: "Taro Sato", PersonID: "MN-2", Unverified: true, PublicKeys: []ed25519.PublicKey{newKey(t)}})
	if err == nil {
		t.Error("an unverified customer was onboarded through the admin API")
	}

	after, err := admin.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Customers != before.Customers || after.Wallets != before.Wallets || after.Float != before.Float ||
		after.Deposits != before.Deposits || after.Books != before.Books {
		t.Errorf("refusals moved the bank: %+v, was %+v", after, before)
	}
}

// A wrong token, none, or the right one from its file with its newline.
func TestClient_Token(t *testing.T) {
	ctx := context.Background()
	_, b := startBank(t)
	for _, token := range []string{"", "wrong", b.Token + "x", strings.ToUpper(b.Token)} {
		admin := bankadmin.New(baseURL(b), token, nil)
		for name, call := range everyRoute(admin) {
			wantCode(t, fmt.Sprintf("%s with token %q", name, token), call(ctx), "unauthenticated")
		}
	}
	admin := bankadmin.New(baseURL(b)+"/", " "+b.Token+"\n", nil)
	if _, err := admin.Status(ctx); err != nil {
		t.Errorf("the token as read from admin.token, and the address with a slash: %v", err)
	}
}

// everyRoute calls each of the client's methods once, with arguments the
// bank would take.
func everyRoute(admin *bankadmin.Client) map[string]func(context.Context) error {
	key, _, _ := ed25519.GenerateKey(nil)
	return map[string]func(context.Context) error{
		"Status":    func(ctx context.Context) error { _, err := admin.Status(ctx); return err },
		"Tiers":     func(ctx context.Context) error { _, err := admin.Tiers(ctx); return err },
		"Customers": func(ctx context.Context) error { _, err := admin.Customers(ctx, "", 0); return err },
		"Onboard": func(ctx context.Context) error {
			_, err := admin.Onboard(ctx, bankadmin.CustomerSpec{Name: "A", PersonID: "A", PublicKeys: []ed25519.PublicKey{key}})
			return err
		},
		"Customer":      func(ctx context.Context) error { _, err := admin.Customer(ctx, "c-1"); return err },
		"AddWallet":     func(ctx context.Context) error { _, err := admin.AddWallet(ctx, "c-1", key); return err },
		"SetTier":       func(ctx context.Context) error { _, err := admin.SetTier(ctx, "c-1", "standard"); return err },
		"CreditDeposit": func(ctx context.Context) error { _, err := admin.CreditDeposit(ctx, "cash-1", "c-1", 1000); return err },
		"IssueFloat":    func(ctx context.Context) error { _, err := admin.IssueFloat(ctx, "", 1000); return err },
		"RedeemFloat":   func(ctx context.Context) error { _, err := admin.RedeemFloat(ctx, "r-1", 1000); return err },
	}
}

// A float move under the operator's request id happens once however often
// it is asked for; the same id for another move is refused, unless the
// move it named was refused and so used nothing.
func TestClient_FloatRequestIDMovesOnce(t *testing.T) {
	ctx := context.Background()
	admin, _ := startBank(t)
	start, err := admin.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first, err := admin.RedeemFloat(ctx, "redeem-2026-04-25", 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	again, err := admin.RedeemFloat(ctx, "redeem-2026-04-25", 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if first.Float != start.Float-1_000_000 || again.Float != first.Float || again.Reserves != first.Reserves {
		t.Errorf("redeemed 1000000 twice under one id: float %d, then %d, then %d", start.Float, first.Float, again.Float)
	}
	_, err = admin.RedeemFloat(ctx, "redeem-2026-04-25", 2_000_000)
	wantCode(t, "the id for another amount", err, protocol.CodeRequestIDReused)
	_, err = admin.IssueFloat(ctx, "redeem-2026-04-25", 1_000_000)
	wantCode(t, "the id for another kind", err, protocol.CodeRequestIDReused)

	issued, err := admin.IssueFloat(ctx, "issue-1", 3_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := admin.IssueFloat(ctx, "issue-1", 3_000_000); err != nil || again.Float != issued.Float || issued.Float != first.Float+3_000_000 {
		t.Errorf("issued 3000000 twice under one id: float %d, then %d, then %+v %v", first.Float, issued.Float, again, err)
	}

	// Without an id each call moves the float.
	one, err := admin.RedeemFloat(ctx, "", 10_000)
	if err != nil {
		t.Fatal(err)
	}
	two, err := admin.RedeemFloat(ctx, "", 10_000)
	if err != nil || two.Float != one.Float-10_000 {
		t.Errorf("two redemptions without an id: %d then %d (%v)", one.Float, two.Float, err)
	}

	_, err = admin.RedeemFloat(ctx, "too-much", 1_000_000_000_000)
	wantCode(t, "redeeming more than the float", err, protocol.CodeInsufficientFunds)
	if st, err := admin.RedeemFloat(ctx, "too-much", 5_000); err != nil || st.Float != two.Float-5_000 {
		t.Errorf("the id of a refused move for another amount: %+v %v", st, err)
	}
	st, err := admin.Status(ctx)
	if err != nil || st.Books != start.Books {
		t.Errorf("float moves moved the books: %+v %v, were %d", st, err, start.Books)
	}
}

// A deposit credit under one request id is paid once, and answered again
// as first booked.
func TestClient_CreditDepositOnce(t *testing.T) {
	ctx := context.Background()
	admin, _ := startBank(t)
	for _, p := range []string{"A", "B"} {
		if _, err := admin.Onboard(ctx, bankadmin.CustomerSpec{Name: p, PersonID: p, Deposit: 100, PublicKeys: []ed25519.PublicKey{newKey(t)}}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := admin.CreditDeposit(ctx, "payroll-2026-04-25", "c-1", 250_000)
	if err != nil {
		t.Fatal(err)
	}
	again, err := admin.CreditDeposit(ctx, "payroll-2026-04-25", "c-1", 250_000)
	if err != nil || !again.Time.Equal(first.Time) || again != first {
		t.Errorf("the credit again: %+v %v, first %+v", again, err, first)
	}
	_, err = admin.CreditDeposit(ctx, "payroll-2026-04-25", "c-2", 250_000)
	wantCode(t, "the id for another customer", err, protocol.CodeRequestIDReused)
	if c, err := admin.Customer(ctx, "c-1"); err != nil || c.Deposit != 250_100 {
		t.Errorf("after one credit sent twice: %+v %v", c, err)
	}
}

// One client serves many goroutines, as the simulator onboards 32 parties
// at a time.
func TestClient_Concurrent(t *testing.T) {
	ctx := context.Background()
	admin, _ := startBank(t)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		key := newKey(t)
		wg.Go(func() {
			if _, err := admin.Onboard(ctx, bankadmin.CustomerSpec{Name: "P", PersonID: fmt.Sprint("P-", i), PublicKeys: []ed25519.PublicKey{key}}); err != nil {
				errs <- err
			}
			if _, err := admin.Status(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if page, err := admin.Customers(ctx, "", 0); err != nil || len(page) != n {
		t.Errorf("%d customers listed after %d onboarded (%v)", len(page), n, err)
	}
}

// A client pointed at the bank's address with a wrong path meets the
// bank's plain-text 404, and says so.
func TestClient_WrongPath(t *testing.T) {
	_, b := startBank(t)
	admin := bankadmin.New(baseURL(b)+"/admin", b.Token, nil)
	_, err := admin.Status(context.Background())
	var pe *protocol.Error
	if err == nil || errors.As(err, &pe) || !strings.Contains(err.Error(), "GET "+baseURL(b)+"/admin/admin/status") || !strings.Contains(err.Error(), "404") {
		t.Errorf("a wrong address: %v", err)
	}
}
