package ledgerhttp

import (
	"errors"
	"fmt"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
)

// ErrCircuitOpen is the cause of an *UnreachableError for a call the
// client did not make: its circuit is open after failures to reach the
// ledger, and it waits for its backoff before it probes again.
var ErrCircuitOpen = errors.New("not tried: the central ledger did not answer the last calls; the circuit is open")

// ErrSelfConnect means a dial reached no ledger but the dialling socket
// itself. When nothing listens on a port inside the kernel's ephemeral
// range (Linux: 32768-60999), a dial to it can be given that very port as
// its own source port and, by TCP's simultaneous open, connect to itself.
var ErrSelfConnect = errors.New("ledgerhttp: connected to itself: nothing listens on the ledger's port")

// ErrNotReady is what Ready returns, wrapped with the ledger's reason,
// when the ledger answers that it does not take operations.
var ErrNotReady = errors.New("ledgerhttp: the central ledger is not ready")

// UnreachableError is a call that got no answer from the ledger: it could
// not connect, the connection broke, the call's deadline passed, something
// in between answered for it (502, 503 or 504 without a ledger error), or
// the client did not try because its circuit is open (ErrCircuitOpen).
// An operation that met it may or may not have been applied: ask again
// with the same op id to find out.
type UnreachableError struct {
	Method, Path string
	Err          error // the cause

	wait time.Duration
}

func (e *UnreachableError) Error() string {
	if e.Method == "" {
		return fmt.Sprintf("ledgerhttp: no answer from the central ledger: %v", e.Err)
	}
	return fmt.Sprintf("ledgerhttp: %s %s: no answer from the central ledger: %v", e.Method, e.Path, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// RetryAfter is how long the client expects to fail calls at once before
// it tries the ledger again.
func (e *UnreachableError) RetryAfter() time.Duration { return e.wait }

// RemoteError is an error the ledger service answered with. It wraps the
// ledger error with the same code, so errors.Is works across the network.
type RemoteError struct {
	Code    string
	Message string
}

func (e *RemoteError) Error() string { return e.Message }

func (e *RemoteError) Unwrap() error {
	if le := ledger.ErrorForCode(e.Code); le != nil {
		return le
	}
	if se := settlement.ErrorForCode(e.Code); se != nil {
		return se
	}
	return nil
}
