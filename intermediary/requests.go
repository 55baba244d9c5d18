package intermediary

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// Request-to-pay: a merchant's bank stores the request and hands it to the
// payer's bank (itself, or another bank through the central system's
// relay), which pushes it to the payer. The payer's approval is a payment
// whose ledger op id is "r:" and the request's ref, so a request is paid at
// most once however often it is approved, and the merchant's bank
// recognises the payment in its feed.

type requestRec struct {
	protocol.PaymentRequest
	RequestID string `json:"request_id,omitempty"` // the merchant's, for outgoing requests
	ExpiresIn int64  `json:"expires_in,omitempty"` // as the merchant asked, to tell a retry from a reuse
}

// relayMsg is what banks tell each other about requests.
type relayMsg struct {
	Kind    string                   `json:"kind"` // payment_request or request_declined
	Request *protocol.PaymentRequest `json:"request,omitempty"`
	Ref     string                   `json:"ref,omitempty"`
}

// bankOf returns the bank part of a wallet address or request ref.
func bankOf(addrOrRef string) ledger.AccountID {
	if _, bank, ok := protocol.ParseWalletAddress(addrOrRef); ok {
		return ledger.AccountID(bank)
	}
	if i := strings.LastIndexByte(addrOrRef, '.'); i > 0 {
		return ledger.AccountID(addrOrRef[:i])
	}
	return ""
}

func (c walletCall) requestPayment(ctx context.Context, id string, body json.RawMessage) (string, any, error) {
	var m protocol.RequestPayment
	unlock, err := c.instruction(protocol.TypeRequestPayment, id, body, &m)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	r, err := c.b.requestPayment(ctx, c.w, id, &m)
	return protocol.TypeRequested, r, err
}

func (b *Bank) requestPayment(ctx context.Context, w *Wallet, requestID string, m *protocol.RequestPayment) (*protocol.Requested, error) {
	if m.ExpiresIn == 0 {
		m.ExpiresIn = 600
	}
	switch {
	case m.Amount <= 0:
		return nil, fail(protocol.CodeInvalidAmount, "an amount must be a positive whole number of yen, got %d", m.Amount)
	case !protocol.ValidText(m.Memo, 140):
		return nil, fail(protocol.CodeBadMemo, "a memo is at most 140 characters without control characters")
	case m.ExpiresIn < 0 || m.ExpiresIn > 7*24*3600:
		return nil, fail(protocol.CodeBadMessage, "expires_in is 1 to 604800 seconds, got %d", m.ExpiresIn)
	case m.Payer == w.addr:
		return nil, fail(protocol.CodeSameWallet, "a wallet cannot ask itself for money")
	}
	if _, _, ok := protocol.ParseWalletAddress(m.Payer); !ok {
		return nil, fail(protocol.CodeInvalidPayee, "%q is not a wallet address", m.Payer)
	}
	rec, err := b.storeRequest(w, requestID, m)
	if err != nil {
		return nil, err
	}
	if rec.Status == protocol.RequestPending {
		if err := b.deliver(ctx, &rec.PaymentRequest); err != nil {
			return nil, err
		}
	}
	return &protocol.Requested{Request: rec.PaymentRequest}, nil
}

// storeRequest records an outgoing request, or finds the one an earlier
// try of the same instruction stored.
func (b *Bank) storeRequest(w *Wallet, requestID string, m *protocol.RequestPayment) (*requestRec, error) {
	same := func(first *requestRec) error {
		if first.Payer != m.Payer || first.Amount != m.Amount || first.Memo != m.Memo || first.ExpiresIn != m.ExpiresIn {
			return fail(protocol.CodeRequestIDReused, "this request id was used for another instruction")
		}
		return nil
	}
	return b.st.storeRequest(w.keyID, requestID, same, func(n uint64) requestRec {
		return requestRec{RequestID: requestID, ExpiresIn: m.ExpiresIn, PaymentRequest: protocol.PaymentRequest{
			Ref: string(b.id) + "." + strconv.FormatUint(n, 10), Merchant: w.addr, Payer: m.Payer, Amount: m.Amount,
			Memo: m.Memo, Expires: b.now().UTC().Add(time.Duration(m.ExpiresIn) * time.Second), Status: protocol.RequestPending}}
	})
}

// deliver hands a request to the payer's bank.
func (b *Bank) deliver(ctx context.Context, r *protocol.PaymentRequest) error {
	to := bankOf(r.Payer)
	if to == b.id {
		return b.receiveRequest(b.id, r)
	}
	msg, _ := json.Marshal(relayMsg{Kind: "payment_request", Request: r})
	if err := b.led.Send(ctx, to, msg); err != nil {
		if ledger.ErrorCode(err) == ledger.ErrUnknownAccount.Code || ledger.ErrorCode(err) == ledger.ErrWrongKind.Code {
			return fail(protocol.CodeUnknownPayee, "no bank %q serves the payer", to)
		}
		return fail(protocol.CodeUnavailable, "the payer's bank could not be reached (%v); retry with the same request id", err)
	}
	return nil
}

