// Package jsonbody reads the JSON body of an HTTP request and, when it is
// not what the endpoint takes, says why in words a person understands:
// "deposit must be a whole number of yen, not text" rather than
// encoding/json's "cannot unmarshal string into Go struct field
// CustomerSpec.deposit of type int64". The bank's admin API and the
// central ledger's HTTP API answer with its sentences.
//
// A struct field tagged unit:"yen" is described as a number of yen.
//
// It owns no state and never writes an answer itself: callers choose the
// status and error code.
package jsonbody
