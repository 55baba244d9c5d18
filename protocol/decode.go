package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// How a bank reads what a wallet sends. docs/protocol.md ("Reading a
// message") states these rules for people writing clients; the code here
// is the rule, so the two are held together by protocol/doc_test.go and by
// tests that drive a bank.
//
// Field names are matched exactly. A message is first split into its
// members, so that a field sent twice and a field no table lists are
// refused before any value is read; then the fields are read in the order
// the message's table lists them, so the same message always gets the same
// error whatever order its members come in.

// ReadEnvelope reads one message a wallet sent. It returns the envelope
// and, when the message cannot be run, the error to answer it with. The
// envelope's ID is set whenever the message had an "id" that is a JSON
// string, valid or not, so the error can echo it.
func ReadEnvelope(data []byte) (Envelope, *Error) {
	var env Envelope
	var buf [8]member
	ms, err := members(data, buf[:0])
	if errors.Is(err, errNotObject) {
		return env, Errorf(CodeBadMessage, "not a JSON message envelope: a message is one JSON object, got "+jsonKind(bytes.TrimSpace(data)))
	}
	if err != nil {
		return env, Errorf(CodeBadMessage, "not a JSON message envelope: "+err.Error())
	}
	var v, typ, id json.RawMessage
	for _, m := range ms {
		switch m.key {
		case "v":
			v = m.val
		case "type":
			typ = m.val
		case "id":
			id = m.val
		case "body":
			if !isNull(m.val) {
				env.Body = bytes.Clone(m.val) // data may be reused for the next message
			}
		}
	}
	if len(id) > 0 && id[0] == '"' {
		env.ID = unquote(id)
	}
	switch {
	case string(v) != "1":
		return env, Errorf(CodeUnsupportedVersion, versionMessage(v))
	case !ValidRequestID(env.ID):
		if len(id) > 0 && id[0] != '"' && !isNull(id) {
			return env, Errorf(CodeBadRequestID, fmt.Sprintf("a request id is a JSON string of 1 to 32 letters, digits or ._- (got %s)", jsonKind(id)))
		}
		return env, Errorf(CodeBadRequestID, fmt.Sprintf("a request id is 1 to 32 letters, digits or ._- (got %q)", env.ID))
	}
	env.V = Version
	if len(typ) == 0 || typ[0] != '"' {
		return env, Errorf(CodeUnknownType, fmt.Sprintf("type must be a JSON string naming a message type (got %s)", jsonKind(typ)))
	}
	env.Type = unquote(typ)
	return env, nil
}

func versionMessage(v json.RawMessage) string {
	if len(v) == 0 || isNull(v) {
		return fmt.Sprintf("the message has no protocol version; send \"v\":%d", Version)
	}
	return fmt.Sprintf("protocol version %s is not spoken here; send \"v\":%d (the JSON number, written 1)", clip(string(v)), Version)
}

// ReadBody reads a request's body into m, a pointer to one of this
// package's request structs, as the bank reads it: see "Reading a
// message" in docs/protocol.md. The error is a *Error with code
// bad_message, or invalid_amount or amount_overflow for an amount or
// expires_in that is not a whole number or does not fit 64 bits.
func ReadBody(raw json.RawMessage, m any) error {
	if len(raw) == 0 || isNull(raw) {
		return Errorf(CodeBadMessage, "the message has no body; this message type needs one")
	}
	var buf [8]member
	ms, err := members(raw, buf[:0])
	if errors.Is(err, errNotObject) {
		return Errorf(CodeBadMessage, "the body must be a JSON object, got "+jsonKind(raw))
	}
	if err != nil {
		return Errorf(CodeBadMessage, "the body is not JSON: "+err.Error())
	}
	rv := reflect.ValueOf(m).Elem()
	fields := layoutOf(rv.Type())
	vals := make([]json.RawMessage, len(fields))
	for _, mb := range ms {
		i := fieldIndex(fields, mb.key)
		if i < 0 {
			return Errorf(CodeBadMessage, fmt.Sprintf("unknown field %q; this message's fields are %s", clip(mb.key), fieldNames(fields)))
		}
		vals[i] = mb.val
	}
	for i, f := range fields {
		if len(vals[i]) == 0 || isNull(vals[i]) {
			if !f.optional {
				return Errorf(CodeBadMessage, f.name+" is missing; it is required")
			}
			continue
		}
		if err := f.read(vals[i], rv.Field(f.index)); err != nil {
			return err
		}
	}
	return nil
}

