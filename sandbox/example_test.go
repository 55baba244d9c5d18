package sandbox_test

import (
	"context"
	"fmt"
	"os"

	"github.com/digital-yen/cbdc-sandbox/sandbox"
)

// A sandbox of two banks in one process, on free ports: the central ledger
// has issued each its first float, and the guarantee fund of offline
// settlement is in circulation too.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "sandbox-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	cfg := sandbox.Defaults()
	cfg.Dir, cfg.Banks, cfg.Listen = dir, 2, "127.0.0.1:0"
	s, err := sandbox.Open(context.Background(), cfg)
	if err != nil {
		panic(err)
	}
	defer s.Close()

	for _, b := range s.Banks {
		fmt.Println(b.ID(), "serves wallets")
	}
	t := s.Ledger.Totals()
	fmt.Printf("in circulation %d yen: float %d, guarantee fund %d; conserved: %v\n", t.Circulation, t.Intermediaries, t.Loss, t.Conserved())
	// Output:
	// bank-1 serves wallets
	// bank-2 serves wallets
	// in circulation 300000000 yen: float 200000000, guarantee fund 100000000; conserved: true
}
