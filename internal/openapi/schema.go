package openapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Keywords are the schema keywords Validate knows. Those under
// annotations say things for people and constrain nothing.
var (
	assertions = []string{"$ref", "type", "enum", "const", "properties", "required", "additionalProperties",
		"items", "minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum", "minLength", "maxLength",
		"pattern", "format", "oneOf", "anyOf", "allOf"}
	annotations = []string{"title", "description", "examples", "default", "deprecated", "readOnly", "writeOnly"}
	formats     = []string{"date-time", "byte", "int64", "int32", "uint64"}
)

// Validate checks value (JSON values as Decode gives them) against the
// schema at the JSON pointer ptr, and returns every place value breaks
// it, or an error naming a keyword of the schema it does not know.
//
// It knows type (one or a list), enum, const, properties, required,
// additionalProperties (false or a schema), items, minItems, maxItems,
// minimum, maximum, exclusiveMinimum, minLength, maxLength, pattern,
// format (date-time, byte as standard base64, int64, int32, uint64),
// oneOf, anyOf, allOf and local $ref; title, description, examples,
// default, deprecated, readOnly, writeOnly and x- extensions are
// annotations.
func (d *Doc) Validate(ptr string, value any) error {
	schema, ok := d.Get(ptr)
	if !ok {
		return fmt.Errorf("openapi: no schema at %s", ptr)
	}
	return d.check(schema, ptr, value, "")
}

// SchemaError is a schema the checker cannot apply.
type SchemaError struct{ Ptr, Problem string }

func (e *SchemaError) Error() string { return "openapi: schema " + e.Ptr + ": " + e.Problem }

