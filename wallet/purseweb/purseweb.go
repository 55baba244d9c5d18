// Package purseweb is a wallet's key and offline purse behind one JSON
// call, for a wallet in a web page: cmd/purse-wasm compiles it to
// WebAssembly, and the page calls it with the purse's saved state and gets
// the new state back, to keep in IndexedDB with the key's seed. It also
// signs the session and the instructions (so the page never builds what a
// signature covers) and draws QR codes. The purse's rules are package offline's and its
// exchanges with the bank package wallet's, the same code as every other
// wallet's; the page speaks docs/protocol.md to the bank and hands the
// bank's answers to it as they came.
//
// A call names a method and carries a JSON object; the answer is a JSON
// object, or an error with the offline rule's code (docs/offline.md), such
// as {"error": {"code": "sync_required", "message": "..."}}.
package purseweb

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/qrsvg"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// Error is a refused call: Code is the offline rule's code, or
// bad_request for a call that is not well formed.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Args are every method's arguments; each uses some.
type Args struct {
	State   []byte          `json:"state,omitempty"`   // the purse as saved (base64 in JSON)
	Now     *time.Time      `json:"now,omitempty"`     // the device's clock; the runtime's when absent
	Amount  int64           `json:"amount,omitempty"`  // request
	Text    string          `json:"text,omitempty"`    // pay: the request's text; accept: the voucher's
	Answer  json.RawMessage `json:"answer,omitempty"`  // the bank's answer, as it came
	List    []byte          `json:"list,omitempty"`    // apply_revocations: the list's encoding
	Vectors json.RawMessage `json:"vectors,omitempty"` // check_vectors: offline/testdata/vectors/vectors.json

	// The wallet's own key, for its session and instructions.
	Seed      []byte          `json:"seed,omitempty"`      // the wallet key's 32-byte seed
	Bank      string          `json:"bank,omitempty"`      // sign_session: the challenge's bank
	Challenge []byte          `json:"challenge,omitempty"` // sign_session: the challenge's bytes
	Type      string          `json:"type,omitempty"`      // sign: the instruction's type, such as pay
	Wallet    string          `json:"wallet,omitempty"`    // sign: the wallet's address, from welcome
	ID        string          `json:"id,omitempty"`        // sign: the request id the instruction goes under
	Body      json.RawMessage `json:"body,omitempty"`      // sign: the instruction's body, without its signature
	Label     string          `json:"label,omitempty"`     // qr_svg: what the code is, for screen readers
}

// View is what a wallet shows of its purse.
type View struct {
	Serial             string     `json:"serial,omitempty"` // absent before certificates are installed
	PublicKey          []byte     `json:"public_key"`
	Balance            int64      `json:"balance"`
	Pending            int64      `json:"pending"` // received, not yet spendable (intermittent mode) or not yet synced
	Counter            uint64     `json:"counter"`
	SinceSync          uint64     `json:"since_sync"`
	PaymentsBeforeSync uint32     `json:"payments_before_sync,omitempty"`
	PaymentCap         int64      `json:"payment_cap,omitempty"`
	PurseCap           int64      `json:"purse_cap,omitempty"`
	Mode               string     `json:"mode,omitempty"`
	Expires            *time.Time `json:"expires,omitempty"` // the device certificate's expiry
	ToUpload           int        `json:"to_upload"`         // vouchers a sync would hand in
}

