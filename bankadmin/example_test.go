package bankadmin_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// Crediting a salary to a deposit account, as docs/admin-api.md shows it:
// a refusal is fixed, while a credit that met no answer is sent again under
// the same request id, which pays it once.
func ExampleClient_CreditDeposit() {
	ctx := context.Background()
	token := "the contents of data/bank-1/admin.token"
	admin := bankadmin.New("http://127.0.0.1:7501", token, nil)
	credit, err := admin.CreditDeposit(ctx, "payroll-2026-04-25", "c-1", 250000)
	var refused *protocol.Error
	switch {
	case err == nil:
		fmt.Println("deposit now", credit.Deposit)
	case errors.As(err, &refused) && refused.Code != protocol.CodeUnavailable:
		// refused: refused.Code and refused.Message say why; fix the request
	default:
		// unavailable, or no answer at all: send the same credit again
	}
}
