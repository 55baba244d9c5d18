package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

func Example() {
	dir, err := os.MkdirTemp("", "ledger-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	l, err := ledger.Open(dir, ledger.Options{})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	ctx := context.Background()

	// The central bank issues CBDC to an intermediary, which pays it out
	// to a wallet it serves.
	l.OpenAccount(ctx, "open-bank-a", ledger.AccountSpec{ID: "bank-a", Kind: ledger.KindIntermediary})
	l.OpenAccount(ctx, "open-w1", ledger.AccountSpec{ID: "w1", Kind: ledger.KindWallet, Intermediary: "bank-a"})
	l.OpenAccount(ctx, "open-w2", ledger.AccountSpec{ID: "w2", Kind: ledger.KindWallet, Intermediary: "bank-a"})
	l.Issue(ctx, "issue-1", "bank-a", 1_000_000)
	l.Transfer(ctx, "withdraw-1", "bank-a", "w1", 20_000)

	// A payment, and its retry: the retry returns the first receipt.
	first, _ := l.Transfer(ctx, "pay-1", "w1", "w2", 1_500)
	retry, _ := l.Transfer(ctx, "pay-1", "w1", "w2", 1_500)
	fmt.Println("retry has the first receipt:", retry == first)

	// The same id with other contents is refused, with a stable code.
	_, err = l.Transfer(ctx, "pay-1", "w1", "w2", 9_999)
	fmt.Println(ledger.ErrorCode(err), errors.Is(err, ledger.ErrOpIDReused))

	w1, _ := l.Balance("w1")
	w2, _ := l.Balance("w2")
	t := l.Totals()
	fmt.Println("w1", w1, "w2", w2)
	fmt.Println("circulation", t.Circulation, "intermediaries", t.Intermediaries, "wallets", t.Wallets, "conserved", t.Conserved())
	// Output:
	// retry has the first receipt: true
	// op_id_reused true
	// w1 18500 w2 1500
	// circulation 1000000 intermediaries 980000 wallets 20000 conserved true
}
