// Package bankadmin is a bank's admin API (/admin/ on the bank's address,
// docs/admin-api.md and docs/openapi.yaml): the JSON bodies it takes and
// answers, and a Client that calls it with the bank's admin token, as the
// operator's tools do from outside the bank's process.
//
// # Basics
//
// New makes a Client for a bank's base address and token; each method is
// one route. A refusal comes back as a *protocol.Error, whose Code is the
// bank's stable error code:
//
//	admin := bankadmin.New("http://127.0.0.1:7501", token, nil)
//	credit, err := admin.CreditDeposit(ctx, "payroll-2026-04-25", "c-1", 250000)
//	var pe *protocol.Error
//	if errors.As(err, &pe) && pe.Code == protocol.CodeRequestIDReused {
//		// the id was used for another credit
//	}
//
// An answer that is not the API's (a proxy's error page, a body cut short
// or too large) is an error naming the method, the path and the HTTP
// status.
//
// # Retries
//
// A deposit credit always has the operator's request id, and a float move
// may: sending the same call again after a lost answer books it once.
// A float move without a request id moves the float again on every call;
// read Status before retrying one.
package bankadmin