// member is one name and value of a JSON object.
type member struct {
	key string
	val json.RawMessage
}

var errNotObject = errors.New("not a JSON object")

// members splits data, which must be exactly one JSON object, into its
// members in order, appended to out (the caller's room on its stack, as
// every message is read this way). A name that appears twice is an error.
// The values are slices of data.
func members(data []byte, out []member) ([]member, error) {
	if !json.Valid(data) {
		var raw json.RawMessage
		return nil, syntaxError(json.Unmarshal(data, &raw))
	}
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return nil, errNotObject
	}
	for i = skipSpace(data, i+1); data[i] != '}'; i = skipSpace(data, i) {
		if data[i] == ',' {
			i = skipSpace(data, i+1)
		}
		end := stringEnd(data, i)
		key := unquote(data[i:end])
		i = skipSpace(data, skipSpace(data, end)+1) // past the colon
		vend := valueEnd(data, i)
		for _, m := range out {
			if m.key == key {
				return nil, fmt.Errorf("the field %q appears twice", clip(key))
			}
		}
		out = append(out, member{key, data[i:vend]})
		i = vend
	}
	return out, nil
}

// The scanners below walk JSON that json.Valid has accepted, so they need
// not check what they skip.

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just after the string that starts at i.
func stringEnd(data []byte, i int) int {
	for j := i + 1; ; j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
}

// valueEnd returns the index just after the value that starts at i.
func valueEnd(data []byte, i int) int {
	switch data[i] {
	case '"':
		return stringEnd(data, i)
	case '{', '[':
		depth := 0
		for j := i; ; j++ {
			switch data[j] {
			case '"':
				j = stringEnd(data, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
	}
	j := i
	for j < len(data) && !strings.ContainsRune(",}] \t\r\n", rune(data[j])) {
		j++
	}
	return j
}

// unquote reads a JSON string as encoding/json does (escapes decoded,
// invalid UTF-8 replaced by U+FFFD), quickly when it needs neither.
func unquote(raw []byte) string {
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		return string(in)
	}
	var s string
	json.Unmarshal(raw, &s)
	return s
}

// syntaxError says what is wrong with JSON in words; Go's decoder errors
// are plain already except at the end of the input.
func syntaxError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("the JSON ends before it is complete")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		if se.Offset >= 0 && strings.HasPrefix(se.Error(), "unexpected end of JSON input") {
			return errors.New("the JSON ends before it is complete")
		}
		return errors.New(se.Error())
	}
	return err
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// jsonKind names what a JSON value is, for error messages.
func jsonKind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a JSON string"
	case '{':
		return "a JSON object"
	case '[':
		return "a JSON array"
	case 't', 'f':
		return "a JSON boolean (" + string(raw) + ")"
	case 'n':
		return "null"
	}
	return "the JSON number " + clip(string(raw))
}

// clip shortens what a wallet sent before it is quoted back.
func clip(s string) string {
	if len(s) <= 40 {
		return s
	}
	return s[:37] + "..."
}

// kind is how a field is written on the wire.
type kind int

const (
	kindString kind = iota
	kindInt
	kindUint
	kindBool
	kindBytes
	kindBytesList
	kindTime
)

type fieldInfo struct {
	name     string
	index    int
	optional bool
	kind     kind
	bits     int  // for kindInt and kindUint
	ptr      bool // a pointer: nil when left out
}

var layouts sync.Map // reflect.Type → []fieldInfo

var timeType = reflect.TypeFor[time.Time]()

