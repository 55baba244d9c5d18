package intermediary_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// Banks sharing a signature checker check their wallets' instructions in
// the same batches: a forged signature at one bank, among good ones from
// another, is refused, and no good one is. A wallet that has forged one
// is checked alone from then on, so its forgeries no longer send the
// batches of others to be checked one by one; it is still served.
func TestSignatureChecker_SharedBatchesRefuseOnlyTheForged(t *testing.T) {
	shared := intermediary.NewSignatureChecker()
	n := newTestNet(t, 2, func(c *intermediary.Config) { c.SignatureChecker = shared })
	if !intermediary.SharesSignatureChecker(n.banks["bank-1"].Bank, n.banks["bank-2"].Bank) {
		t.Fatal("two banks given one checker check on two")
	}
	alice := n.register("bank-1", "Alice", "P-ALICE")
	bob := n.register("bank-2", "Bob", "P-BOB")
	carol := n.register("bank-2", "Carol", "P-CAROL")
	malloryKey := newKey(t)
	malloryWallet := n.registerKey("bank-1", "Mallory", "P-MALLORY", malloryKey)
	for _, w := range []*wallet.Client{alice, bob, malloryWallet} {
		if _, err := w.Withdraw(n.ctx, "", 20_000); err != nil {
			t.Fatal(err)
		}
	}
	before := balance(t, n.ctx, carol)

	mallory := dialRaw(t, n.banks["bank-1"].url, nil)
	if env := mallory.hello(malloryKey); env.Type != protocol.TypeWelcome {
		t.Fatalf("hello = %s %s", env.Type, env.Body)
	}
	forge := func(id string) {
		m := &protocol.Pay{To: carol.Address(), Amount: 1}
		protocol.Sign(malloryKey, protocol.TypePay, mallory.addr, id, m)
		m.Amount = 5_000 // signed 1, asks 5,000
		mallory.sendMsg(protocol.TypePay, id, m)
	}
	forge("first")
	mallory.expectError("first", protocol.CodeBadSignature)
	aloneBefore := intermediary.SignaturesCheckedAlone(n.banks["bank-1"].Bank)

	const good, forged = 30, 20
	var wg sync.WaitGroup
	for i := range good {
		wg.Go(func() {
			if _, err := alice.Pay(n.ctx, fmt.Sprintf("a%d", i), carol.Address(), 100); err != nil {
				t.Errorf("alice's payment %d: %v", i, err)
			}
		})
		wg.Go(func() {
			if _, err := bob.Pay(n.ctx, fmt.Sprintf("b%d", i), carol.Address(), 10); err != nil {
				t.Errorf("bob's payment %d: %v", i, err)
			}
		})
		if i < forged {
			forge(fmt.Sprintf("m%d", i))
		}
	}
	refused := map[string]bool{}
	for range forged {
		env := mallory.read()
		var e protocol.Error
		json.Unmarshal(env.Body, &e)
		if env.Type != protocol.TypeError || e.Code != protocol.CodeBadSignature {
			t.Fatalf("a forged payment was answered %s %s, want error %s", env.Type, env.Body, protocol.CodeBadSignature)
		}
		refused[env.ID] = true
	}
	wg.Wait()
	if len(refused) != forged {
		t.Errorf("%d distinct forged payments refused, want %d", len(refused), forged)
	}
	if got := intermediary.SignaturesCheckedAlone(n.banks["bank-1"].Bank) - aloneBefore; got != forged {
		t.Errorf("%d of the forger's next %d signatures were checked alone, want all", got, forged)
	}
	mallory.pay("honest", carol.Address(), 7)
	if env := mallory.read(); env.Type != protocol.TypePaid || env.ID != "honest" {
		t.Errorf("the forger's honest payment was answered %s %s, want paid", env.Type, env.Body)
	}
	if got, want := balance(t, n.ctx, carol)-before, int64(good*110+7); got != want {
		t.Errorf("Carol received %d, want %d: exactly the good payments", got, want)
	}
}

// A bank that closes lets go of the shared checker without stopping it
// for the banks still open; the last one to close stops it, and a bank
// opened after that starts it again.
func TestSignatureChecker_OutlivesTheBanksThatLeave(t *testing.T) {
	shared := intermediary.NewSignatureChecker()
	n := newTestNet(t, 2, func(c *intermediary.Config) { c.SignatureChecker = shared })
	aliceKey := newKey(t)
	alice := n.registerKey("bank-1", "Alice", "P-ALICE", aliceKey)
	bob := n.register("bank-2", "Bob", "P-BOB")
	if _, err := alice.Withdraw(n.ctx, "", 20_000); err != nil {
		t.Fatal(err)
	}
	leaving := n.addBank("bank-3", func(c *intermediary.Config) { c.SignatureChecker = shared })
	delete(n.banks, "bank-3")
	leaving.srv.Close()
	if err := leaving.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Pay(n.ctx, "after-bank-3", bob.Address(), 100); err != nil {
		t.Fatalf("a payment after another bank closed: %v", err)
	}

	// Alone with its own checker, a fourth bank comes and goes; then all
	// of the shared checker's banks leave and one comes back.
	alone := n.addBank("bank-4", nil)
	delete(n.banks, "bank-4")
	if intermediary.SharesSignatureChecker(alone.Bank, n.banks["bank-1"].Bank) {
		t.Error("a bank given no checker checks on another's")
	}
	alone.srv.Close()
	if err := alone.Close(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"bank-1", "bank-2"} {
		b := n.banks[id]
		b.srv.CloseClientConnections()
		b.srv.Close()
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"bank-1", "bank-2"} {
		n.reopenBankWith(id, n.banks[id], func(c *intermediary.Config) { c.SignatureChecker = shared })
	}
	alice2, err := wallet.Dial(n.ctx, n.banks["bank-1"].url, aliceKey, wallet.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer alice2.Close()
	if _, err := alice2.Pay(n.ctx, "after-reopen", bob.Address(), 100); err != nil {
		t.Fatalf("a payment after the banks were opened again: %v", err)
	}
}
