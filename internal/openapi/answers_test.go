package openapi_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/internal/openapi"
)

// documentedAnswers are the document's successful JSON answer examples
// with the schemas they are shown under.
func documentedAnswers(t *testing.T, d *openapi.Doc) []exchange {
	var out []exchange
	for _, ex := range exchanges(t, d) {
		if ex.status < 300 && ex.media == "application/json" && ex.schema != "" {
			out = append(out, ex)
		}
	}
	if len(out) < 30 {
		t.Fatalf("found %d successful answer examples", len(out))
	}
	return out
}

// Every value in every documented answer is typed, and every object is
// closed: change any one value to another JSON type, or add a property to
// any object, and the answer no longer validates. A schema that let
// either through would let a server's answer drift unnoticed.
func TestOpenAPI_MutatedAnswersFailTheirSchemas(t *testing.T) {
	d := loadDoc(t)
	checked := 0
	for _, ex := range documentedAnswers(t, d) {
		for _, m := range mutations(ex.want, "") {
			checked++
			if err := d.Validate(ex.schema, m.value); err == nil {
				t.Errorf("%s: the answer with %s still validates against %s", ex, m.what, ex.schema)
			}
		}
	}
	if checked < 300 {
		t.Errorf("tried %d mutations; the examples were not walked", checked)
	}
}

type mutation struct {
	what  string
	value any
}

// mutations returns copies of v, each with one value given another JSON
// type or one object given an extra property.
func mutations(v any, at string) []mutation {
	out := []mutation{{fmt.Sprintf("%s as %v", where(at), otherType(v)), otherType(v)}}
	switch x := v.(type) {
	case map[string]any:
		extra := cloneMap(x)
		extra["x_undocumented"] = true
		out = append(out, mutation{where(at) + " with an undocumented property", extra})
		for k, child := range x {
			for _, m := range mutations(child, at+"/"+k) {
				c := cloneMap(x)
				c[k] = m.value
				out = append(out, mutation{m.what, c})
			}
		}
	case []any:
		for i, child := range x {
			for _, m := range mutations(child, fmt.Sprintf("%s/%d", at, i)) {
				c := append([]any(nil), x...)
				c[i] = m.value
				out = append(out, mutation{m.what, c})
			}
		}
	}
	return out
}

// otherType is a value of another JSON type than v.
func otherType(v any) any {
	switch v.(type) {
	case string:
		return json.Number("7")
	case nil, bool:
		return "7"
	case json.Number:
		return "7"
	}
	return true // for objects and lists
}

// A documented answer never validates against another answer's schema:
// each schema tells its answers apart, so a server answering the wrong
// shape is caught.
func TestOpenAPI_AnswersFailOtherSchemas(t *testing.T) {
	d := loadDoc(t)
	answers := documentedAnswers(t, d)
	for _, ex := range answers {
		for _, other := range answers {
			if sameSchema(d, ex.schema, other.schema) {
				continue
			}
			if err := d.Validate(other.schema, ex.want); err == nil {
				t.Errorf("%s validates against %s's schema too", ex, other)
			}
		}
	}
}

// sameSchema reports whether two pointers name the same schema, directly
// or through $ref.
func sameSchema(d *openapi.Doc, a, b string) bool {
	resolve := func(ptr string) string {
		v, _ := d.Get(ptr)
		_, p, _ := d.Deref(v, ptr)
		return p
	}
	return resolve(a) == resolve(b)
}
