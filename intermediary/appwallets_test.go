package intermediary_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// The bank lists the wallets that signed in from a browser, for the
// room's panel of phones, and only those: a program's session (no Origin)
// is not a phone. The list follows what each phone did and whether it is
// connected, and only the operator may read it.
func TestGateway_ListsTheWalletsOfBrowsers(t *testing.T) {
	n := newTestNet(t, 1, nil)
	b := n.banks["bank-1"]
	payee := n.register("bank-1", "Program", "MN-prog")
	key := newKey(t)
	if _, err := b.Onboard(n.ctx, bankadmin.CustomerSpec{Name: "Hanako", PersonID: "MN-hanako", Deposit: intermediaryOpening,
		PublicKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}); err != nil {
		t.Fatal(err)
	}
	browser := wallet.DialOptions{Header: http.Header{"Origin": {b.http}}}
	phone, err := wallet.Dial(n.ctx, b.url, key, browser)
	if err != nil {
		t.Fatal(err)
	}
	second, err := wallet.Dial(n.ctx, b.url, key, browser) // the same phone in a second tab
	if err != nil {
		t.Fatal(err)
	}
	if _, err := phone.Withdraw(n.ctx, "", 5_000); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second, a retry under the same id, is answered as the first
		if _, err := phone.Pay(n.ctx, "pay-1", payee.Address(), 1_500); err != nil {
			t.Fatal(err)
		}
	}
	_, err = phone.Pay(n.ctx, "", "w-00000000000000000000@bank-1", 100)
	mustCode(t, err, protocol.CodeUnknownPayee)

	var list bankadmin.AppWalletList
	if code := adminCall(t, "GET", b.http+"/admin/app-wallets", "", &list); code != http.StatusOK {
		t.Fatalf("GET /admin/app-wallets: %d", code)
	}
	if len(list.Wallets) != 1 {
		t.Fatalf("listed %+v, want Hanako's phone alone", list.Wallets)
	}
	w := list.Wallets[0]
	if w.Address != phone.Address() || w.Name != "Hanako" || !w.Online || w.Paid != 1 || w.Refused != 1 ||
		w.Last != protocol.TypePay || w.LastCode != protocol.CodeUnknownPayee {
		t.Errorf("listed %+v, want Hanako online, 1 paid, 1 refused, last a pay refused unknown_payee", w)
	}

	open := b.gw.Connections()
	phone.Close()
	for deadline := time.Now().Add(10 * time.Second); b.gw.Connections() == open && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if b.gw.Connections() != open-1 {
		t.Fatalf("the bank holds %d connections after one of %d closed", b.gw.Connections(), open)
	}
	if got := b.gw.AppWallets()[0]; !got.Online {
		t.Errorf("with a second tab still open: %+v, want online", got)
	}
	second.Close()
	deadline := time.Now().Add(10 * time.Second)
	for b.gw.AppWallets()[0].Online && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := b.gw.AppWallets()[0]; got.Online || got.Seen.Before(w.Seen) {
		t.Errorf("after both sessions closed: %+v, want offline, seen at the close", got)
	}

	req, _ := http.NewRequest("GET", b.http+"/admin/app-wallets", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the admin token: %d, want 401", resp.StatusCode)
	}
}

// A phone switched to airplane mode answers no pings: the bank ends a
// browser's session within about 12 s (pinged every 4 s), where it
// waits a minute for a program's, and the phone shows offline.
func TestGateway_BrowserSessionThatGoesQuietEnds(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the browser's keep-alive, 12 s")
	}
	n := newTestNet(t, 1, nil)
	b := n.banks["bank-1"]
	key := newKey(t)
	if _, err := b.Onboard(n.ctx, bankadmin.CustomerSpec{Name: "Quiet", PersonID: "MN-quiet", Deposit: intermediaryOpening,
		PublicKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}); err != nil {
		t.Fatal(err)
	}
	quiet := dialRaw(t, b.url, http.Header{"Origin": {b.http}})
	quiet.hello(key)
	program := dialRaw(t, b.url, nil) // a program's session: pinged far less often
	program.hello(newKeyFor(t, b, "Program", "MN-program"))
	start := time.Now()
	// Neither reads from now on, so neither answers a ping.
	for b.gw.AppWallets()[0].Online {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("the quiet browser's session still open after %s", time.Since(start).Round(time.Second))
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(start)
	if took < 8*time.Second {
		t.Errorf("the quiet session ended after %s: before its keep-alive could have given up", took.Round(time.Millisecond))
	}
	if got := b.gw.Connections(); got != 1 {
		t.Errorf("%d connections open once the quiet browser's ended, want the program's alone", got)
	}
	t.Logf("a quiet browser's session ended after %s", took.Round(time.Millisecond))
}

// newKeyFor onboards a customer at b with a new key, and returns it.
func newKeyFor(t *testing.T, b *testBank, name, person string) ed25519.PrivateKey {
	t.Helper()
	key := newKey(t)
	if _, err := b.Onboard(context.Background(), bankadmin.CustomerSpec{Name: name, PersonID: person, Deposit: intermediaryOpening,
		PublicKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}); err != nil {
		t.Fatal(err)
	}
	return key
}

// A purse returning money to its own wallet (a defund) is no voucher
// received, though the ledger settles it like one: the panel tells it
// apart by the purse's escrow account, which the bank names when the
// phone is first followed, for a purse set up before (in an earlier
// session of the bank's, or from another program), and with the answer
// when the phone sets one up.
func TestGateway_ADefundIsNoVoucherReceived(t *testing.T) {
	n := newOfflineNet(t, 1, offline.DefaultPolicy())
	b := n.banks["bank-1"]
	for _, earlier := range []bool{true, false} {
		key := newKey(t)
		person := fmt.Sprintf("MN-defund-%v", earlier)
		if _, err := b.Onboard(n.ctx, bankadmin.CustomerSpec{Name: "Defunder", PersonID: person, Deposit: intermediaryOpening,
			PublicKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}); err != nil {
			t.Fatal(err)
		}
		p := newPurse(t)
		if earlier { // set up from a program's session, before the phone is followed
			program, err := wallet.Dial(n.ctx, b.url, key, wallet.DialOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := program.ProvisionPurse(n.ctx, "", p); err != nil {
				t.Fatal(err)
			}
			program.Close()
		}
		phone, err := wallet.Dial(n.ctx, b.url, key, wallet.DialOptions{Header: http.Header{"Origin": {b.http}}})
		if err != nil {
			t.Fatal(err)
		}
		if !earlier {
			if _, err := phone.ProvisionPurse(n.ctx, "", p); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := phone.Withdraw(n.ctx, "", 5_000); err != nil {
			t.Fatal(err)
		}
		if _, err := phone.FundPurse(n.ctx, "", p, 5_000); err != nil {
			t.Fatal(err)
		}
		if _, err := phone.DefundPurse(n.ctx, p, 2_000); err != nil {
			t.Fatal(err)
		}
		if bal := balance(t, n.ctx, phone); bal != 2_000 {
			t.Fatalf("purse set up earlier %v: the wallet holds %d after the defund, want 2,000", earlier, bal)
		}
		var got bankadmin.AppWallet
		for _, w := range b.gw.AppWallets() {
			if w.Address == phone.Address() {
				got = w
			}
		}
		if got.Address == "" || got.Settled != 0 || got.Received != 0 || got.Funded != 5_000 || got.Synced == 0 {
			t.Errorf("purse set up earlier %v: the panel shows %+v, want 5,000 funded, its syncs, and no voucher received", earlier, got)
		}
		phone.Close()
	}
}
