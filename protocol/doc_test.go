package protocol

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// docs/protocol.md is the specification outside clients are written from.
// These tests hold it to the code: every message type, reason, request
// state and error code is named in it, its error table lists exactly the
// codes there are, and its worked examples and every signed message it
// shows verify.

const docPath = "../docs/protocol.md"

func readDoc(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("read the protocol document: %v", err)
	}
	return string(raw)
}

// stringConsts returns the values of the string constants in file whose
// names start with one of prefixes, by name.
func stringConsts(t *testing.T, file string, prefixes ...string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i >= len(vs.Values) || !hasAnyPrefix(name.Name, prefixes) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatalf("%s: constant %s: %v", file, name.Name, err)
				}
				out[name.Name] = v
			}
		}
	}
	return out
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestDoc_NamesEveryTypeReasonStateAndCode(t *testing.T) {
	doc := readDoc(t)
	types := stringConsts(t, "envelope.go", "Type")
	if len(types) < 30 {
		t.Fatalf("found only %d Type constants in envelope.go; the parser walk is broken", len(types))
	}
	named := map[string]string{}
	for name, v := range types {
		named[name] = v
	}
	for name, v := range stringConsts(t, "messages.go", "Reason", "Request") {
		named[name] = v
	}
	for _, name := range sortedKeys(named) {
		if !strings.Contains(doc, "`"+named[name]+"`") {
			t.Errorf("%s: %s = %q is not mentioned as `%s`", docPath, name, named[name], named[name])
		}
	}
	for _, code := range sortedKeys(Codes) {
		if !strings.Contains(doc, "`"+code+"`") {
			t.Errorf("%s: error code %q is not mentioned as `%s`", docPath, code, code)
		}
	}
}

// TestDoc_CodesTableIsComplete checks the table after <!-- codes-table -->
// lists every code in Codes once, and nothing else.
func TestDoc_CodesTableIsComplete(t *testing.T) {
	doc := readDoc(t)
	_, after, ok := strings.Cut(doc, "<!-- codes-table -->")
	if !ok {
		t.Fatalf("%s has no <!-- codes-table --> marker", docPath)
	}
	cell := regexp.MustCompile("^\\|\\s*`([a-z_]+)`\\s*\\|")
	seen := map[string]int{}
	started := false
	for _, line := range strings.Split(after, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if started {
				break
			}
			continue
		}
		started = true
		if m := cell.FindStringSubmatch(line); m != nil {
			seen[m[1]]++
		}
	}
	for _, code := range sortedKeys(Codes) {
		if seen[code] != 1 {
			t.Errorf("the error table lists %q %d times, want once", code, seen[code])
		}
	}
	for _, code := range sortedKeys(seen) {
		if _, ok := Codes[code]; !ok {
			t.Errorf("the error table lists %q, which is not in Codes", code)
		}
	}
}

// example returns the content of the first fenced block after the marker
// <!-- example:name -->, without its fences and final newline.
func example(t *testing.T, doc, name string) string {
	t.Helper()
	marker := "<!-- example:" + name + " -->"
	_, after, ok := strings.Cut(doc, marker)
	if !ok {
		t.Fatalf("%s has no %s marker", docPath, marker)
	}
	lines := strings.Split(after, "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			start = i + 1
			break
		}
	}
	if start < 0 {
		t.Fatalf("no fenced block after %s", marker)
	}
	for i := start; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) == "```" {
			return strings.Join(lines[start:i], "\n")
		}
	}
	t.Fatalf("the block after %s is not closed", marker)
	return ""
}

func exampleKey(t *testing.T, doc, name string) ed25519.PrivateKey {
	t.Helper()
	seed, err := hex.DecodeString(strings.TrimSpace(example(t, doc, name)))
	if err != nil || len(seed) != ed25519.SeedSize {
		t.Fatalf("example %s: want a 32-byte hex seed, got %v (%d bytes)", name, err, len(seed))
	}
	return ed25519.NewKeyFromSeed(seed)
}

func exampleEnvelope(t *testing.T, doc, name string) Envelope {
	t.Helper()
	var env Envelope
	if err := json.Unmarshal([]byte(example(t, doc, name)), &env); err != nil {
		t.Fatalf("example %s: %v", name, err)
	}
	return env
}