// layoutOf lists a request struct's fields in the order they are declared,
// which is the order docs/protocol.md lists them in.
func layoutOf(t reflect.Type) []fieldInfo {
	if l, ok := layouts.Load(t); ok {
		return l.([]fieldInfo)
	}
	var out []fieldInfo
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		f := fieldInfo{name: name, index: i, optional: sf.Tag.Get("wire") == "optional"}
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			f.ptr, ft = true, ft.Elem()
		}
		switch {
		case ft == timeType:
			f.kind = kindTime
		case ft.Kind() == reflect.String:
			f.kind = kindString
		case ft.Kind() == reflect.Bool:
			f.kind = kindBool
		case ft.Kind() >= reflect.Int && ft.Kind() <= reflect.Int64:
			f.kind, f.bits = kindInt, ft.Bits()
		case ft.Kind() >= reflect.Uint && ft.Kind() <= reflect.Uint64:
			f.kind, f.bits = kindUint, ft.Bits()
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Uint8:
			f.kind = kindBytes
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Slice && ft.Elem().Elem().Kind() == reflect.Uint8:
			f.kind = kindBytesList
		default:
			panic(fmt.Sprintf("protocol: %s.%s: no wire form for %s", t.Name(), sf.Name, ft))
		}
		out = append(out, f)
	}
	layouts.Store(t, out)
	return out
}

func fieldIndex(fields []fieldInfo, key string) int {
	for i := range fields {
		if fields[i].name == key {
			return i
		}
	}
	return -1
}

func fieldNames(fields []fieldInfo) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// read decodes one field's value into dst.
func (f *fieldInfo) read(raw json.RawMessage, dst reflect.Value) error {
	if f.ptr {
		p := reflect.New(dst.Type().Elem())
		dst.Set(p)
		dst = p.Elem()
	}
	switch f.kind {
	case kindString:
		s, err := f.str(raw, "a JSON string")
		dst.SetString(s)
		return err
	case kindBool:
		if string(raw) != "true" && string(raw) != "false" {
			return Errorf(CodeBadMessage, fmt.Sprintf("%s must be true or false, got %s", f.name, jsonKind(raw)))
		}
		dst.SetBool(raw[0] == 't')
		return nil
	case kindInt, kindUint:
		return f.number(raw, dst)
	case kindBytes:
		b, err := f.bytes(raw, f.name)
		dst.SetBytes(b)
		return err
	case kindBytesList:
		return f.bytesList(raw, dst)
	case kindTime:
		s, err := f.str(raw, "an RFC 3339 time in a JSON string")
		if err != nil {
			return err
		}
		t, ok := ParseTime(s)
		if !ok {
			return Errorf(CodeBadMessage, fmt.Sprintf("%s must be an RFC 3339 time such as 2025-04-25T00:00:00Z or 2025-04-25T09:00:00.5+09:00 (at most nine fractional digits), got %q", f.name, clip(s)))
		}
		dst.Set(reflect.ValueOf(t))
	}
	return nil
}

func (f *fieldInfo) str(raw json.RawMessage, want string) (string, error) {
	if raw[0] != '"' {
		return "", Errorf(CodeBadMessage, fmt.Sprintf("%s must be %s, got %s", f.name, want, jsonKind(raw)))
	}
	return unquote(raw), nil
}

// isAmount reports whether a field follows the amount rule: a fraction or
// an exponent is invalid_amount, too large for 64 bits amount_overflow.
func (f *fieldInfo) isAmount() bool { return f.name == "amount" || f.name == "expires_in" }

func (f *fieldInfo) number(raw json.RawMessage, dst reflect.Value) error {
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		if f.isAmount() {
			return Errorf(CodeBadMessage, fmt.Sprintf("%s must be a whole number written as a JSON number, got %s", f.name, jsonKind(raw)))
		}
		return Errorf(CodeBadMessage, fmt.Sprintf("%s must be %s, got %s", f.name, f.rangeText(), jsonKind(raw)))
	}
	s := string(raw)
	if strings.ContainsAny(s, ".eE") {
		if f.isAmount() {
			return Errorf(CodeInvalidAmount, fmt.Sprintf("%s must be a whole number, without a fraction or an exponent, got %s", f.name, clip(s)))
		}
		return Errorf(CodeBadMessage, fmt.Sprintf("%s must be %s, without a fraction or an exponent, got %s", f.name, f.rangeText(), clip(s)))
	}
	if f.kind == kindInt {
		n, err := strconv.ParseInt(s, 10, f.bits)
		if err != nil {
			return f.outOfRange(s)
		}
		dst.SetInt(n)
		return nil
	}
	n, err := strconv.ParseUint(s, 10, f.bits)
	if err != nil {
		return f.outOfRange(s)
	}
	dst.SetUint(n)
	return nil
}

