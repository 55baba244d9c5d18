package openapi_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/openapi"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// docs/openapi.yaml is what outside teams write clients from. These tests
// hold it to the code: the document is sound, every example it shows is
// sent to a real ledger and a real bank and answered as shown, and it
// documents exactly the routes the servers register.

func TestOpenAPI_DocumentIsSound(t *testing.T) {
	d := loadDoc(t)
	if v, _ := d.Root["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x: the checker reads JSON Schema 2020-12", v)
	}
	if err := d.Lint(); err != nil {
		t.Error(err)
	}
	ids := map[string]string{}
	for _, op := range d.Operations() {
		id, _ := op.Op["operationId"].(string)
		if prev, dup := ids[id]; dup || id == "" {
			t.Errorf("%s: operationId %q missing or also %s's", op.Pattern(), id, prev)
		}
		ids[id] = op.Pattern()
		if s, _ := op.Op["summary"].(string); s == "" {
			t.Errorf("%s has no summary", op.Pattern())
		}
		checkErrorResponses(t, d, op)
	}
	for _, ex := range exchanges(t, d) {
		checkExampleAgainstSchema(t, d, ex)
	}
}

// checkErrorResponses requires every JSON error answer to list the codes
// it may carry.
func checkErrorResponses(t *testing.T, d *openapi.Doc, op openapi.Operation) {
	for _, status := range d.Keys(op.Ptr + "/responses") {
		resp, _ := deref(d, op.Ptr+"/responses/"+status)
		content, _ := resp["content"].(map[string]any)
		if _, isJSON := content["application/json"]; isJSON && status >= "400" && len(stringList(resp["x-codes"])) == 0 {
			t.Errorf("%s %s: an error answer without x-codes", op.Pattern(), status)
		}
	}
}

// checkExampleAgainstSchema validates an example's answer, and its
// request when the request is meant to succeed, against their schemas.
func checkExampleAgainstSchema(t *testing.T, d *openapi.Doc, ex exchange) {
	if ex.schema != "" {
		if err := d.Validate(ex.schema, ex.want); err != nil {
			t.Errorf("%s: the answer example breaks its schema:\n%v", ex, err)
		}
	}
	if code := errorCode(ex.want); code != "" && !slices.Contains(ex.codes, code) {
		t.Errorf("%s: code %q is not among the answer's x-codes %v", ex, code, ex.codes)
	}
	if ex.hasBody && ex.status < 300 {
		if err := d.Validate(ex.op.Ptr+"/requestBody/content/application~1json/schema", ex.body); err != nil {
			t.Errorf("%s: the request example breaks its schema:\n%v", ex, err)
		}
	}
}

