package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Doc is an OpenAPI document read into JSON values.
type Doc struct {
	Root  map[string]any
	order map[string][]string // each mapping's keys in document order, by JSON pointer
}

// Load reads the YAML (or JSON) document at path.
func Load(path string) (*Doc, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	d, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("openapi: %s: %w", path, err)
	}
	return d, nil
}

// Parse reads a YAML (or JSON) document.
func Parse(raw []byte) (*Doc, error) {
	var node yaml.Node
	if err := yaml.Unmarshal(raw, &node); err != nil {
		return nil, err
	}
	if node.Kind != yaml.DocumentNode || len(node.Content) != 1 {
		return nil, fmt.Errorf("not one YAML document")
	}
	d := &Doc{order: map[string][]string{}}
	v, err := d.convert(node.Content[0], "")
	if err != nil {
		return nil, err
	}
	// Through JSON and back, so that numbers are json.Number as in an
	// answer decoded with UseNumber, and the two compare alike.
	if v, err = Normalize(v); err != nil {
		return nil, err
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the document is not a mapping")
	}
	d.Root = root
	return d, nil
}

// Normalize turns a Go value into the JSON values Decode gives.
func Normalize(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return Decode(raw)
}

// Decode reads one JSON value with numbers as json.Number.
func Decode(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return v, nil
}

func (d *Doc) convert(n *yaml.Node, ptr string) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return d.convert(n.Alias, ptr)
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			var err error
			if out[i], err = d.convert(c, fmt.Sprintf("%s/%d", ptr, i)); err != nil {
				return nil, err
			}
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		var keys []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := out[k]; dup {
				return nil, fmt.Errorf("line %d: key %q twice in %s", n.Content[i].Line, k, ptr)
			}
			v, err := d.convert(n.Content[i+1], ptr+"/"+escape(k))
			if err != nil {
				return nil, err
			}
			out[k] = v
			keys = append(keys, k)
		}
		d.order[ptr] = keys
		return out, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, fmt.Errorf("line %d: %w", n.Line, err)
	}
	return v, nil
}

// escape writes a key as a JSON pointer token (RFC 6901).
func escape(k string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
}

func unescape(k string) string {
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(k)
}

// Pointer joins keys into a JSON pointer.
func Pointer(keys ...string) string {
	var b strings.Builder
	for _, k := range keys {
		b.WriteString("/" + escape(k))
	}
	return b.String()
}

// Keys returns the keys of the mapping at the JSON pointer ptr in the
// order the document gives them.
func (d *Doc) Keys(ptr string) []string { return slices.Clone(d.order[ptr]) }

// Get returns the value at the JSON pointer ptr ("" is the whole document).
func (d *Doc) Get(ptr string) (any, bool) {
	var v any = d.Root
	if ptr == "" {
		return v, true
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, false
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[unescape(tok)]; !ok {
				return nil, false
			}
		case []any:
			i := -1
			fmt.Sscanf(tok, "%d", &i)
			if i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// Deref follows a local $ref ("#/components/...") until it reaches a
// value that is not one, and returns that value and its pointer.
func (d *Doc) Deref(v any, ptr string) (any, string, error) {
	for range 32 {
		m, ok := v.(map[string]any)
		if !ok {
			return v, ptr, nil
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v, ptr, nil
		}
		target, ok := strings.CutPrefix(ref, "#")
		if !ok {
			return nil, ptr, fmt.Errorf("%s: only local references are supported, not %q", ptr, ref)
		}
		if v, ok = d.Get(target); !ok {
			return nil, ptr, fmt.Errorf("%s: %q refers to nothing", ptr, ref)
		}
		ptr = target
	}
	return nil, ptr, fmt.Errorf("%s: references go round in a circle", ptr)
}

// Methods are the HTTP methods an OpenAPI path item may hold.
var Methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Operation is one method of one path.
type Operation struct {
	Method string // upper case, as http.ServeMux patterns have it
	Path   string
	Ptr    string         // JSON pointer to the operation object
	Op     map[string]any // the operation object
	Item   map[string]any // its path item
}

// Pattern is the operation as an http.ServeMux pattern: "GET /v1/totals".
func (o Operation) Pattern() string { return o.Method + " " + o.Path }

// Operations lists the document's operations in document order.
func (d *Doc) Operations() []Operation {
	var out []Operation
	paths, _ := d.Root["paths"].(map[string]any)
	for _, p := range d.Keys("/paths") {
		item, _ := paths[p].(map[string]any)
		for _, m := range d.Keys(Pointer("paths", p)) {
			op, ok := item[m].(map[string]any)
			if !ok || !slices.Contains(Methods, m) {
				continue
			}
			out = append(out, Operation{Method: strings.ToUpper(m), Path: p, Ptr: Pointer("paths", p, m), Op: op, Item: item})
		}
	}
	return out
}
