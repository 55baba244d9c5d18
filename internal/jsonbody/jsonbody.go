package jsonbody

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"reflect"
	"strings"
	"time"
)

// Error is a body that could not be read as the endpoint's JSON.
type Error struct {
	Message  string // a sentence for people, naming the field at fault where it can
	TooLarge bool   // the body was over the limit
}

func (e *Error) Error() string { return e.Message }

// Decode reads one JSON value of at most limit bytes from r's body into v,
// refusing fields v does not have. Its error is an *Error.
func Decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		return &Error{Message: Explain(err, v), TooLarge: errors.As(err, &tooBig)}
	}
	return nil
}

// Explain says in plain words why decoding JSON into v failed with err.
func Explain(err error, v any) string {
	var (
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
		tooBig    *http.MaxBytesError
		base64Err base64.CorruptInputError
		timeErr   *time.ParseError
	)
	switch {
	case errors.As(err, &typeErr):
		return explainType(typeErr, reflect.TypeOf(v))
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("the body is not valid JSON: %s (at byte %d)", strings.TrimPrefix(syntaxErr.Error(), "json: "), syntaxErr.Offset)
	case errors.As(err, &tooBig):
		return fmt.Sprintf("the body is over %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return "the body is empty; it must be a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends before its JSON does"
	case errors.As(err, &base64Err):
		return fmt.Sprintf("a value that must be base64 (standard alphabet, padded) is not: bad character at position %d", int64(base64Err))
	case errors.As(err, &timeErr):
		return fmt.Sprintf("a time must be written as in RFC 3339, such as 2026-04-01T09:00:00Z, not %q", timeErr.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return unknownField(name, reflect.TypeOf(v))
	}
	if strings.HasPrefix(err.Error(), "Time.UnmarshalJSON") {
		return "a time must be a string written as in RFC 3339, such as 2026-04-01T09:00:00Z"
	}
	return "the body could not be read: " + err.Error()
}

// unknownField names a field the body has and v has not; when v is flat,
// it lists the fields v takes.
func unknownField(quoted string, t reflect.Type) string {
	msg := "the body has a field " + quoted + " that this request does not take"
	if names, flat := fieldNames(t); flat && len(names) > 0 {
		msg += " (it takes " + strings.Join(names, ", ") + ")"
	}
	return msg
}

func explainType(e *json.UnmarshalTypeError, top reflect.Type) string {
	if e.Field == "" {
		return "the body must be " + describe(e.Type, "") + ", not " + describeValue(e.Value)
	}
	unit := ""
	f, ok := fieldOf(top, strings.Split(e.Field, "."))
	if ok {
		unit = f.Tag.Get("unit")
		if e.Type.Kind() == reflect.Uint8 { // a list given for bytes: encoding/json takes numbers there
			if want := describe(f.Type, ""); want != "base64 text" {
				return e.Field + " must be " + want + " (JSON strings)"
			}
			return e.Field + " must be base64 text (a JSON string)"
		}
	}
	want := describe(e.Type, unit)
	if r, isInt := intRange(e.Type); isInt {
		if n, ok := new(big.Float).SetString(strings.TrimPrefix(e.Value, "number ")); ok && n.IsInt() {
			want += " from " + r
		}
	}
	return e.Field + " must be " + want + ", not " + describeValue(e.Value)
}

// describe says what a Go type takes in JSON, in words.
func describe(t reflect.Type, unit string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	of := ""
	if unit != "" {
		of = " of " + unit
	}
	switch {
	case t == reflect.TypeFor[time.Time]():
		return "a time such as 2026-04-01T09:00:00Z"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return "base64 text"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Slice && t.Elem().Elem().Kind() == reflect.Uint8:
		return "a list of base64 texts"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number" + of
	case reflect.Float32, reflect.Float64:
		return "a number" + of
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "a JSON object"
}

// intRange is the range of an integer type, in words.
func intRange(t reflect.Type) (string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := t.Bits()
		return fmt.Sprintf("%d to %d", int64(-1)<<(bits-1), uint64(1)<<(bits-1)-1), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("0 to %d", ^uint64(0)>>(64-t.Bits())), true
	}
	return "", false
}

// describeValue says what a JSON value was, from encoding/json's
// description of it ("string", "number 1.5").
func describeValue(v string) string {
	switch v {
	case "string":
		return "a string"
	case "number":
		return "a number"
	case "bool":
		return "true or false"
	case "array":
		return "a list"
	case "object":
		return "an object"
	}
	return strings.TrimPrefix(v, "number ")
}

// fieldOf finds the struct field a dotted JSON path names in t.
func fieldOf(t reflect.Type, path []string) (reflect.StructField, bool) {
	var f reflect.StructField
	for _, name := range path {
		t = elem(t)
		if t.Kind() != reflect.Struct {
			return f, false
		}
		found := false
		for i := range t.NumField() {
			if jsonName(t.Field(i)) == name {
				f, found = t.Field(i), true
				break
			}
		}
		if !found {
			return f, false
		}
		t = f.Type
	}
	return f, true
}

// fieldNames lists the JSON names of t's fields, and whether none of them
// holds an object of its own.
func fieldNames(t reflect.Type) ([]string, bool) {
	t = elem(t)
	if t.Kind() != reflect.Struct {
		return nil, false
	}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		if n := jsonName(f); n != "" && f.IsExported() {
			if ft := elem(f.Type); ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() {
				return nil, false
			}
			names = append(names, n)
		}
	}
	return names, true
}

// elem looks through pointers, slices and arrays to what they hold, but
// not into []byte, which JSON writes as text.
func elem(t reflect.Type) reflect.Type {
	for {
		switch {
		case t.Kind() == reflect.Pointer:
			t = t.Elem()
		case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && t.Elem().Kind() != reflect.Uint8:
			t = t.Elem()
		default:
			return t
		}
	}
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	switch name {
	case "-":
		return ""
	case "":
		return f.Name
	}
	return name
}
