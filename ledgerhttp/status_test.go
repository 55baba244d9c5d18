package ledgerhttp

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// Every ledger error crosses HTTP with a status that says what a bank may
// do: 503 exactly when the operation is in doubt (ask again under the same
// id), a 4xx when the ledger refused it for good; and the client turns the
// answer back into the same error and the same outcome.
func TestWriteLedgerError_StatusFollowsOutcome(t *testing.T) {
	for _, e := range ledger.Errors() {
		rec := httptest.NewRecorder()
		writeLedgerError(rec, &ledger.OpError{Op: "transfer", ID: "t-1", Err: e})
		inDoubt := ledger.OutcomeOf(e) == ledger.InDoubt
		switch {
		case inDoubt && rec.Code != http.StatusServiceUnavailable:
			t.Errorf("%s: status %d, want 503: the operation is in doubt", e.Code, rec.Code)
		case !inDoubt && (rec.Code < 400 || rec.Code >= 500):
			t.Errorf("%s: status %d, want a 4xx: the ledger refused it for good", e.Code, rec.Code)
		}
		var body errorResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v", e.Code, err)
		}
		back := &RemoteError{Code: body.Error.Code, Message: body.Error.Message}
		if !errors.Is(back, e) || ledger.OutcomeOf(back) != ledger.OutcomeOf(e) {
			t.Errorf("%s came back as %v, outcome %s", e.Code, back, ledger.OutcomeOf(back))
		}
	}
}
