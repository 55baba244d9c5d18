package ledgerhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// OperatorCallTimeout bounds an operator's read; a journal read waits on
// top of it.
const OperatorCallTimeout = 2 * time.Second

// Standing is where the replica at base (one of the URLs, or any
// replica's) stands. It needs no token.
func (o *Operator) Standing(ctx context.Context, base string) (ReplicaStanding, error) {
	var st ReplicaStanding
	err := o.get(ctx, strings.TrimRight(base, "/"), "/v1/replica", OperatorCallTimeout, &st)
	return st, err
}

// Totals is the ledger's totals at the replica asked.
func (o *Operator) Totals(ctx context.Context) (ledger.Totals, error) {
	var t ledger.Totals
	return t, o.read(ctx, "/v1/totals", 0, &t)
}

// Audit recounts every account at the replica asked.
func (o *Operator) Audit(ctx context.Context) (Audit, error) {
	var a Audit
	return a, o.read(ctx, "/v1/audit", 0, &a)
}

// Journal reads up to limit committed operations from sequence from on;
// when there are none yet, the replica waits up to wait for the next.
func (o *Operator) Journal(ctx context.Context, from uint64, limit int, wait time.Duration) (JournalPage, error) {
	q := url.Values{"from": {strconv.FormatUint(from, 10)}, "limit": {strconv.Itoa(max(limit, 0))}, "wait": {wait.String()}}
	var p JournalPage
	return p, o.read(ctx, "/v1/journal?"+q.Encode(), wait, &p)
}

// OfflineSummary is offline settlement's figures, read at the leader.
func (o *Operator) OfflineSummary(ctx context.Context) (OfflineSummary, error) {
	var s OfflineSummary
	return s, o.read(ctx, "/v1/offline/summary", 0, &s)
}

// OfflineVoucher is what the ledger holds of a voucher; a *RemoteError
// with the code unknown_voucher when none was handed in.
func (o *Operator) OfflineVoucher(ctx context.Context, h offline.Hash) (OfflineVoucher, error) {
	var v OfflineVoucher
	return v, o.read(ctx, "/v1/offline/vouchers/"+h.String(), 0, &v)
}

// OfflineDevice is what the ledger knows of a purse.
func (o *Operator) OfflineDevice(ctx context.Context, sn offline.Serial) (OfflineDevice, error) {
	var d OfflineDevice
	return d, o.read(ctx, "/v1/offline/devices/"+sn.String(), 0, &d)
}

// read asks each replica in turn, from the one that last answered, until
// one answers with something other than "not here": reads go on through
// a failover, and settlement's are answered by whichever replica leads.
func (o *Operator) read(ctx context.Context, path string, wait time.Duration, out any) error {
	if len(o.URLs) == 0 {
		return errors.New("ledgerhttp: no ledger addresses")
	}
	start := o.at.Load()
	var err error
	for n := range int32(len(o.URLs)) {
		i := (start + n) % int32(len(o.URLs))
		if err = o.get(ctx, strings.TrimRight(o.URLs[i], "/"), path, OperatorCallTimeout+wait, out); !turnsOperatorAway(err) {
			o.at.Store(i)
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return err
}

// turnsOperatorAway reports whether another replica may answer what this
// one could not: it was not reached, it is stopping or its storage
// failed, or it does not settle just now.
func turnsOperatorAway(err error) bool {
	var ue *UnreachableError
	if errors.As(err, &ue) {
		return true
	}
	var re *RemoteError
	if !errors.As(err, &re) {
		return false
	}
	switch re.Code {
	case ledger.ErrNotLeader.Code, ledger.ErrClosed.Code, ledger.ErrStorage.Code, ledger.ErrCorrupt.Code, "unavailable":
		return true
	}
	return false
}

func (o *Operator) get(ctx context.Context, base, path string, timeout time.Duration, out any) error {
	return o.roundTrip(ctx, http.MethodGet, base+path, nil, timeout, out)
}

// roundTrip sends one request and decodes a 200 answer into out. The
// service's refusal is a *RemoteError; no answer, or a proxy's answer
// for it (502, 503, 504 without a ledger error), an *UnreachableError.
func (o *Operator) roundTrip(ctx context.Context, method, url string, body any, timeout time.Duration, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+o.Token)
	}
	hc := o.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return noAnswer(method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return &UnreachableError{Method: method, Path: url, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		var e errorResponse
		switch {
		case json.Unmarshal(data, &e) == nil && e.Error.Code != "":
			return &RemoteError{Code: e.Error.Code, Message: e.Error.Message}
		case gatewayStatus(resp.StatusCode):
			return &UnreachableError{Method: method, Path: url, Err: errors.New(resp.Status)}
		}
		return fmt.Errorf("ledgerhttp: %s %s answered %s: %.200s", method, url, resp.Status, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("ledgerhttp: %s %s answered with a body that is not the expected JSON: %w", method, url, err)
	}
	return nil
}