// Result is every method's answer; each fills some.
type Result struct {
	State           []byte               `json:"state,omitempty"`
	Purse           *View                `json:"purse,omitempty"`
	Text            string               `json:"text,omitempty"`   // request: the payment request; pay: the voucher
	Amount          int64                `json:"amount,omitempty"` // pay and accept: the amount
	Payer           string               `json:"payer,omitempty"`  // accept: the paying purse's serial
	Payee           string               `json:"payee,omitempty"`  // parse_request: the purse that asks to be paid
	Nonce           string               `json:"nonce,omitempty"`  // parse_request and pay: the request's one-use nonce
	Messages        []protocol.PurseSync `json:"messages,omitempty"`
	NewRevocations  bool                 `json:"new_revocations,omitempty"`
	VectorsChecked  int                  `json:"vectors_checked,omitempty"`
	VectorsProblems []string             `json:"vectors_problems,omitempty"`
	Seed            []byte               `json:"seed,omitempty"`       // key_new
	PublicKey       []byte               `json:"public_key,omitempty"` // key_new, sign_session
	Signature       []byte               `json:"signature,omitempty"`  // sign_session
	Body            json.RawMessage      `json:"body,omitempty"`       // sign: the body with its signature
	SVG             string               `json:"svg,omitempty"`        // qr_svg
}

// Call runs method with its arguments, a JSON object, and returns its
// answer, a JSON object; a refusal is returned as {"error": Error}.
func Call(method string, args []byte) []byte {
	var a Args
	var res Result
	err := json.Unmarshal(args, &a)
	if err != nil {
		err = &Error{"bad_request", "the arguments are not a JSON object of the purse's fields: " + err.Error()}
	} else {
		res, err = call(method, &a)
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Code: offline.CodeOf(err), Message: err.Error()}
			if e.Code == "" {
				e.Code = "failed"
			}
		}
		out, _ := json.Marshal(map[string]*Error{"error": e})
		return out
	}
	out, _ := json.Marshal(res)
	return out
}

func call(method string, a *Args) (Result, error) {
	now := time.Now()
	if a.Now != nil {
		now = *a.Now
	}
	switch method {
	case "new":
		p, err := offline.NewPurse(nil)
		if err != nil {
			return Result{}, err
		}
		var res Result
		res.State, res.Purse = saved(p)
		return res, nil
	case "check_vectors":
		n, problems := CheckVectors(a.Vectors)
		return Result{VectorsChecked: n, VectorsProblems: problems}, nil
	case "key_new", "sign_session", "sign":
		return walletKey(method, a)
	case "parse_request":
		q, err := offline.ParsePaymentRequestText(a.Text)
		if err != nil {
			return Result{}, err
		}
		return Result{Amount: q.Amount, Payee: q.Payee.String(), Nonce: q.Nonce.String()}, nil
	case "qr_svg":
		svg := qrsvg.SVG(a.Text, a.Label)
		if svg == "" {
			return Result{}, &Error{"bad_request", fmt.Sprintf("%d characters are too many for a QR code", len(a.Text))}
		}
		return Result{SVG: svg}, nil
	}
	if len(a.State) == 0 {
		return Result{}, &Error{"bad_request", method + " needs the purse's saved state"}
	}
	p, err := offline.LoadPurse(a.State)
	if err != nil {
		return Result{}, err
	}
	var res Result
	switch method {
	case "show":
	case "install_certificates":
		var r protocol.PurseCertificates
		if err := decodeAnswer(a, &r); err != nil {
			return Result{}, err
		}
		err = wallet.InstallCertificates(p, &r, now)
	case "apply_funding":
		var r protocol.PurseFunded
		if err := decodeAnswer(a, &r); err != nil {
			return Result{}, err
		}
		err = wallet.ApplyFunding(p, &r)
	case "request":
		var q offline.PaymentRequest
		if q, err = p.Request(a.Amount, now); err == nil {
			res.Text, res.Amount = q.Text(), q.Amount
		}
	case "pay":
		var q offline.PaymentRequest
		if q, err = offline.ParsePaymentRequestText(a.Text); err != nil {
			break
		}
		var v offline.Voucher
		if v, err = p.Pay(q, now); err == nil {
			res.Text, res.Amount, res.Payee, res.Nonce = v.Text(), v.Amount, q.Payee.String(), q.Nonce.String()
		}
	case "accept":
		var v offline.Voucher
		if v, err = offline.ParseVoucherText(a.Text); err != nil {
			break
		}
		if err = p.Accept(v, now); err == nil {
			res.Amount, res.Payer = v.Amount, v.Payer.String()
		}
	case "sync_messages":
		res.Messages = wallet.SyncMessages(p)
	case "apply_synced":
		var r protocol.PurseSynced
		if err := decodeAnswer(a, &r); err != nil {
			return Result{}, err
		}
		res.NewRevocations, err = wallet.ApplySynced(p, &r)
	case "apply_revocations":
		err = wallet.ApplyRevocations(p, a.List)
	default:
		return Result{}, &Error{"bad_request", fmt.Sprintf("no method %q: new, show, install_certificates, apply_funding, request, parse_request, pay, accept, sync_messages, apply_synced, apply_revocations, check_vectors, key_new, sign_session, sign, qr_svg", method)}
	}
	if err != nil {
		return Result{}, err
	}
	res.State, res.Purse = saved(p)
	return res, nil
}

