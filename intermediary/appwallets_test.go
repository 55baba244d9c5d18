package intermediary_test

import (
	"crypto/ed25519"
	"net/http"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
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
	if _, err := phone.Pay(n.ctx, "", payee.Address(), 1_500); err != nil {
		t.Fatal(err)
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

	phone.Close()
	time.Sleep(100 * time.Millisecond)
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
