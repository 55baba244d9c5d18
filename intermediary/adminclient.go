package intermediary

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// AdminClient calls a running bank's admin API (/admin/...) with its
// token, as tools outside the bank's process do.
type AdminClient struct {
	base, token string
	hc          *http.Client
}

// NewAdminClient calls the bank served at base (such as
// http://127.0.0.1:7401) with the admin token. A nil hc gets a client with
// a 30-second timeout.
func NewAdminClient(base, token string, hc *http.Client) *AdminClient {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &AdminClient{base: strings.TrimSuffix(base, "/"), token: strings.TrimSpace(token), hc: hc}
}

// Call sends in as JSON (none when nil) and decodes the answer into out
// (ignored when nil). A refusal comes back as a *protocol.Error.
func (a *AdminClient) Call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error protocol.Error `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error.Code != "" {
			return &e.Error
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(raw))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}
