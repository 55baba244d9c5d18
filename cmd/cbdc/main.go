// Command cbdc runs the digital-yen CBDC sandbox: the central ledger, its
// intermediaries and their tools, as subcommands of one binary.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one ends the process at once.
	go func() { <-ctx.Done(); stop() }()
	err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	code, say := exitStatus(err)
	if say {
		fmt.Fprintln(os.Stderr, "cbdc:", err)
	}
	os.Exit(code)
}
