package openapi_test

import (
	"encoding/json"
	"fmt"
	"math/big"
	"mime"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/openapi"
)

// docPath is the document outside integrators build on.
const docPath = "../../docs/openapi.yaml"

// serverNames maps the document's server URLs to the servers the test runs.
var serverNames = map[string]string{"http://127.0.0.1:7501": "bank", "http://127.0.0.1:7400": "ledger"}

func loadDoc(t testing.TB) *openapi.Doc {
	t.Helper()
	d, err := openapi.Load(docPath)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// exchange is one example the document shows: a request, and the answer
// it gets from the servers the path names.
type exchange struct {
	op      openapi.Operation
	name    string
	servers []string
	path    string // with its parameters, and its query
	body    any    // nil: none
	hasBody bool
	reqPtr  string   // the request example, for messages
	fresh   []string // request values made anew for each call (x-varies)
	auth    *string  // the Authorization header instead of the right one
	status  int
	media   string
	want    any
	varies  []string
	schema  string   // pointer to the answer's schema; "" when none
	codes   []string // x-codes: every error code the answer may carry
	wantPtr string
}

func (e exchange) String() string { return e.op.Pattern() + " example " + strconv.Quote(e.name) }

// exchanges lists the document's examples in its order: for each
// operation, the request examples first, then the answers shown without a
// request. It fails on an example it could not send: a request example
// without an answer of the same name, a name two answers share, a path
// parameter with no value.
func exchanges(t testing.TB, d *openapi.Doc) []exchange {
	t.Helper()
	var out []exchange
	for _, op := range d.Operations() {
		if skipped(op) {
			continue
		}
		answers := answerExamples(t, d, op)
		var names []string
		for _, name := range requestExampleNames(d, op) {
			if _, ok := answers[name]; !ok {
				t.Errorf("%s: request example %q has no answer of the same name", op.Pattern(), name)
				continue
			}
			names = append(names, name)
		}
		for _, name := range answerOrder(d, op) {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		for _, name := range names {
			ex := answers[name]
			ex.op, ex.name, ex.servers = op, name, opServers(t, op)
			fillRequest(t, d, &ex)
			out = append(out, ex)
		}
	}
	return out
}

// skipped are the operations whose examples are not sent here: the
// websocket, which docs/protocol.md documents and protocol's tests hold to
// the code, and what the cbdc process serves beside the handlers, which
// cmd/cbdc's tests send.
func skipped(op openapi.Operation) bool {
	if op.Item["x-served-by-process"] == true {
		return true
	}
	resp, _ := op.Op["responses"].(map[string]any)
	_, ws := resp["101"]
	return ws && len(resp) == 1
}

func opServers(t testing.TB, op openapi.Operation) []string {
	list, _ := op.Item["servers"].([]any)
	var out []string
	for _, s := range list {
		u, _ := s.(map[string]any)["url"].(string)
		name, ok := serverNames[u]
		if !ok {
			t.Errorf("%s: server %q is neither the bank's nor the ledger's", op.Path, u)
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		t.Errorf("%s names no server", op.Path)
	}
	return out
}

func requestExampleNames(d *openapi.Doc, op openapi.Operation) []string {
	return d.Keys(op.Ptr + "/requestBody/content/application~1json/examples")
}

// answerOrder lists the names of the answer examples in document order.
func answerOrder(d *openapi.Doc, op openapi.Operation) []string {
	var names []string
	for _, status := range d.Keys(op.Ptr + "/responses") {
		resp, ptr := deref(d, op.Ptr+"/responses/"+status)
		content, _ := resp["content"].(map[string]any)
		for _, media := range d.Keys(ptr + "/content") {
			if _, ok := content[media]; ok {
				names = append(names, d.Keys(ptr+"/content/"+openapi.Pointer(media)[1:]+"/examples")...)
			}
		}
	}
	return names
}

func deref(d *openapi.Doc, ptr string) (map[string]any, string) {
	v, _ := d.Get(ptr)
	v, ptr, _ = d.Deref(v, ptr)
	m, _ := v.(map[string]any)
	return m, ptr
}

// answerExamples returns the operation's answer examples by name.
func answerExamples(t testing.TB, d *openapi.Doc, op openapi.Operation) map[string]exchange {
	out := map[string]exchange{}
	for _, status := range d.Keys(op.Ptr + "/responses") {
		resp, ptr := deref(d, op.Ptr+"/responses/"+status)
		code, err := strconv.Atoi(status)
		if err != nil {
			t.Errorf("%s: response %q is not a status", op.Pattern(), status)
			continue
		}
		codes := stringList(resp["x-codes"])
		content, _ := resp["content"].(map[string]any)
		for _, media := range d.Keys(ptr + "/content") {
			mt, _ := content[media].(map[string]any)
			mptr := ptr + "/content/" + openapi.Pointer(media)[1:]
			schema := ""
			if _, ok := mt["schema"]; ok {
				schema = mptr + "/schema"
			}
			examples, _ := mt["examples"].(map[string]any)
			for _, name := range d.Keys(mptr + "/examples") {
				if _, dup := out[name]; dup {
					t.Errorf("%s: two answers are called %q", op.Pattern(), name)
				}
				ex, _ := examples[name].(map[string]any)
				e := exchange{status: code, media: media, want: ex["value"], varies: stringList(ex["x-varies"]),
					schema: schema, codes: codes, wantPtr: mptr + "/examples/" + name}
				if a, ok := ex["x-authorization"].(string); ok {
					e.auth = &a
				}
				out[name] = e
			}
		}
	}
	return out
}

func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// fillRequest gives an exchange its path, query and body.
func fillRequest(t testing.TB, d *openapi.Doc, ex *exchange) {
	path := ex.op.Path
	var query []string
	params, _ := ex.op.Op["parameters"].([]any)
	for i := range params {
		p, _ := deref(d, fmt.Sprintf("%s/parameters/%d", ex.op.Ptr, i))
		name, _ := p["name"].(string)
		examples, _ := p["examples"].(map[string]any)
		exv, _ := examples[ex.name].(map[string]any)
		v, ok := exv["value"]
		switch p["in"] {
		case "path":
			if !ok {
				schema, _ := p["schema"].(map[string]any)
				first := stringList(schema["examples"])
				if len(first) == 0 {
					t.Errorf("%s: no value for path parameter %s", ex, name)
					continue
				}
				v = first[0]
			}
			path = strings.ReplaceAll(path, "{"+name+"}", url.PathEscape(fmt.Sprint(v)))
		case "query":
			if ok {
				query = append(query, url.QueryEscape(name)+"="+url.QueryEscape(fmt.Sprint(v)))
			}
		}
	}
	if len(query) > 0 {
		path += "?" + strings.Join(query, "&")
	}
	ex.path = path
	ptr := ex.op.Ptr + "/requestBody/content/application~1json/examples/" + ex.name
	if v, ok := d.Get(ptr); ok {
		m, _ := v.(map[string]any)
		ex.body, ex.hasBody, ex.reqPtr, ex.fresh = m["value"], true, ptr, stringList(m["x-varies"])
	}
}

// compare holds an answer to its example: the same shape, and the same
// values except where the example says they vary (x-varies, with * for
// any one array index) and for times, which always vary.
func compare(want, got any, at string, varies []string) []string {
	if variesAt(at, varies) {
		if kind(want) != kind(got) {
			return []string{fmt.Sprintf("%s: want a %s, got %v", where(at), kind(want), got)}
		}
		return nil
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %v", where(at), got)}
		}
		var diffs []string
		for _, k := range unionKeys(w, g) {
			wv, inW := w[k]
			gv, inG := g[k]
			switch {
			case !inG:
				diffs = append(diffs, fmt.Sprintf("%s/%s: missing from the answer", at, k))
			case !inW:
				diffs = append(diffs, fmt.Sprintf("%s/%s: %v is in the answer but not in the example", at, k, gv))
			default:
				diffs = append(diffs, compare(wv, gv, at+"/"+k, varies)...)
			}
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %d items, got %v", where(at), len(w), got)}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, compare(w[i], g[i], fmt.Sprintf("%s/%d", at, i), varies)...)
		}
		return diffs
	case string:
		if g, ok := got.(string); ok && isTime(w) && isTime(g) {
			return nil
		}
	case json.Number:
		g, ok := got.(json.Number)
		if ok && sameNumber(w, g) {
			return nil
		}
	}
	if !reflect.DeepEqual(want, got) {
		return []string{fmt.Sprintf("%s: want %v, got %v", where(at), want, got)}
	}
	return nil
}

func where(at string) string {
	if at == "" {
		return "the answer"
	}
	return at
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "list"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func variesAt(at string, varies []string) bool {
	for _, v := range varies {
		if matchPointer(v, at) {
			return true
		}
	}
	return false
}

func matchPointer(pattern, at string) bool {
	p, a := strings.Split(pattern, "/"), strings.Split(at, "/")
	if len(p) != len(a) {
		return false
	}
	for i := range p {
		if p[i] != a[i] && !(p[i] == "*" && isIndex(a[i])) {
			return false
		}
	}
	return true
}

func isIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

func isTime(s string) bool {
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

func sameNumber(a, b json.Number) bool {
	x, ok1 := new(big.Float).SetString(string(a))
	y, ok2 := new(big.Float).SetString(string(b))
	return ok1 && ok2 && x.Cmp(y) == 0
}

func unionKeys(a, b map[string]any) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// mediaType is a Content-Type without its parameters.
func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ct
	}
	return mt
}

func itoa(i int) string { return strconv.Itoa(i) }

func mustRead(t testing.TB, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func decodeJSON(raw []byte) (any, error) { return openapi.Decode(raw) }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