func (f *fieldInfo) outOfRange(s string) error {
	if f.isAmount() {
		return Errorf(CodeAmountOverflow, fmt.Sprintf("%s %s does not fit a signed 64-bit whole number (at most 9223372036854775807)", f.name, clip(s)))
	}
	return Errorf(CodeBadMessage, fmt.Sprintf("%s must be %s, got %s", f.name, f.rangeText(), clip(s)))
}

// rangeText says in words which numbers a field takes.
func (f *fieldInfo) rangeText() string {
	if f.kind == kindUint {
		return fmt.Sprintf("a whole number from 0 to %d", uint64(1)<<f.bits-1)
	}
	return fmt.Sprintf("a whole number from %d to %d", -(int64(1) << (f.bits - 1)), int64(1)<<(f.bits-1)-1)
}

// bytes decodes base64 as the protocol writes it: the standard alphabet
// with padding, exactly as an encoder writes it (no line breaks, no
// spaces, unused bits zero), so that one value has one form.
func (f *fieldInfo) bytes(raw json.RawMessage, name string) ([]byte, error) {
	if raw[0] != '"' {
		return nil, Errorf(CodeBadMessage, fmt.Sprintf("%s must be base64 in a JSON string, got %s", name, jsonKind(raw)))
	}
	s := unquote(raw)
	b, ok := DecodeBase64(s)
	if !ok {
		return nil, Errorf(CodeBadMessage, fmt.Sprintf("%s is not standard padded base64 (RFC 4648: letters, digits, + and /, then = padding, "+
			"with no line breaks or spaces and the unused bits of the last character zero), got %q", name, clip(s)))
	}
	return b, nil
}

func (f *fieldInfo) bytesList(raw json.RawMessage, dst reflect.Value) error {
	var items []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return Errorf(CodeBadMessage, fmt.Sprintf("%s must be a JSON array of base64 strings, got %s", f.name, jsonKind(raw)))
	}
	out := make([][]byte, len(items))
	for i, it := range items {
		b, err := f.bytes(it, fmt.Sprintf("%s[%d]", f.name, i))
		if err != nil {
			return err
		}
		out[i] = b
	}
	dst.Set(reflect.ValueOf(out))
	return nil
}

// DecodeBase64 decodes s if it is exactly what standard padded base64
// encoding (RFC 4648, section 4) writes for some bytes.
func DecodeBase64(s string) ([]byte, bool) {
	// The strict decoder refuses unused bits that are not zero; like
	// every decoder of the package it skips line breaks, which are
	// refused here.
	if strings.ContainsAny(s, "\r\n") {
		return nil, false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	return b, err == nil
}

// ParseTime reads an RFC 3339 date-time as the bank reads times: the
// grammar of RFC 3339 section 5.6 ("T" and "Z" in either case, any offset
// from -23:59 to +23:59), at most nine fractional digits, and no leap
// second (a second of 60 is refused).
func ParseTime(s string) (time.Time, bool) {
	if !rfc3339Shape(s) {
		return time.Time{}, false
	}
	b := []byte(s)
	b[10] = 'T'
	if last := len(b) - 1; b[last] == 'z' {
		b[last] = 'Z'
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	return t, err == nil
}

// rfc3339Shape checks the characters of a date-time; time.Parse checks
// the ranges of its date and time.
func rfc3339Shape(s string) bool {
	digits := func(from, to int) bool {
		for i := from; i < to; i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	if len(s) < 20 || !digits(0, 4) || s[4] != '-' || !digits(5, 7) || s[7] != '-' || !digits(8, 10) ||
		(s[10] != 'T' && s[10] != 't') || !digits(11, 13) || s[13] != ':' || !digits(14, 16) || s[16] != ':' || !digits(17, 19) {
		return false
	}
	i := 19
	if s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i+1 || j-i-1 > 9 {
			return false
		}
		i = j
	}
	switch rest := s[i:]; {
	case rest == "Z" || rest == "z":
		return true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		i++
		return digits(i, i+2) && digits(i+3, i+5) && rest[1:3] <= "23" && rest[4:6] <= "59"
	}
	return false
}
