package intermediary

import (
	"context"
	"encoding/json"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// handler runs one request of an open session and returns the answer's
// type and body.
type handler func(s *session, ctx context.Context, id string, body json.RawMessage) (string, any, error)

var handlers = map[string]handler{
	protocol.TypeBalance:        (*session).balance,
	protocol.TypeHistory:        (*session).history,
	protocol.TypePay:            (*session).pay,
	protocol.TypeRequestPayment: (*session).requestPayment,
	protocol.TypeApprove:        (*session).approve,
	protocol.TypeDecline:        (*session).decline,
	protocol.TypeRequests:       (*session).requests,
	protocol.TypeWithdraw:       (*session).withdraw,
	protocol.TypeDeposit:        (*session).deposit,
	protocol.TypeSchedule:       (*session).schedule,
	protocol.TypeCancelSchedule: (*session).cancelSchedule,
	protocol.TypeSchedules:      (*session).schedules,
	protocol.TypeSettings:       (*session).settings,
	protocol.TypePurseProvision: (*session).provisionPurse,
	protocol.TypePurseFund:      (*session).fundPurse,
	protocol.TypePurseSync:      (*session).syncPurse,
	protocol.TypeRevocations:    (*session).revocations,
	protocol.TypePurseRetire:    (*session).retirePurse,
}

// instruction decodes a signed instruction, checks its signature and the
// wallet's rate limit, and serialises it with the wallet's other
// instructions. The caller must call the returned unlock.
func (s *session) instruction(typ, id string, body json.RawMessage, m protocol.Signed) (func(), error) {
	if err := protocol.ReadBody(body, m); err != nil {
		return nil, err
	}
	key, err := s.w.sigKey()
	if err != nil {
		return nil, err
	}
	if !s.b.sigs.check(key, protocol.SigningBytes(typ, s.w.addr, id, m.SignedFields()...), m.Sig()) {
		return nil, fail(protocol.CodeBadSignature, "the %s instruction's signature does not verify with the wallet's key", typ)
	}
	if !s.w.allow(s.b.now()) {
		return nil, fail(protocol.CodeRateLimited, "more than %g instructions a second; retry shortly with the same request id", s.b.cfg.RatePerSecond)
	}
	s.w.mu.Lock()
	return s.w.mu.Unlock, nil
}

func (s *session) pay(ctx context.Context, id string, body json.RawMessage) (string, any, error) {
	var m protocol.Pay
	unlock, err := s.instruction(protocol.TypePay, id, body, &m)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	paid, err := s.b.pay(ctx, s.w, opID(s.w, id), m.To, m.Amount)
	return protocol.TypePaid, paid, err
}

func (s *session) withdraw(ctx context.Context, id string, body json.RawMessage) (string, any, error) {
	var m protocol.Withdraw
	unlock, err := s.instruction(protocol.TypeWithdraw, id, body, &m)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	r, err := s.b.withdraw(ctx, s.w, id, m.Amount)
	return protocol.TypeWithdrawn, r, err
}

func (s *session) deposit(ctx context.Context, id string, body json.RawMessage) (string, any, error) {
	var m protocol.Deposit
	unlock, err := s.instruction(protocol.TypeDeposit, id, body, &m)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	r, err := s.b.depositBack(ctx, s.w, id, m.Amount)
	return protocol.TypeDeposited, r, err
}

func (s *session) settings(ctx context.Context, id string, body json.RawMessage) (string, any, error) {
	var m protocol.Settings
	unlock, err := s.instruction(protocol.TypeSettings, id, body, &m)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	if err := s.b.changeSettings(ctx, s.w, m.Waterfall, m.AutoCharge); err != nil {
		return "", nil, err
	}
	return protocol.TypeSettingsResult, protocol.Settings{Waterfall: m.Waterfall, AutoCharge: m.AutoCharge}, nil
}

func (s *session) balance(ctx context.Context, _ string, _ json.RawMessage) (string, any, error) {
	r, err := s.b.balance(ctx, s.w)
	return protocol.TypeBalanceResult, r, err
}

func (s *session) history(ctx context.Context, _ string, body json.RawMessage) (string, any, error) {
	var q protocol.HistoryQuery
	if body != nil { // left out or null: the defaults
		if err := protocol.ReadBody(body, &q); err != nil {
			return "", nil, err
		}
	}
	r, err := s.b.history(ctx, s.w, q)
	return protocol.TypeHistoryResult, r, err
}

// balance reads the wallet at the ledger, its holder's position and the
// deposit account.
func (b *Bank) balance(ctx context.Context, w *wallet) (*protocol.BalanceResult, error) {
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
	dep, err := b.deposit(w.customer)
	if err != nil {
		return nil, err
	}
	return &protocol.BalanceResult{Wallet: w.addr, Balance: acct.Balance, Deposit: dep, Holdings: h.Holdings, HoldingLimit: h.Limit}, nil
}

// history turns the wallet's ledger history into entries.
func (b *Bank) history(ctx context.Context, w *wallet, q protocol.HistoryQuery) (*protocol.HistoryResult, error) {
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
func (b *Bank) changeSettings(ctx context.Context, w *wallet, waterfall, autoCharge bool) error {
	oldWaterfall, _ := w.settings()
	if waterfall != oldWaterfall {
		if err := b.setLimits(ctx, w, b.tierOf(w), waterfall); err != nil {
			return err
		}
	}
	if err := b.saveWallet(w, waterfall, autoCharge); err != nil {
		return err
	}
	w.setMu.Lock()
	w.waterfall, w.autoCharge = waterfall, autoCharge
	w.setMu.Unlock()
	return nil
}
