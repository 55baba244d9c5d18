package openapi_test

import (
	"encoding/json"
	"testing"
)

// The runner is the test's eyes: these cases show it fails an example
// that no longer matches what the server answers, and that x-varies hides
// only the values it names.
func TestOpenAPI_RunnerCatchesWrongExamples(t *testing.T) {
	d := loadDoc(t)
	r := newRunner(t, d)
	find := func(pattern, name string) exchange {
		for _, ex := range exchanges(t, d) {
			if ex.op.Pattern() == pattern && ex.name == name {
				return ex
			}
		}
		t.Fatalf("no example %q of %s", name, pattern)
		return exchange{}
	}
	tiers := find("GET /admin/tiers", "default_tiers")
	unknown := find("GET /admin/customers/{id}", "unknown_customer")
	for _, ex := range []exchange{tiers, unknown} {
		if err := r.check(ex, "bank"); err != nil {
			t.Fatalf("%s as documented: %v", ex, err)
		}
	}
	wrongToken := "Bearer 0000"
	for _, tc := range []struct {
		name   string
		ex     exchange
		passes bool
	}{
		{"a changed value", with(tiers, func(e *exchange) { e.want = edit(t, e.want, `[0,"holding_limit"]`, json.Number("100001")) }), false},
		{"a changed value that x-varies names", with(tiers, func(e *exchange) {
			e.want = edit(t, e.want, `[0,"holding_limit"]`, json.Number("100001"))
			e.varies = []string{"/*/holding_limit"}
		}), true},
		{"x-varies names it, but the type differs", with(tiers, func(e *exchange) {
			e.want = edit(t, e.want, `[0,"holding_limit"]`, "100000")
			e.varies = []string{"/0/holding_limit"}
		}), false},
		{"x-varies names another value", with(tiers, func(e *exchange) {
			e.want = edit(t, e.want, `[0,"holding_limit"]`, json.Number("100001"))
			e.varies = []string{"/0/payment_limit"}
		}), false},
		{"a tier left out", with(tiers, func(e *exchange) { e.want = e.want.([]any)[1:] }), false},
		{"a property the server does not send", with(tiers, func(e *exchange) { e.want = edit(t, e.want, `[0,"currency"]`, "JPY") }), false},
		{"a property left out", with(tiers, func(e *exchange) { e.want = remove(t, e.want, 0, "payment_limit") }), false},
		{"another status", with(tiers, func(e *exchange) { e.status = 201 }), false},
		{"another media type", with(tiers, func(e *exchange) { e.media = "text/plain" }), false},
		{"another schema", with(tiers, func(e *exchange) { e.schema = "/components/schemas/Status" }), false},
		{"without the right token", with(tiers, func(e *exchange) { e.auth = &wrongToken }), false},
		{"an error code not listed", with(unknown, func(e *exchange) { e.codes = []string{"unknown_customer"} }), false},
		{"a changed message", with(unknown, func(e *exchange) {
			e.want = edit(t, e.want, `["error","message"]`, "customer c-99 not found")
		}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := r.check(tc.ex, "bank")
			if tc.passes && err != nil {
				t.Errorf("failed: %v", err)
			}
			if !tc.passes && err == nil {
				t.Errorf("passed; the runner would not notice the document drifting")
			}
		})
	}
}

func with(ex exchange, change func(*exchange)) exchange {
	ex.want = deepCopy(ex.want)
	change(&ex)
	return ex
}

func deepCopy(v any) any {
	raw, _ := json.Marshal(v)
	out, _ := decodeJSON(raw)
	return out
}

// edit sets the value at a path given as a JSON list of keys and indexes.
func edit(t *testing.T, v any, path string, value any) any {
	t.Helper()
	var steps []any
	if err := json.Unmarshal([]byte(path), &steps); err != nil {
		t.Fatal(err)
	}
	cur := v
	for i, s := range steps {
		last := i == len(steps)-1
		switch k := s.(type) {
		case string:
			m := cur.(map[string]any)
			if last {
				m[k] = value
			}
			cur = m[k]
		case float64:
			l := cur.([]any)
			if last {
				l[int(k)] = value
			}
			cur = l[int(k)]
		}
	}
	return v
}

func remove(t *testing.T, v any, index int, key string) any {
	t.Helper()
	delete(v.([]any)[index].(map[string]any), key)
	return v
}