func exampleString(t *testing.T, doc, name string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal([]byte(example(t, doc, name)), &s); err != nil {
		t.Fatalf("example %s: want one JSON string: %v", name, err)
	}
	return s
}

// strictBody decodes a body as the intermediary does: unknown fields are
// refused.
func strictBody(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func TestDoc_WorkedSessionExampleVerifies(t *testing.T) {
	doc := readDoc(t)
	key := exampleKey(t, doc, "seed-a")
	pub := key.Public().(ed25519.PublicKey)

	chEnv := exampleEnvelope(t, doc, "challenge-message")
	var ch Challenge
	if chEnv.Type != TypeChallenge || chEnv.ID != "" || strictBody(chEnv.Body, &ch) != nil {
		t.Fatalf("challenge example is not a challenge push: %+v", chEnv)
	}
	want := SessionBytes(ch.Bank, ch.Challenge, pub)
	if got := exampleString(t, doc, "session-bytes"); got != string(want) {
		t.Errorf("session bytes in the document:\n%q\nSessionBytes gives:\n%q", got, want)
	}

	env := exampleEnvelope(t, doc, "hello-message")
	var h Hello
	if env.Type != TypeHello || !ValidRequestID(env.ID) || strictBody(env.Body, &h) != nil {
		t.Fatalf("hello example is not a hello request: %+v", env)
	}
	if !bytes.Equal(h.PublicKey, pub) || !bytes.Equal(h.Challenge, ch.Challenge) {
		t.Error("the hello example's key or challenge is not seed A's key and the example challenge")
	}
	if !ed25519.Verify(pub, want, h.Signature) {
		t.Error("the hello example's signature does not verify over the session bytes")
	}
	if got, want := base64.StdEncoding.EncodeToString(h.Signature), base64.StdEncoding.EncodeToString(ed25519.Sign(key, want)); got != want {
		t.Errorf("hello signature %s, seed A signs %s", got, want)
	}
}

func TestDoc_WorkedPayExampleVerifies(t *testing.T) {
	doc := readDoc(t)
	key := exampleKey(t, doc, "seed-a")
	pub := key.Public().(ed25519.PublicKey)

	env := exampleEnvelope(t, doc, "pay-message")
	var p Pay
	if env.V != Version || env.Type != TypePay || !ValidRequestID(env.ID) {
		t.Fatalf("pay example envelope = %+v", env)
	}
	if err := strictBody(env.Body, &p); err != nil {
		t.Fatalf("pay example body: %v", err)
	}
	signing := exampleString(t, doc, "pay-signing-bytes")
	lines := strings.Split(signing, "\n")
	if len(lines) < 4 || lines[0] != "cbdc-wallet/v1" {
		t.Fatalf("pay signing bytes do not start with the cbdc-wallet/v1 line: %q", signing)
	}
	wallet := lines[2]
	_, bank, ok := ParseWalletAddress(wallet)
	if !ok || wallet != WalletAddress(pub, bank) {
		t.Fatalf("the signing wallet %q is not seed A's address at its bank", wallet)
	}
	if want := SigningBytes(TypePay, wallet, env.ID, p.SignedFields()...); signing != string(want) {
		t.Errorf("pay signing bytes in the document:\n%q\nSigningBytes gives:\n%q", signing, want)
	}
	if !Verify(pub, TypePay, wallet, env.ID, &p) {
		t.Error("the worked pay example's signature does not verify")
	}
}

// TestDoc_EverySignedExampleVerifies finds every message the document
// shows (json blocks and transcript lines), checks its envelope, and
// verifies each signed instruction with one of the example keys.
// exampleMessages returns every example message of the document: the JSON
// blocks that hold an envelope, and the lines of worked sessions.
func exampleMessages(doc string) []string {
	var msgs []string
	inJSON, inBlock := false, false
	var block []string
	for _, line := range strings.Split(doc, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "```") && !inBlock:
			inBlock, inJSON, block = true, trimmed == "```json", nil
		case trimmed == "```" && inBlock:
			if inJSON && strings.HasPrefix(strings.TrimSpace(strings.Join(block, "\n")), "{") {
				msgs = append(msgs, strings.Join(block, "\n"))
			}
			inBlock = false
		case inBlock:
			block = append(block, line)
			for _, arrow := range []string{"C→S ", "S→C "} {
				if rest, ok := strings.CutPrefix(trimmed, arrow); ok {
					msgs = append(msgs, rest)
				}
			}
		}
	}
	return msgs
}

