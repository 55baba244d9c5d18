package ledgerhttp

import (
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// The JSON bodies of the ledger's HTTP API, version 1.

// MaxOpsPerRequest bounds the operations in one POST /v1/ops.
const MaxOpsPerRequest = 1000

type challengeResponse struct {
	Challenge []byte `json:"challenge"`
}

type sessionRequest struct {
	Intermediary ledger.AccountID `json:"intermediary"`
	Challenge    []byte           `json:"challenge"`
	Signature    []byte           `json:"signature"`
}

type sessionResponse struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

// sessionMessage is what a bank signs to open a session.
func sessionMessage(intermediary ledger.AccountID, challenge []byte) []byte {
	m := []byte("cbdc-ledger-session/v1\n" + string(intermediary) + "\n")
	return append(m, challenge...)
}

type opsRequest struct {
	Ops []wireOp `json:"ops"`
}

type wireOp struct {
	Type      string           `json:"type"` // open, close, limits, issue, redeem, transfer, batch
	OpID      string           `json:"op_id"`
	Account   *wireAccountSpec `json:"account,omitempty"`           // open
	AccountID ledger.AccountID `json:"account_id,omitempty"`        // close, limits
	Limits    *wireLimits      `json:"limits,omitempty"`            // limits
	Amount    int64            `json:"amount,omitempty" unit:"yen"` // issue, redeem
	Transfers []wireTransfer   `json:"transfers,omitempty"`         // transfer (one), batch
}

type wireAccountSpec struct {
	ID           ledger.AccountID `json:"id"`
	Kind         string           `json:"kind"`
	Intermediary ledger.AccountID `json:"intermediary,omitempty"`
	Holder       ledger.HolderID  `json:"holder,omitempty"`
	Limits       *wireLimits      `json:"limits,omitempty"`
}

type wireLimits struct {
	Holding int64 `json:"holding" unit:"yen"`
	Sweep   bool  `json:"sweep"`
}

// toWireLimits leaves out limits that are all zero.
func toWireLimits(l ledger.Limits) *wireLimits {
	if l == (ledger.Limits{}) {
		return nil
	}
	return &wireLimits{Holding: l.Holding, Sweep: l.Sweep}
}

func (l *wireLimits) limits() ledger.Limits {
	if l == nil {
		return ledger.Limits{}
	}
	return ledger.Limits{Holding: l.Holding, Sweep: l.Sweep}
}

type wireTransfer struct {
	From   ledger.AccountID `json:"from"`
	To     ledger.AccountID `json:"to"`
	Amount int64            `json:"amount" unit:"yen"`
}

type opsResponse struct {
	Results []wireResult `json:"results"`
}

type wireResult struct {
	OpID  string     `json:"op_id"`
	Seq   uint64     `json:"seq,omitempty"`
	Time  time.Time  `json:"time,omitzero"`
	Error *wireError `json:"error,omitempty"`
}

type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type errorResponse struct {
	Error wireError `json:"error"`
}

type historyResponse struct {
	Events []ledger.Event `json:"events"`
	Next   uint64         `json:"next"`
}

func toWireTransfers(ts []ledger.Transfer) []wireTransfer {
	out := make([]wireTransfer, len(ts))
	for i, t := range ts {
		out[i] = wireTransfer(t)
	}
	return out
}

func fromWireTransfers(ts []wireTransfer) []ledger.Transfer {
	out := make([]ledger.Transfer, len(ts))
	for i, t := range ts {
		out[i] = ledger.Transfer(t)
	}
	return out
}