func errorCode(v any) string {
	m, _ := v.(map[string]any)
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestOpenAPI_ExamplesHoldAgainstTheServers(t *testing.T) {
	d := loadDoc(t)
	r := newRunner(t, d)
	sent := 0
	for _, ex := range exchanges(t, d) {
		for _, server := range ex.servers {
			if err := r.check(ex, server); err != nil {
				t.Errorf("%s at the %s:\n%v", ex, server, err)
			}
			sent++
		}
	}
	t.Logf("sent %d examples", sent)
	if sent < 100 {
		t.Errorf("sent %d examples; the document's examples were not all found", sent)
	}
}

// runner sends a document's examples to the servers.
type runner struct {
	t     *testing.T
	d     *openapi.Doc
	s     *servers
	reps  *replicas
	token string // bank-2's ledger session
}

func newRunner(t *testing.T, d *openapi.Doc) *runner {
	s := startServers(t)
	return &runner{t: t, d: d, s: s, reps: startReplicas(t), token: s.signIn(t, "bank-2")}
}

// check sends an example and holds the answer to it.
func (r *runner) check(ex exchange, server string) error {
	body, err := r.requestBody(ex)
	if err != nil {
		return err
	}
	base := map[string]string{"bank": r.s.bankURL, "ledger": r.s.ledgerURL}[server]
	if replicatedOnly(ex.op) {
		base = r.reps.url
	}
	a := send(r.t, ex.op.Method, base+ex.path, r.authorization(ex), body)
	if a.status != ex.status {
		return fmt.Errorf("status %d, want %d; the answer: %s", a.status, ex.status, a.body)
	}
	if got := mediaType(a.ctype); got != ex.media {
		return fmt.Errorf("content type %q, want %q", got, ex.media)
	}
	if ex.media != "application/json" {
		if string(a.body) != fmt.Sprint(ex.want) {
			return fmt.Errorf("answer %q, want %q", a.body, ex.want)
		}
		return nil
	}
	got, err := openapi.Decode(a.body)
	if err != nil {
		return fmt.Errorf("the answer is not JSON: %v: %s", err, a.body)
	}
	var errs []error
	if ex.schema != "" {
		if err := r.d.Validate(ex.schema, got); err != nil {
			errs = append(errs, fmt.Errorf("the answer breaks its schema: %w", err))
		}
	}
	if code := errorCode(got); code != "" && !slices.Contains(ex.codes, code) {
		errs = append(errs, fmt.Errorf("code %q is not among the documented %v", code, ex.codes))
	}
	for _, diff := range compare(ex.want, got, "", ex.varies) {
		errs = append(errs, errors.New(diff))
	}
	if len(errs) > 0 {
		errs = append(errs, fmt.Errorf("the answer: %s", a.body))
	}
	return errors.Join(errs...)
}

func (r *runner) authorization(ex exchange) string {
	if ex.auth != nil {
		return *ex.auth
	}
	sec, ok := ex.op.Op["security"].([]any)
	if !ok {
		sec, _ = r.d.Root["security"].([]any)
	}
	for _, req := range sec {
		for scheme := range req.(map[string]any) {
			switch scheme {
			case "adminToken":
				return "Bearer " + adminToken
			case "ledgerSession":
				return "Bearer " + r.token
			case "operatorToken":
				return "Bearer " + operatorToken
			}
		}
	}
	return ""
}

// requestBody is an example's body with the values that must be made
// anew for each call (its x-varies) made.
func (r *runner) requestBody(ex exchange) ([]byte, error) {
	if !ex.hasBody {
		return nil, nil
	}
	body := ex.body
	if len(ex.fresh) > 0 {
		m, ok := body.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("x-varies on a body that is not an object")
		}
		m = cloneMap(m)
		id, _ := ex.op.Op["operationId"].(string)
		for _, ptr := range ex.fresh {
			make, ok := freshValues[id+" "+ptr]
			if !ok {
				return nil, fmt.Errorf("the document says %s of the request varies, but the test cannot make one", ptr)
			}
			if err := make(r, m); err != nil {
				return nil, err
			}
		}
		body = m
	}
	return json.Marshal(body)
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// freshValues make the request values an example cannot show once for
// all, by operationId and pointer.
var freshValues = map[string]func(r *runner, body map[string]any) error{
	"addReplica /raft": func(r *runner, body map[string]any) error {
		body["raft"] = r.reps.joinerRaft
		return nil
	},
	"openSession /challenge": func(r *runner, body map[string]any) error {
		a := send(r.t, "GET", r.s.ledgerURL+"/v1/challenge", "", nil)
		var c struct{ Challenge string }
		if err := json.Unmarshal(a.body, &c); err != nil {
			return err
		}
		body["challenge"] = c.Challenge
		return nil
	},
	"openSession /signature": func(r *runner, body map[string]any) error {
		id, _ := body["intermediary"].(string)
		challenge, err := base64.StdEncoding.DecodeString(fmt.Sprint(body["challenge"]))
		if err != nil {
			return err
		}
		sig := r.s.sessionRequest(ledger.AccountID(id), challenge)["signature"]
		body["signature"] = sig
		return nil
	},
	"registerDevice /cert": func(r *runner, body map[string]any) error {
		pol := offline.DefaultPolicy()
		now := time.Now()
		cert, err := offline.IssueDeviceCert(r.s.keys["bank-2"], offline.DeviceCert{Serial: taroPurseSerial(),
			Key: exampleKey("taro-purse").Public().(ed25519.PublicKey), BankID: "bank-2", Limits: pol.Limits,
			Issued: now, Expires: now.Add(pol.CertLifetime)})
		if err != nil {
			return err
		}
		body["cert"] = cert.Marshal()
		return nil
	},
}

// taroPurseSerial is the serial of the purse the offline examples register.
func taroPurseSerial() offline.Serial {
	var s offline.Serial
	sum := sha256.Sum256([]byte("taro-purse serial"))
	copy(s[:], sum[:])
	return s
}