func TestDoc_EverySignedExampleVerifies(t *testing.T) {
	doc := readDoc(t)
	keys := []ed25519.PrivateKey{exampleKey(t, doc, "seed-a"), exampleKey(t, doc, "seed-b")}
	types := map[string]bool{}
	for _, v := range stringConsts(t, "envelope.go", "Type") {
		types[v] = true
	}

	msgs := exampleMessages(doc)
	if len(msgs) < 40 {
		t.Fatalf("found only %d example messages in the document", len(msgs))
	}

	verified := map[string]bool{}
	for _, raw := range msgs {
		var env Envelope
		if err := json.Unmarshal([]byte(raw), &env); err != nil {
			t.Errorf("example message is not a JSON envelope: %v\n%s", err, raw)
			continue
		}
		if env.V != Version || !types[env.Type] || (env.ID != "" && !ValidRequestID(env.ID)) {
			t.Errorf("example envelope v=%d type=%q id=%q is not valid", env.V, env.Type, env.ID)
			continue
		}
		m, isSigned := NewSigned(env.Type)
		if !isSigned || !bytes.Contains(env.Body, []byte(`"signature"`)) {
			continue // an answer or push, or a settings answer
		}
		if err := strictBody(env.Body, m); err != nil {
			t.Errorf("example %s %s: body: %v", env.Type, env.ID, err)
			continue
		}
		ok := false
		for _, key := range keys {
			pub := key.Public().(ed25519.PublicKey)
			for _, bank := range []string{"bank-1", "bank-2"} {
				if Verify(pub, env.Type, WalletAddress(pub, bank), env.ID, m) {
					ok = true
				}
			}
		}
		if !ok {
			t.Errorf("example %s %s: the signature verifies with neither example key", env.Type, env.ID)
			continue
		}
		verified[env.Type] = true
	}
	for _, typ := range sortedKeys(signedTypes) {
		if !verified[typ] {
			t.Errorf("no verified example of a signed %s", typ)
		}
	}
}

// refusal is one example of section 9's "Examples of refusals": a
// message as sent and what the bank answers.
type refusal struct {
	line   int
	msg    string
	answer string // an error code, or the type of the answer
	noID   bool   // the error carries no id
}

// refusalExamples reads the block after <!-- example:refusals -->.
func refusalExamples(t *testing.T, doc string) []refusal {
	t.Helper()
	var out []refusal
	lines := strings.Split(example(t, doc, "refusals"), "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		msg, ok := strings.CutPrefix(l, "→ ")
		if !ok || i+1 >= len(lines) {
			t.Fatalf("refusal example line %d: want a → line followed by a ← line, got %q", i+1, l)
		}
		ans, ok := strings.CutPrefix(strings.TrimSpace(lines[i+1]), "← ")
		if !ok {
			t.Fatalf("refusal example line %d: %q is not followed by a ← line", i+1, l)
		}
		ans, noID := strings.CutSuffix(ans, " without id")
		out = append(out, refusal{line: i + 1, msg: msg, answer: ans, noID: noID})
		i++
	}
	if len(out) < 40 {
		t.Fatalf("only %d refusal examples", len(out))
	}
	return out
}

// wireRequests are the bodies of the requests a wallet sends, by type.
var wireRequests = map[string]func() any{
	TypeHello: func() any { return new(Hello) }, TypeRegister: func() any { return new(Register) },
	TypeHistory: func() any { return new(HistoryQuery) }, TypePay: func() any { return new(Pay) },
	TypeRequestPayment: func() any { return new(RequestPayment) }, TypeApprove: func() any { return new(Approve) },
	TypeDecline: func() any { return new(Decline) }, TypeWithdraw: func() any { return new(Withdraw) },
	TypeDeposit: func() any { return new(Deposit) }, TypeSchedule: func() any { return new(Schedule) },
	TypeCancelSchedule: func() any { return new(CancelSchedule) }, TypeSettings: func() any { return new(Settings) },
	TypePurseProvision: func() any { return new(PurseProvision) }, TypePurseFund: func() any { return new(PurseFund) },
	TypePurseSync: func() any { return new(PurseSync) }, TypePurseRetire: func() any { return new(PurseRetire) },
}