func (d *Doc) check(schema any, ptr string, v any, at string) error {
	if b, ok := schema.(bool); ok {
		if !b {
			return fmt.Errorf("%s: nothing is allowed here", where(at))
		}
		return nil
	}
	s, ok := schema.(map[string]any)
	if !ok {
		return &SchemaError{ptr, "a schema is an object or a boolean"}
	}
	for k := range s {
		if !slices.Contains(assertions, k) && !slices.Contains(annotations, k) && !strings.HasPrefix(k, "x-") {
			return &SchemaError{ptr, fmt.Sprintf("keyword %q is not one the checker knows", k)}
		}
	}
	if _, ok := s["$ref"]; ok {
		target, tptr, err := d.Deref(map[string]any{"$ref": s["$ref"]}, ptr)
		if err != nil {
			return &SchemaError{ptr, err.Error()}
		}
		if err := d.check(target, tptr, v, at); err != nil {
			return err
		}
	}
	var errs []error
	for _, c := range []checkFunc{checkType, checkEnum, checkObject, checkArray, checkNumber, checkString, checkFormat, checkCombinations} {
		if err := c(d, s, ptr, v, at); err != nil {
			var se *SchemaError
			if errors.As(err, &se) {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

type checkFunc func(d *Doc, s map[string]any, ptr string, v any, at string) error

func where(at string) string {
	if at == "" {
		return "the value"
	}
	return at
}

// jsonType names the JSON type of a value as a schema's type does.
func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if isInteger(x) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func isInteger(n json.Number) bool {
	f, ok := new(big.Float).SetString(string(n))
	return ok && f.IsInt()
}

func checkType(_ *Doc, s map[string]any, ptr string, v any, at string) error {
	t, ok := s["type"]
	if !ok {
		return nil
	}
	var types []string
	switch x := t.(type) {
	case string:
		types = []string{x}
	case []any:
		for _, e := range x {
			name, ok := e.(string)
			if !ok {
				return &SchemaError{ptr, "type lists names"}
			}
			types = append(types, name)
		}
	default:
		return &SchemaError{ptr, "type is a name or a list of names"}
	}
	got := jsonType(v)
	for _, want := range types {
		if want == got || want == "number" && got == "integer" {
			return nil
		}
		if !slices.Contains([]string{"null", "boolean", "string", "integer", "number", "array", "object"}, want) {
			return &SchemaError{ptr, fmt.Sprintf("unknown type %q", want)}
		}
	}
	return fmt.Errorf("%s: want %s, got %s", where(at), strings.Join(types, " or "), got)
}

func checkEnum(_ *Doc, s map[string]any, ptr string, v any, at string) error {
	if c, ok := s["const"]; ok && !equal(c, v) {
		return fmt.Errorf("%s: want %v, got %v", where(at), c, v)
	}
	e, ok := s["enum"]
	if !ok {
		return nil
	}
	list, ok := e.([]any)
	if !ok {
		return &SchemaError{ptr, "enum is a list"}
	}
	for _, x := range list {
		if equal(x, v) {
			return nil
		}
	}
	return fmt.Errorf("%s: %v is not one of %v", where(at), v, list)
}

// equal compares JSON values; numbers by value.
func equal(a, b any) bool {
	na, aNum := a.(json.Number)
	nb, bNum := b.(json.Number)
	if aNum && bNum {
		fa, ok1 := new(big.Float).SetString(string(na))
		fb, ok2 := new(big.Float).SetString(string(nb))
		return ok1 && ok2 && fa.Cmp(fb) == 0
	}
	return reflect.DeepEqual(a, b)
}

func checkObject(d *Doc, s map[string]any, ptr string, v any, at string) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	var errs []error
	req, _ := s["required"].([]any)
	for _, r := range req {
		if name, _ := r.(string); name != "" {
			if _, ok := obj[name]; !ok {
				errs = append(errs, fmt.Errorf("%s: required property %q is missing", where(at), name))
			}
		}
	}
	props, _ := s["properties"].(map[string]any)
	extra, hasExtra := s["additionalProperties"]
	for _, k := range sortedKeys(obj) {
		sub, ok := props[k]
		subPtr := ptr + "/properties/" + escape(k)
		if !ok {
			if !hasExtra {
				continue
			}
			sub, subPtr = extra, ptr+"/additionalProperties"
			if b, isBool := extra.(bool); isBool && !b {
				errs = append(errs, fmt.Errorf("%s: property %q is not in the schema", where(at), k))
				continue
			}
		}
		if err := d.check(sub, subPtr, obj[k], at+"/"+escape(k)); err != nil {
			if se := (*SchemaError)(nil); errors.As(err, &se) {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkArray(d *Doc, s map[string]any, ptr string, v any, at string) error {
	arr, ok := v.([]any)
	if !ok {
		return nil
	}
	var errs []error
	if n, ok := num(s, "minItems"); ok && float64(len(arr)) < n {
		errs = append(errs, fmt.Errorf("%s: %d items, want at least %v", where(at), len(arr), n))
	}
	if n, ok := num(s, "maxItems"); ok && float64(len(arr)) > n {
		errs = append(errs, fmt.Errorf("%s: %d items, want at most %v", where(at), len(arr), n))
	}
	if items, ok := s["items"]; ok {
		for i, x := range arr {
			if err := d.check(items, ptr+"/items", x, fmt.Sprintf("%s/%d", at, i)); err != nil {
				if se := (*SchemaError)(nil); errors.As(err, &se) {
					return err
				}
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func num(s map[string]any, key string) (float64, bool) {
	n, ok := s[key].(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

func bigNum(s map[string]any, key string) (*big.Float, bool) {
	n, ok := s[key].(json.Number)
	if !ok {
		return nil, false
	}
	return new(big.Float).SetString(string(n))
}

func checkNumber(_ *Doc, s map[string]any, _ string, v any, at string) error {
	n, ok := v.(json.Number)
	if !ok {
		return nil
	}
	x, ok := new(big.Float).SetString(string(n))
	if !ok {
		return fmt.Errorf("%s: %q is not a number", where(at), n)
	}
	if m, ok := bigNum(s, "minimum"); ok && x.Cmp(m) < 0 {
		return fmt.Errorf("%s: %s is below the minimum %s", where(at), n, s["minimum"])
	}
	if m, ok := bigNum(s, "exclusiveMinimum"); ok && x.Cmp(m) <= 0 {
		return fmt.Errorf("%s: %s is not above %s", where(at), n, s["exclusiveMinimum"])
	}
	if m, ok := bigNum(s, "maximum"); ok && x.Cmp(m) > 0 {
		return fmt.Errorf("%s: %s is above the maximum %s", where(at), n, s["maximum"])
	}
	return nil
}

func checkString(_ *Doc, s map[string]any, ptr string, v any, at string) error {
	str, ok := v.(string)
	if !ok {
		return nil
	}
	n := float64(utf8.RuneCountInString(str))
	if m, ok := num(s, "minLength"); ok && n < m {
		return fmt.Errorf("%s: %q is shorter than %v characters", where(at), str, m)
	}
	if m, ok := num(s, "maxLength"); ok && n > m {
		return fmt.Errorf("%s: %q is longer than %v characters", where(at), str, m)
	}
	if p, ok := s["pattern"].(string); ok {
		re, err := regexp.Compile(p)
		if err != nil {
			return &SchemaError{ptr, "pattern: " + err.Error()}
		}
		if !re.MatchString(str) {
			return fmt.Errorf("%s: %q does not match %s", where(at), str, p)
		}
	}
	return nil
}

func checkFormat(_ *Doc, s map[string]any, ptr string, v any, at string) error {
	f, ok := s["format"].(string)
	if !ok {
		return nil
	}
	if !slices.Contains(formats, f) {
		return &SchemaError{ptr, fmt.Sprintf("format %q is not one the checker knows", f)}
	}
	bits := map[string]int{"int64": 64, "int32": 32, "uint64": 64}
	switch x := v.(type) {
	case string:
		switch f {
		case "date-time":
			if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
				return fmt.Errorf("%s: %q is not an RFC 3339 time", where(at), x)
			}
		case "byte":
			if _, err := base64.StdEncoding.DecodeString(x); err != nil {
				return fmt.Errorf("%s: %q is not standard base64", where(at), x)
			}
		}
	case json.Number:
		if b, ok := bits[f]; ok && !fits(x, b, f == "uint64") {
			return fmt.Errorf("%s: %s does not fit %s", where(at), x, f)
		}
	}
	return nil
}

func fits(n json.Number, bits int, unsigned bool) bool {
	i, ok := new(big.Int).SetString(string(n), 10)
	if !ok {
		return false
	}
	if unsigned {
		return i.Sign() >= 0 && i.BitLen() <= bits
	}
	lim := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	return i.Cmp(new(big.Int).Neg(lim)) >= 0 && i.Cmp(lim) < 0
}

func checkCombinations(d *Doc, s map[string]any, ptr string, v any, at string) error {
	for _, kw := range []string{"allOf", "anyOf", "oneOf"} {
		raw, ok := s[kw]
		if !ok {
			continue
		}
		list, ok := raw.([]any)
		if !ok || len(list) == 0 {
			return &SchemaError{ptr, kw + " is a list of schemas"}
		}
		var fails []error
		for i, sub := range list {
			if err := d.check(sub, fmt.Sprintf("%s/%s/%d", ptr, kw, i), v, at); err != nil {
				if se := (*SchemaError)(nil); errors.As(err, &se) {
					return err
				}
				fails = append(fails, err)
			}
		}
		passed := len(list) - len(fails)
		switch {
		case kw == "allOf" && len(fails) > 0:
			return errors.Join(fails...)
		case kw == "anyOf" && passed == 0:
			return fmt.Errorf("%s: matches none of anyOf: %w", where(at), errors.Join(fails...))
		case kw == "oneOf" && passed != 1:
			return fmt.Errorf("%s: matches %d of oneOf, want exactly one: %w", where(at), passed, errors.Join(fails...))
		}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
