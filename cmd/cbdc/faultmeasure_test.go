package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFault_Measure prints the figures of a ledger outage and a frozen
// ledger for a build of cbdc, to compare builds: CBDC_FAULT_MEASURE=path
// to the binary (this package's own build when "self"). It needs strace
// to count the bank's connects. Nothing is asserted.
//
//	CBDC_FAULT_MEASURE=/tmp/cbdc-old go test -run TestFault_Measure -v ./cmd/cbdc
func TestFault_Measure(t *testing.T) {
	bin := os.Getenv("CBDC_FAULT_MEASURE")
	if bin == "" {
		t.Skip("CBDC_FAULT_MEASURE names no binary to measure")
	}
	if bin == "self" {
		bin = cbdcBinary(t)
	}
	outage := 20 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rig := newOutageRig(t, ctx, bin)
	dir, port, ledgerArgs, led, bank, payee, payers := rig.dir, rig.port, rig.ledgerArgs, rig.led, rig.bank, rig.payee, rig.payers
	unavailable, stopLoad := rig.load(ctx, 5*time.Second)
	time.Sleep(2 * time.Second)

	// A killed ledger: the bank's connects and log lines while it is down.
	led.signal(t, syscall.SIGKILL)
	<-led.done
	before, failedBefore := len(logLines(bank.stderr.String())), unavailable.Load()
	trace := exec.Command("strace", "-f", "-qq", "-e", "trace=connect", "-o", dir+"/connects", "-p", fmt.Sprint(bank.cmd.Process.Pid))
	if err := trace.Start(); err != nil {
		t.Fatalf("strace: %v", err)
	}
	time.Sleep(outage)
	trace.Process.Signal(os.Interrupt)
	trace.Wait()
	lines, failed := len(logLines(bank.stderr.String()))-before, unavailable.Load()-failedBefore
	raw, _ := os.ReadFile(dir + "/connects")
	connects := strings.Count(string(raw), fmt.Sprintf("sin_port=htons(%d)", port))
	logBytes := len(bank.stderr.String())
	led = startBinary(t, bin, "ledger again", ledgerArgs...)
	start := time.Now()
	led.waitFor(t, ledgerServing)
	t.Logf("ledger killed for %s under load: %d payments answered unavailable (%.0f/s); the bank dialled the ledger %d times (%.1f/s) and wrote %d log lines (%.0f a minute)",
		outage, failed, float64(failed)/outage.Seconds(), connects, float64(connects)/outage.Seconds(), lines, float64(lines)*float64(time.Minute)/float64(outage))
	t.Logf("the ledger started again on its port after %s; bank log %d bytes in all", time.Since(start).Round(time.Millisecond), logBytes)
	time.Sleep(3 * time.Second)
	stopLoad()

	// A frozen ledger: how long a payment waits for its answer.
	led.signal(t, syscall.SIGSTOP)
	frozen := time.Now()
	time.AfterFunc(12*time.Second, func() { led.cmd.Process.Signal(syscall.SIGCONT) })
	pctx, cancel2 := context.WithTimeout(ctx, 40*time.Second)
	_, err := payers[0].Pay(pctx, "frozen-1", payee.Address(), 1)
	cancel2()
	t.Logf("ledger stopped for 12s: a payment was answered after %s with %v", time.Since(frozen).Round(time.Millisecond), err)
	time.Sleep(13*time.Second - time.Since(frozen))
	bank.interrupt(t)
	led.interrupt(t)
}