// TestDoc_RefusalExamplesReadAsTheyAnswer reads every example of refusal
// as the bank reads it: an envelope refused says so with the code and id
// the document gives; a body refused too; a body that reads carries key
// A's signature exactly when the document says the signature is not what
// is refused. intermediary's tests send the same examples to a bank.
func TestDoc_RefusalExamplesReadAsTheyAnswer(t *testing.T) {
	doc := readDoc(t)
	key := exampleKey(t, doc, "seed-a")
	pub := key.Public().(ed25519.PublicKey)
	requests := map[string]bool{TypeBalance: true, TypeRequests: true, TypeSchedules: true, TypeRevocations: true}
	for typ := range wireRequests {
		requests[typ] = true
	}
	for _, ex := range refusalExamples(t, doc) {
		env, perr := ReadEnvelope([]byte(ex.msg))
		if perr != nil {
			if perr.Code != ex.answer || ex.noID != (env.ID == "") {
				t.Errorf("line %d: %s\nreads as %s with id %q; the document says %s (without id: %v)", ex.line, ex.msg, perr.Code, env.ID, ex.answer, ex.noID)
			}
			continue
		}
		if !requests[env.Type] != (ex.answer == CodeUnknownType) {
			t.Errorf("line %d: type %q, the document says %s", ex.line, env.Type, ex.answer)
		}
		mk := wireRequests[env.Type]
		if mk == nil || env.Type == TypeHello || env.Type == TypeRegister || env.Body == nil && env.Type == TypeHistory {
			continue
		}
		m := mk()
		if err := ReadBody(env.Body, m); err != nil {
			if errCode(err) != ex.answer {
				t.Errorf("line %d: %s\nbody reads as %v; the document says %s", ex.line, ex.msg, err, ex.answer)
			}
			continue
		}
		if sm, ok := m.(Signed); ok {
			verifies := Verify(pub, env.Type, WalletAddress(pub, "bank-1"), env.ID, sm)
			if verifies == (ex.answer == CodeBadSignature) {
				t.Errorf("line %d: %s\nkey A's signature verifies: %v; the document says %s", ex.line, ex.msg, verifies, ex.answer)
			}
		}
	}
}

// TestDoc_FieldTablesAreTheRequests holds each request's field table to
// its struct: the same fields in the same order (the order ReadBody
// reads them in), and "optional" in the meaning of exactly the fields
// that may be left out.
func TestDoc_FieldTablesAreTheRequests(t *testing.T) {
	doc := readDoc(t)
	for _, typ := range sortedKeys(wireRequests) {
		fields := layoutOf(reflect.TypeOf(wireRequests[typ]()).Elem())
		rows := fieldTable(t, doc, typ)
		if len(rows) != len(fields) {
			t.Errorf("%s: the document's table lists %d fields, the message has %d (%s)", typ, len(rows), len(fields), fieldNames(fields))
			continue
		}
		for i, f := range fields {
			optional := strings.Contains(strings.ToLower(rows[i][1]), "optional")
			if rows[i][0] != f.name || optional != f.optional {
				t.Errorf("%s: table row %d is %q (optional: %v), the message's field %d is %q (optional: %v)",
					typ, i+1, rows[i][0], optional, i+1, f.name, f.optional)
			}
		}
	}
}

// fieldTable returns the name and meaning of each row of the first field
// table after the heading of message typ.
func fieldTable(t *testing.T, doc, typ string) [][2]string {
	t.Helper()
	lines := strings.Split(doc, "\n")
	head := "#### `" + typ + "`"
	i := 0
	for i < len(lines) && lines[i] != head && !strings.HasPrefix(lines[i], head+" ") {
		i++
	}
	for i < len(lines) && !strings.HasPrefix(lines[i], "| field | type | meaning |") {
		if i++; i < len(lines) && strings.HasPrefix(lines[i], "#") {
			t.Fatalf("message %s has no field table", typ)
		}
	}
	if i >= len(lines) {
		t.Fatalf("no heading %q with a field table", head)
	}
	var rows [][2]string
	for i += 2; i < len(lines) && strings.HasPrefix(lines[i], "| `"); i++ {
		cells := strings.Split(lines[i], " | ")
		rows = append(rows, [2]string{strings.Trim(cells[0], "| `"), cells[len(cells)-1]})
	}
	return rows
}