// receiveRequest stores a request addressed to one of this bank's wallets
// and pushes it to the payer.
func (b *Bank) receiveRequest(from ledger.AccountID, r *protocol.PaymentRequest) error {
	payer := b.ownWallet(ledger.AccountID(r.Payer))
	switch {
	case payer == nil:
		return fail(protocol.CodeUnknownPayee, "no wallet %s at %s", r.Payer, b.id)
	case bankOf(r.Merchant) != from || bankOf(r.Ref) != from:
		return fail(protocol.CodeBadMessage, "%s may not send requests for %s", from, r.Merchant)
	}
	if err := b.checkRelayedRequest(r); err != nil {
		return err
	}
	fresh, err := b.st.storeIncoming(payer.keyID, r)
	if err != nil || !fresh {
		return err
	}
	if msg, err := protocol.Encode(protocol.TypePaymentRequest, "", protocol.RequestUpdate{Request: *r}); err == nil {
		b.notifier.get().Push(payer.keyID, msg)
	}
	return nil
}

// checkRelayedRequest holds a request another bank sent to the rules its
// own wallets' requests meet here, so a careless or hostile bank cannot
// store what this bank's wallets could not send.
func (b *Bank) checkRelayedRequest(r *protocol.PaymentRequest) error {
	_, seq, _ := strings.Cut(strings.TrimPrefix(r.Ref, string(bankOf(r.Ref))), ".")
	_, serr := strconv.ParseUint(seq, 10, 64)
	switch {
	case len(r.Ref) > 64 || serr != nil:
		return fail(protocol.CodeBadMessage, "request ref %q is not <bank>.<number>", r.Ref)
	case r.Amount <= 0:
		return fail(protocol.CodeInvalidAmount, "request %s asks for %d yen", r.Ref, r.Amount)
	case !protocol.ValidText(r.Memo, 140):
		return fail(protocol.CodeBadMemo, "request %s has a memo over 140 characters or with control characters", r.Ref)
	case r.Expires.After(b.now().Add(7*24*time.Hour + time.Minute)):
		return fail(protocol.CodeBadMessage, "request %s expires more than a week ahead", r.Ref)
	}
	r.Status, r.Seq = protocol.RequestPending, 0
	return nil
}

func (c walletCall) approve(ctx context.Context, id string, body json.RawMessage) (string, any, error) {
	var m protocol.Approve
	unlock, err := c.instruction(protocol.TypeApprove, id, body, &m)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	rec, err := c.b.incoming(c.w, m.Ref)
	if err != nil {
		return "", nil, err
	}
	switch {
	case rec.Merchant != m.Merchant || rec.Amount != m.Amount:
		return "", nil, fail(protocol.CodeRequestMismatch, "request %s asks %d yen for %s, not %d for %s", rec.Ref, rec.Amount, rec.Merchant, m.Amount, m.Merchant)
	case rec.Status == protocol.RequestDeclined || rec.Status == protocol.RequestExpired:
		return "", nil, fail(protocol.CodeRequestClosed, "request %s is %s", rec.Ref, rec.Status)
	}
	paid, err := c.b.pay(ctx, c.w, "r:"+rec.Ref, rec.Merchant, rec.Amount)
	if err != nil {
		return "", nil, err
	}
	paid.Request = rec.Ref
	err = c.b.st.updateIncoming(rec.Ref, func(r *requestRec) { r.Status, r.Seq = protocol.RequestPaid, paid.Seq })
	return protocol.TypePaid, paid, err
}

func (c walletCall) decline(ctx context.Context, id string, body json.RawMessage) (string, any, error) {
	var m protocol.Decline
	unlock, err := c.instruction(protocol.TypeDecline, id, body, &m)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	rec, err := c.b.incoming(c.w, m.Ref)
	if err != nil {
		return "", nil, err
	}
	if rec.Status != protocol.RequestPending && rec.Status != protocol.RequestDeclined {
		return "", nil, fail(protocol.CodeRequestClosed, "request %s is %s", rec.Ref, rec.Status)
	}
	if err := c.b.st.updateIncoming(rec.Ref, func(r *requestRec) { r.Status = protocol.RequestDeclined }); err != nil {
		return "", nil, err
	}
	rec.Status = protocol.RequestDeclined
	if to := bankOf(rec.Merchant); to == c.b.id {
		c.b.requestDeclined(to, rec.Ref)
	} else {
		msg, _ := json.Marshal(relayMsg{Kind: "request_declined", Ref: rec.Ref})
		if err := c.b.led.Send(ctx, to, msg); err != nil {
			return "", nil, fail(protocol.CodeUnavailable, "declined here, but the merchant's bank could not be told (%v); retry with the same request id", err)
		}
	}
	return protocol.TypeDeclined, protocol.Declined{Request: rec.PaymentRequest}, nil
}

