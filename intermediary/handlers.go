package intermediary

import (
	"context"
	"encoding/json"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// walletCall is one request of a signed-in wallet.
type walletCall struct {
	b *Bank
	w *Wallet
}

// handler runs one request and returns the answer's type and body.
type handler func(c walletCall, ctx context.Context, id string, body json.RawMessage) (string, any, error)

var handlers = map[string]handler{
	protocol.TypeBalance:        walletCall.balance,
	protocol.TypeHistory:        walletCall.history,
	protocol.TypePay:            walletCall.pay,
	protocol.TypeRequestPayment: walletCall.requestPayment,
	protocol.TypeApprove:        walletCall.approve,
	protocol.TypeDecline:        walletCall.decline,
	protocol.TypeRequests:       walletCall.requests,
	protocol.TypeWithdraw:       walletCall.withdraw,
	protocol.TypeDeposit:        walletCall.deposit,
	protocol.TypeSchedule:       walletCall.schedule,
	protocol.TypeCancelSchedule: walletCall.cancelSchedule,
	protocol.TypeSchedules:      walletCall.schedules,
	protocol.TypeSettings:       walletCall.settings,
	protocol.TypePurseProvision: walletCall.provisionPurse,
	protocol.TypePurseFund:      walletCall.fundPurse,
	protocol.TypePurseSync:      walletCall.syncPurse,
	protocol.TypeRevocations:    walletCall.revocations,
	protocol.TypePurseRetire:    walletCall.retirePurse,
}

// Handles reports whether typ is a request the bank answers for a
// signed-in wallet (everything the wallet protocol has but hello and
// register).
func Handles(typ string) bool {
	_, ok := handlers[typ]
	return ok
}

// Answer runs one request of a signed-in wallet: id is the request's id,
// body its undecoded body. It returns the answer's message type and body;
// a refusal is a *protocol.Error, any other error a failure the bank
// could not explain to the wallet.
func (b *Bank) Answer(ctx context.Context, w *Wallet, typ, id string, body json.RawMessage) (string, any, error) {
	h, ok := handlers[typ]
	if !ok {
		return "", nil, fail(protocol.CodeUnknownType, "unknown message type %q", typ)
	}
	return h(walletCall{b, w}, ctx, id, body)
}

// instruction decodes a signed instruction, checks its signature and the
// wallet's rate limit, and serialises it with the wallet's other
// instructions. The caller must call the returned unlock.
func (c walletCall) instruction(typ, id string, body json.RawMessage, m protocol.Signed) (func(), error) {
	if err := protocol.ReadBody(body, m); err != nil {
		return nil, err
	}
	key, err := c.w.sigKey()
	if err != nil {
		return nil, err
	}
	// A wallet that has sent a forged signature is checked alone from
	// then on: one bad signature sends a whole batch, other wallets' and
	// other banks' among them, to be checked one by one, and forged
	// instructions are not rate limited (a victim's rate is not theirs
	// to use up).
	alone := c.w.forged.Load()
	if !c.b.sigs.check(key, protocol.SigningBytes(typ, c.w.addr, id, m.SignedFields()...), m.Sig(), alone) {
		c.w.forged.Store(true)
		return nil, fail(protocol.CodeBadSignature, "the %s instruction's signature does not verify with the wallet's key", typ)
	}
	if !c.w.allow(c.b.now(), c.b.cfg.RatePerSecond, float64(c.b.cfg.RateBurst)) {
		return nil, fail(protocol.CodeRateLimited, "more than %g instructions a second; retry shortly with the same request id", c.b.cfg.RatePerSecond)
	}
	c.w.mu.Lock()
	return c.w.mu.Unlock, nil
}

func (c walletCall) pay(ctx context.Context, id string, body json.RawMessage) (string, any, error) {
	var m protocol.Pay
	unlock, err := c.instruction(protocol.TypePay, id, body, &m)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	paid, err := c.b.pay(ctx, c.w, opID(c.w, id), m.To, m.Amount)
	return protocol.TypePaid, paid, err
}

func (c walletCall) withdraw(ctx context.Context, id string, body json.RawMessage) (string, any, error) {
	var m protocol.Withdraw
	unlock, err := c.instruction(protocol.TypeWithdraw, id, body, &m)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	r, err := c.b.withdraw(ctx, c.w, id, m.Amount)
	return protocol.TypeWithdrawn, r, err
}

func (c walletCall) deposit(ctx context.Context, id string, body json.RawMessage) (string, any, error) {
	var m protocol.Deposit
	unlock, err := c.instruction(protocol.TypeDeposit, id, body, &m)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	r, err := c.b.depositBack(ctx, c.w, id, m.Amount)
	return protocol.TypeDeposited, r, err
}

func (c walletCall) settings(ctx context.Context, id string, body json.RawMessage) (string, any, error) {
	var m protocol.Settings
	unlock, err := c.instruction(protocol.TypeSettings, id, body, &m)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	if err := c.b.changeSettings(ctx, c.w, m.Waterfall, m.AutoCharge); err != nil {
		return "", nil, err
	}
	return protocol.TypeSettingsResult, protocol.Settings{Waterfall: m.Waterfall, AutoCharge: m.AutoCharge}, nil
}

func (c walletCall) balance(ctx context.Context, _ string, _ json.RawMessage) (string, any, error) {
	r, err := c.b.balance(ctx, c.w)
	return protocol.TypeBalanceResult, r, err
}

func (c walletCall) history(ctx context.Context, _ string, body json.RawMessage) (string, any, error) {
	var q protocol.HistoryQuery
	if body != nil { // left out or null: the defaults
		if err := protocol.ReadBody(body, &q); err != nil {
			return "", nil, err
		}
	}
	r, err := c.b.history(ctx, c.w, q)
	return protocol.TypeHistoryResult, r, err
}

// balance reads the wallet at the ledger, its holder's position and the
// deposit account.
func (b *Bank) balance(ctx context.Context, w *Wallet) (*protocol.BalanceResult, error) {
	acct, err := b.led.Account(ctx, ledger.AccountID(w.addr))
	if err != nil {
		return nil, fromLedger(err)
	}
	b.mu.RLock()
	holder := b.customers[w.customer].holder
	b.mu.RUnlock()
	h, err := b.led.Holder(ctx, ledger.HolderID(holder))
	if err != nil {
		return nil, fromLedger(err)
	}
	dep, err := b.st.deposit(w.customer)
	if err != nil {
		return nil, err
	}
	return &protocol.BalanceResult{Wallet: w.addr, Balance: acct.Balance, Deposit: dep, Holdings: h.Holdings, HoldingLimit: h.Limit}, nil
}

// history turns the wallet's ledger history into entries.
func (b *Bank) history(ctx context.Context, w *Wallet, q protocol.HistoryQuery) (*protocol.HistoryResult, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	q.Limit = min(q.Limit, 200)
	events, next, err := b.led.History(ctx, ledger.AccountID(w.addr), q.Cursor, q.Limit)
	if err != nil {
		return nil, fromLedger(err)
	}
	r := &protocol.HistoryResult{Entries: []protocol.Entry{}, Next: next}
	for i := range events {
		var moves []movement
		for _, t := range events[i].Transfers {
			moves, _ = b.classify(&events[i], t, false, moves, nil)
		}
		for _, t := range events[i].Sweeps {
			moves, _ = b.classify(&events[i], t, true, moves, nil)
		}
		for _, m := range moves {
			if m.w == w {
				r.Entries = append(r.Entries, m.entry)
			}
		}
	}
	return r, nil
}

// changeSettings turns the waterfall and auto-charge on or off. The
// waterfall is the ledger's to apply, so it is told first.
func (b *Bank) changeSettings(ctx context.Context, w *Wallet, waterfall, autoCharge bool) error {
	oldWaterfall, _ := w.settings()
	if waterfall != oldWaterfall {
		if err := b.setLimits(ctx, w, b.tierOf(w), waterfall); err != nil {
			return err
		}
	}
	if err := b.st.saveWalletSettings(w.keyID, waterfall, autoCharge); err != nil {
		return err
	}
	w.setMu.Lock()
	w.waterfall, w.autoCharge = waterfall, autoCharge
	w.setMu.Unlock()
	return nil
}
