package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/digital-yen/cbdc-sandbox/offline"
)

// Scenario is one simulation, as a scenario file describes it.
type Scenario struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Descriptions are the description in other languages, by language
	// tag ("ja"), for the demo page.
	Descriptions map[string]string `json:"descriptions,omitempty"`
	// Audience is who the scenario is for: AudienceRoom (the default, as
	// when it is left out) to show stakeholders, or AudienceDeveloper for
	// a test or measurement rig.
	Audience string `json:"audience,omitempty"`
	Seed     int64  `json:"seed"`

	Banks     int `json:"banks"`
	Wallets   int `json:"wallets"`
	Merchants int `json:"merchants"`

	// Start is what wallets and merchants hold when the run begins.
	Start Start `json:"start"`

	// A run ends after Duration, or after Payments payments: one of the two.
	Duration Duration `json:"duration,omitempty"`
	Payments int      `json:"payments,omitempty"`
	// Figures leave out the first Warmup and the last Cooldown of the run.
	Warmup   Duration `json:"warmup,omitempty"`
	Cooldown Duration `json:"cooldown,omitempty"`

	Arrival Arrival  `json:"arrival"`
	Mix     Mix      `json:"mix"`
	Offline *Offline `json:"offline,omitempty"`
	Outages []Outage `json:"outages,omitempty"`
	Attacks []Attack `json:"attacks,omitempty"`
}

// ForRoom says whether the scenario is fit to show stakeholders: it names
// the room as its audience, or none.
func (sc *Scenario) ForRoom() bool { return sc.Audience != AudienceDeveloper }

// Start gives the starting distribution of balances.
type Start struct {
	Wallet   Amount `json:"wallet"`   // each wallet's CBDC balance
	Merchant Amount `json:"merchant"` // each merchant's
}