// incoming returns a request addressed to w, expired if its time has passed.
func (b *Bank) incoming(w *Wallet, ref string) (*requestRec, error) {
	rec, ok, err := b.st.incomingRequest(ref)
	if err != nil {
		return nil, err
	}
	if !ok || rec.Payer != w.addr {
		return nil, fail(protocol.CodeUnknownRequest, "no payment request %q is addressed to this wallet", ref)
	}
	b.expire(&rec.PaymentRequest)
	return &rec, nil
}

func (b *Bank) expire(r *protocol.PaymentRequest) {
	if r.Status == protocol.RequestPending && b.now().After(r.Expires) {
		r.Status = protocol.RequestExpired
	}
}

// requestDeclined marks an outgoing request declined and tells the merchant.
func (b *Bank) requestDeclined(from ledger.AccountID, ref string) {
	rec, err := b.st.updateOutgoing(ref, func(r *requestRec) bool {
		if bankOf(r.Payer) != from || r.Status != protocol.RequestPending {
			return false
		}
		r.Status = protocol.RequestDeclined
		return true
	})
	if err != nil {
		b.logErr("recording a declined request failed", err, "ref", ref)
	}
	if rec != nil {
		b.pushRequestUpdate(rec.PaymentRequest)
	}
}

type paidRef struct {
	ref, from, to string
	amount        int64
	seq           uint64
}

// pays reports whether a payment the feed found pays an outgoing request
// not yet paid: the same merchant, payer and amount.
func (p paidRef) pays(r *requestRec) bool {
	return r.Status != protocol.RequestPaid && r.Merchant == p.to && r.Payer == p.from && r.Amount == p.amount
}

func (b *Bank) pushRequestUpdate(r protocol.PaymentRequest) {
	keyID, _, _ := protocol.ParseWalletAddress(r.Merchant)
	if msg, err := protocol.Encode(protocol.TypeRequestUpdate, "", protocol.RequestUpdate{Request: r}); err == nil {
		b.notifier.get().Push(keyID, msg)
	}
}

func (c walletCall) requests(_ context.Context, _ string, _ json.RawMessage) (string, any, error) {
	r, err := c.b.listRequests(c.w)
	return protocol.TypeRequestList, r, err
}

// maxListed bounds the requests listed each way (and twice that the
// schedules), so an answer stays within protocol.MaxMessageBytes even when
// every memo is 140 characters that JSON writes as six bytes each.
const maxListed = 20

// listRequests returns the wallet's requests both ways, newest first, at
// most maxListed each.
func (b *Bank) listRequests(w *Wallet) (*protocol.RequestList, error) {
	out := &protocol.RequestList{Incoming: []protocol.PaymentRequest{}, Outgoing: []protocol.PaymentRequest{}}
	incoming, outgoing, err := b.st.walletRequests(w.keyID)
	if err != nil {
		return out, err
	}
	out.Incoming = append(out.Incoming, b.newestListed(incoming)...)
	out.Outgoing = append(out.Outgoing, b.newestListed(outgoing)...)
	return out, nil
}

// newestListed expires the requests whose time has passed and keeps the
// newest maxListed.
func (b *Bank) newestListed(list []protocol.PaymentRequest) []protocol.PaymentRequest {
	for i := range list {
		b.expire(&list[i])
	}
	sortNewestFirst(list)
	if len(list) > maxListed {
		list = list[:maxListed]
	}
	return list
}

func sortNewestFirst(list []protocol.PaymentRequest) {
	slices.SortStableFunc(list, func(a, b protocol.PaymentRequest) int { return b.Expires.Compare(a.Expires) })
}

// receiveRelay takes messages other banks sent through the central system.
func (b *Bank) receiveRelay() {
	for b.ctx.Err() == nil {
		msgs, err := b.led.Receive(b.ctx, 100)
		if err != nil {
			if b.ctx.Err() == nil {
				b.logErr("relay receive failed; retrying", err)
				b.sleep(time.Second)
			}
			continue
		}
		for _, m := range msgs {
			b.handleRelay(m)
		}
	}
}

func (b *Bank) handleRelay(m ledger.Message) {
	var msg relayMsg
	if err := json.Unmarshal(m.Body, &msg); err != nil {
		b.logErr("unreadable relayed message", err, "from", m.From)
		return
	}
	switch {
	case msg.Kind == "payment_request" && msg.Request != nil:
		err := b.receiveRequest(m.From, msg.Request)
		var pe *protocol.Error
		if errors.As(err, &pe) && pe.Code == protocol.CodeUnknownPayee {
			// Tell the merchant's bank, so the request does not wait forever.
			reply, _ := json.Marshal(relayMsg{Kind: "request_declined", Ref: msg.Request.Ref})
			ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
			err = b.led.Send(ctx, m.From, reply)
			cancel()
		}
		if err != nil {
			b.logErr("relayed payment request refused", err, "from", m.From)
		}
	case msg.Kind == "request_declined":
		b.requestDeclined(m.From, msg.Ref)
	default:
		b.log.Warn("relayed message of unknown kind ignored", "from", m.From, "kind", msg.Kind)
	}
}
