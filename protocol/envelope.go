package protocol

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Version is the protocol version this package speaks.
const Version = 1

// Path is where an intermediary serves the wallet websocket.
const Path = "/v1/wallet"

// MaxMessageBytes bounds one websocket message in either direction.
const MaxMessageBytes = 64 << 10

// Envelope is every message on the wire.
type Envelope struct {
	V    int             `json:"v"`
	Type string          `json:"type"`
	ID   string          `json:"id,omitempty"`
	Body json.RawMessage `json:"body,omitempty"`
}

// Message types a wallet sends.
const (
	TypeHello          = "hello"
	TypeRegister       = "register"
	TypeBalance        = "balance"
	TypeHistory        = "history"
	TypePay            = "pay"
	TypeRequestPayment = "request_payment"
	TypeApprove        = "approve"
	TypeDecline        = "decline"
	TypeRequests       = "requests"
	TypeWithdraw       = "withdraw"
	TypeDeposit        = "deposit"
	TypeSchedule       = "schedule"
	TypeCancelSchedule = "cancel_schedule"
	TypeSchedules      = "schedules"
	TypeSettings       = "settings"
	TypePurseProvision = "purse_provision"
	TypePurseFund      = "purse_fund"
	TypePurseSync      = "purse_sync"
	TypeRevocations    = "revocations"
	TypePurseRetire    = "purse_retire"
)

// Message types an intermediary sends. Answers to a request carry its id;
// pushed messages carry none.
const (
	TypeChallenge = "challenge" // pushed on connect
	TypeWelcome   = "welcome"   // answers hello and register
	TypeError     = "error"     // answers any request that failed

	TypeBalanceResult  = "balance"            // answers balance
	TypeHistoryResult  = "history"            // answers history
	TypePaid           = "paid"               // answers pay and approve
	TypeRequested      = "requested"          // answers request_payment
	TypeDeclined       = "declined"           // answers decline
	TypeRequestList    = "requests"           // answers requests
	TypeWithdrawn      = "withdrawn"          // answers withdraw
	TypeDeposited      = "deposited"          // answers deposit
	TypeScheduled      = "scheduled"          // answers schedule
	TypeCancelled      = "cancelled"          // answers cancel_schedule
	TypeScheduleList   = "schedules"          // answers schedules
	TypeSettingsResult = "settings"           // answers settings
	TypePurseCerts     = "purse_certificates" // answers purse_provision
	TypePurseFunded    = "purse_funded"       // answers purse_fund
	TypePurseSynced    = "purse_synced"       // answers purse_sync
	TypeRevocationList = "revocations"        // answers revocations
	TypePurseRetired   = "purse_retired"      // answers purse_retire
	TypeNotify         = "notify"             // pushed: money moved in or out of the wallet
	TypePaymentRequest = "payment_request"    // pushed: a merchant asks this wallet to pay
	TypeRequestUpdate  = "request_update"     // pushed: a request this wallet made was paid or declined
	TypeScheduleUpdate = "schedule_update"    // pushed: a scheduled payment fired
)

// Encode builds an envelope for body and marshals it. The envelope is
// written directly around the body's JSON, which encoding/json would
// otherwise validate and copy a second time.
func Encode(typ, id string, body any) ([]byte, error) {
	if !plain(typ) || !plain(id) {
		return encodeSlow(typ, id, body)
	}
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("protocol: encode %s: %w", typ, err)
		}
	}
	// One allocation of the envelope's size: every answer and
	// notification a bank sends is built here.
	b := make([]byte, 0, len(`{"v":1,"type":"","id":"","body":}`)+len(typ)+len(id)+len(raw))
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, Version, 10)
	b = append(b, `,"type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if id != "" {
		b = append(b, `,"id":"`...)
		b = append(b, id...)
		b = append(b, '"')
	}
	if body != nil {
		b = append(b, `,"body":`...)
		b = append(b, raw...)
	}
	return append(b, '}'), nil
}

// plain reports whether s needs no escaping in a JSON string.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func encodeSlow(typ, id string, body any) ([]byte, error) {
	env := Envelope{V: Version, Type: typ, ID: id}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("protocol: encode %s: %w", typ, err)
		}
		env.Body = b
	}
	return json.Marshal(env)
}