// walletKey makes the wallet's key, or signs with it: the session's
// challenge (protocol.SessionBytes) or an instruction's fields
// (protocol.Sign), so the page never builds what a signature covers.
func walletKey(method string, a *Args) (Result, error) {
	if method == "key_new" {
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return Result{}, err
		}
		return Result{Seed: seed, PublicKey: ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)}, nil
	}
	if len(a.Seed) != ed25519.SeedSize {
		return Result{}, &Error{"bad_request", fmt.Sprintf("the wallet key's seed is %d bytes, got %d", ed25519.SeedSize, len(a.Seed))}
	}
	key := ed25519.NewKeyFromSeed(a.Seed)
	pub := key.Public().(ed25519.PublicKey)
	if method == "sign_session" {
		if a.Bank == "" || len(a.Challenge) == 0 {
			return Result{}, &Error{"bad_request", "sign_session needs the challenge's bank and bytes"}
		}
		return Result{PublicKey: pub, Signature: ed25519.Sign(key, protocol.SessionBytes(a.Bank, a.Challenge, pub))}, nil
	}
	m, ok := protocol.NewSigned(a.Type)
	switch {
	case !ok:
		return Result{}, &Error{"bad_request", fmt.Sprintf("%q is not a signed instruction", a.Type)}
	case a.Wallet == "" || a.ID == "":
		return Result{}, &Error{"bad_request", "sign needs the wallet's address and the request id"}
	}
	if err := json.Unmarshal(a.Body, m); err != nil {
		return Result{}, &Error{"bad_request", fmt.Sprintf("the %s body does not decode: %v", a.Type, err)}
	}
	protocol.Sign(key, a.Type, a.Wallet, a.ID, m)
	body, err := json.Marshal(m)
	return Result{Body: body}, err
}

func decodeAnswer(a *Args, into any) error {
	if len(a.Answer) == 0 {
		return &Error{"bad_request", "this method applies the bank's answer: pass it as answer, the body as it came"}
	}
	if err := json.Unmarshal(a.Answer, into); err != nil {
		return &Error{"bad_request", "the bank's answer does not decode: " + err.Error()}
	}
	return nil
}

// saved is the purse's state and view after a call.
func saved(p *offline.Purse) ([]byte, *View) {
	v := &View{PublicKey: p.PublicKey(), Balance: p.Balance(), Pending: p.Pending(), Counter: p.Counter(), SinceSync: p.SinceSync()}
	if ch := p.Chain(); ch != nil {
		lim := ch.Device.Limits
		exp := ch.Device.Expires
		v.Serial, v.PaymentsBeforeSync, v.PaymentCap, v.PurseCap, v.Mode, v.Expires =
			p.Serial().String(), lim.PaymentsBeforeSync, lim.PaymentCap, lim.PurseCap, lim.Mode.String(), &exp
		up := p.Upload()
		v.ToUpload = len(up.Sent) + len(up.Received)
	}
	return p.Save(), v
}