// Arrival is how payments arrive.
type Arrival struct {
	// Process is "fixed" (evenly spaced at Rate), "poisson" (at Rate on
	// average), "schedule" (a rate that changes at given times, Poisson
	// within each step) or "closed" (Concurrency payers, each paying again
	// as soon as it is answered: the maximum).
	Process     string  `json:"process"`
	Rate        float64 `json:"rate,omitempty"` // payments a second
	Steps       []Step  `json:"steps,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
}

// Step is one piece of a schedule: from At on, Rate payments a second.
type Step struct {
	At   Duration `json:"at"`
	Rate float64  `json:"rate"`
}

// Mix is what kind of payments are made and how large.
type Mix struct {
	PersonToPerson float64 `json:"person_to_person"` // share of payments between wallets
	Merchant       float64 `json:"merchant"`         // share paid to merchants
	Amount         Amount  `json:"amount"`
}

// Amount is a distribution of yen amounts: "fixed" (Value), "uniform"
// (Min to Max) or "lognormal" (Median and Sigma, cut at Max).
type Amount struct {
	Dist   string  `json:"dist"`
	Value  int64   `json:"value,omitempty"`
	Min    int64   `json:"min,omitempty"`
	Max    int64   `json:"max,omitempty"`
	Median int64   `json:"median,omitempty"`
	Sigma  float64 `json:"sigma,omitempty"`
}

// Offline is who carries an offline purse and under which policy.
type Offline struct {
	Share     float64  `json:"share"`      // of wallets and merchants that carry a purse
	Fund      int64    `json:"fund"`       // yen each purse is funded with at the start
	SyncEvery Duration `json:"sync_every"` // how often an online wallet syncs its purse
	// OfflineShare is the share of payments between two purse holders
	// made offline even when both are online (as at a shop without signal).
	OfflineShare float64 `json:"offline_share,omitempty"`
	Policy       Policy  `json:"policy"`
}

// Policy is the offline policy of the run; zero fields take the sandbox's
// defaults.
type Policy struct {
	Mode               string   `json:"mode,omitempty"`
	PaymentCap         int64    `json:"payment_cap,omitempty"`
	PurseCap           int64    `json:"purse_cap,omitempty"`
	PaymentsBeforeSync uint32   `json:"payments_before_sync,omitempty"`
	CertLifetime       Duration `json:"cert_lifetime,omitempty"`
	LossBearer         string   `json:"loss_bearer,omitempty"`
}

// Outage takes connectivity away for a while: from a whole bank, or from a
// share of the wallets. Wallets with purses pay offline meanwhile and
// reconcile when they are back.
type Outage struct {
	At      Duration `json:"at"`
	For     Duration `json:"for"`
	Bank    string   `json:"bank,omitempty"`    // such as "bank-2"
	Wallets float64  `json:"wallets,omitempty"` // share of all wallets
}

// Attack is a kind of offline fraud the run commits at a rate.
type Attack struct {
	// Kind is "clone" (a copied purse spends again), "rollback" (a purse
	// restored to an earlier state spends again), "forged_balance" (a
	// broken purse spends more than it was funded), "tampered" (a payee
	// raises a voucher's amount) or "replay" (a voucher handed in again
	// after it settled).
	Kind      string  `json:"kind"`
	PerMinute float64 `json:"per_minute"`
}

// Duration is a time.Duration written as a Go duration string ("90s").
type Duration time.Duration

// D is the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &valueError{value: string(b), problem: fmt.Sprintf("a duration is a string such as \"90s\" or \"2m\", got %s", b)}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &valueError{value: string(b), problem: fmt.Sprintf("%q is not a duration such as \"90s\" or \"2m\"", s)}
	}
	*d = Duration(v)
	return nil
}

// valueError is a value a field's own decoder refused; the decoder does not
// say where it was, so the value itself is looked for.
type valueError struct{ value, problem string }

func (e *valueError) Error() string { return e.problem }

// ErrScenario is the sentinel of every mistake in a scenario file.
var ErrScenario = errors.New("sim: bad scenario")

// ScenarioError is a mistake in a scenario file, with where it is.
type ScenarioError struct {
	File         string
	Line, Column int    // 0 when the mistake has no one place (a missing field)
	Field        string // the field's path, such as "arrival.rate"
	Problem      string
}

func (e *ScenarioError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

func (e *ScenarioError) Unwrap() error { return ErrScenario }

// ParseScenario reads a scenario file's bytes (name is for messages). It
// refuses unknown fields and values out of range, naming the line of the
// mistake.
func ParseScenario(name string, data []byte) (*Scenario, error) {
	var sc Scenario
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return nil, decodeError(name, data, dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		line, col := position(data, int(dec.InputOffset()))
		return nil, &ScenarioError{File: name, Line: line, Column: col, Problem: "more after the scenario's closing brace"}
	}
	if err := sc.Validate(); err != nil {
		var se *ScenarioError
		if errors.As(err, &se) {
			se.File = name
			se.Line, se.Column = locate(data, se.Field)
		}
		return nil, err
	}
	return &sc, nil
}

func decodeError(name string, data []byte, dec *json.Decoder, err error) error {
	e := &ScenarioError{File: name, Problem: err.Error()}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var val *valueError
	switch {
	case errors.As(err, &val):
		if i := bytes.Index(data, []byte(val.value)); i >= 0 {
			e.Line, e.Column = position(data, i)
		}
		e.Problem = val.problem
	case errors.As(err, &syn):
		e.Line, e.Column = position(data, int(syn.Offset))
		e.Problem = "not valid JSON: " + syn.Error()
	case errors.As(err, &typ):
		e.Line, e.Column = position(data, int(typ.Offset))
		e.Field = typ.Field
		e.Problem = fmt.Sprintf("want a %s, got a JSON %s", typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		e.Line, e.Column = position(data, len(data))
		e.Problem = "the file ends before the scenario does"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		e.Field = field
		e.Line, e.Column = locateKey(data, field)
		e.Problem = "unknown field; docs/scenarios.md lists the fields"
	default:
		e.Line, e.Column = position(data, int(dec.InputOffset()))
	}
	return e
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	line = 1 + bytes.Count(data[:off], []byte("\n"))
	col = off - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

// locate finds where a field path ("arrival.rate", "outages[1].for") is
// written, by the last key of the path; 0, 0 when it is not written.
func locate(data []byte, path string) (int, int) {
	if path == "" {
		return 0, 0
	}
	key := path[strings.LastIndexByte(path, '.')+1:]
	if i := strings.IndexByte(key, '['); i >= 0 {
		key = key[:i]
	}
	return locateKey(data, key)
}

func locateKey(data []byte, key string) (int, int) {
	i := bytes.Index(data, []byte(`"`+key+`"`))
	if i < 0 {
		return 0, 0
	}
	return position(data, i)
}

// DecodePolicy turns the scenario's policy into the offline package's,
// filling what the scenario leaves out with the sandbox's defaults.
func (p Policy) DecodePolicy() (offline.Policy, error) {
	out := offline.DefaultPolicy()
	var err error
	if p.Mode != "" {
		if out.Mode, err = offline.ParseMode(p.Mode); err != nil {
			return out, err
		}
	}
	if p.LossBearer != "" {
		if out.LossBearer, err = offline.ParseBearer(p.LossBearer); err != nil {
			return out, err
		}
	}
	if p.PaymentCap != 0 {
		out.PaymentCap = p.PaymentCap
	}
	if p.PurseCap != 0 {
		out.PurseCap = p.PurseCap
	}
	if p.PaymentsBeforeSync != 0 {
		out.PaymentsBeforeSync = p.PaymentsBeforeSync
	}
	if p.CertLifetime != 0 {
		out.CertLifetime = p.CertLifetime.D()
	}
	return out, out.Validate()
}
