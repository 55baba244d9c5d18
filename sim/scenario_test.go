package sim

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScenario_ShippedScenariosParse(t *testing.T) {
	files, err := filepath.Glob("../scenarios/*.json")
	if err != nil || len(files) < 7 {
		t.Fatalf("scenarios/: %v, %d files", err, len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := ParseScenario(f, data)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if want := strings.TrimSuffix(filepath.Base(f), ".json"); sc.Name != want {
			t.Errorf("%s is named %q; name a scenario after its file", f, sc.Name)
		}
		if sc.Audience == "" {
			t.Errorf("%s names no audience; say whether it is for a room or for developers", f)
		}
		if sc.Name == "demo" && !sc.ForRoom() {
			t.Errorf("the demo scenario is not for a room")
		}
	}
}

// A scenario that names no audience is for a room; one for developers
// says so.
func TestScenario_Audience(t *testing.T) {
	for _, tc := range []struct {
		field string
		room  bool
	}{{``, true}, {`"audience": "room",`, true}, {`"audience": "developer",`, false}} {
		sc, err := ParseScenario("a.json", []byte(strings.Replace(baseScenario, `"seed": 1,`, `"seed": 1, `+tc.field, 1)))
		if err != nil {
			t.Fatalf("%s: %v", tc.field, err)
		}
		if sc.ForRoom() != tc.room {
			t.Errorf("%s: for a room %v, want %v", tc.field, sc.ForRoom(), tc.room)
		}
	}
}

// A valid scenario to break one field at a time.
const baseScenario = `{
  "name": "t",
  "seed": 1,
  "banks": 2,
  "wallets": 10,
  "merchants": 2,
  "start": {"wallet": {"dist": "fixed", "value": 1000}, "merchant": {"dist": "fixed", "value": 0}},
  "duration": "10s",
  "arrival": {"process": "poisson", "rate": 5},
  "mix": {"person_to_person": 0.5, "merchant": 0.5, "amount": {"dist": "uniform", "min": 1, "max": 500}},
  "offline": {"share": 0.5, "fund": 1000, "sync_every": "2s", "policy": {"mode": "staged"}},
  "outages": [{"at": "2s", "for": "3s", "bank": "bank-2"}],
  "attacks": [{"kind": "clone", "per_minute": 6}]
}
`

func TestScenario_MistakesNameTheirPlace(t *testing.T) {
	if _, err := ParseScenario("base.json", []byte(baseScenario)); err != nil {
		t.Fatalf("the base scenario: %v", err)
	}
	for _, tc := range []struct {
		name, from, to string
		line           int
		want           string
	}{
		{"syntax", `"seed": 1,`, `"seed": 1`, 4, "not valid JSON"},
		{"unknown field", `"seed": 1,`, `"seed": 1, "sed": 2,`, 3, "sed: unknown field"},
		{"wrong type", `"banks": 2,`, `"banks": "two",`, 4, "banks: want a int"},
		{"bad duration", `"duration": "10s"`, `"duration": "ten seconds"`, 8, "not a duration"},
		{"audience", `"seed": 1,`, `"seed": 1, "audience": "everyone",`, 3, `audience: must be "room" (fit to show stakeholders) or "developer"`},
		{"banks out of range", `"banks": 2,`, `"banks": 0,`, 4, "banks: must be 1 to 50"},
		{"both lengths", `"duration": "10s",`, `"duration": "10s", "payments": 5,`, 8, "either a duration or a number of payments"},
		{"no rate", `"rate": 5`, `"rate": 0`, 9, "arrival.rate: must be above 0"},
		{"unknown process", `"process": "poisson"`, `"process": "burst"`, 9, "must be fixed, poisson, schedule or closed"},
		{"shares", `"person_to_person": 0.5`, `"person_to_person": 0.6`, 10, "must add up to 1"},
		{"amount", `"min": 1, "max": 500`, `"min": 600, "max": 500`, 10, "mix.amount.min"},
		{"fund over cap", `"fund": 1000`, `"fund": 1000000`, 11, "offline.fund"},
		{"policy", `"mode": "staged"`, `"mode": "offline"`, 11, "offline.policy"},
		{"outage bank", `"bank": "bank-2"`, `"bank": "bank-9"`, 12, "outages[0].bank"},
		{"outage after the run", `"for": "3s"`, `"for": "30s"`, 12, "outages[0].for"},
		{"attack kind", `"kind": "clone"`, `"kind": "steal"`, 13, "attacks[0].kind"},
		{"trailing", "}\n", "}\n{}", 15, "more after"},
		{"truncated", `"attacks"`, `"attacks": [`, 13, "ends before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.Replace(baseScenario, tc.from, tc.to, 1)
			if tc.name == "truncated" {
				data = data[:strings.Index(data, `"attacks"`)+len(`"attacks": [`)]
			}
			_, err := ParseScenario("s.json", []byte(data))
			var se *ScenarioError
			if !errors.As(err, &se) || !errors.Is(err, ErrScenario) {
				t.Fatalf("err = %v, want a *ScenarioError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to say %q", err, tc.want)
			}
			if se.Line != tc.line {
				t.Errorf("err = %q: line %d, want %d", err, se.Line, tc.line)
			}
			if !strings.HasPrefix(err.Error(), "s.json:") {
				t.Errorf("err = %q does not name the file", err)
			}
		})
	}
}

// A description in another language names its language by tag and says
// something.
func TestParseScenario_Descriptions(t *testing.T) {
	for _, c := range []struct{ descriptions, want string }{
		{`{"ja": "説明"}`, ""},
		{`{"en-GB": "a description"}`, ""},
		{`{"Japanese": "説明"}`, "descriptions"},
		{`{"ja": "  "}`, "descriptions.ja"},
	} {
		raw := strings.Replace(baseScenario, `"seed": 1,`, `"seed": 1, "descriptions": `+c.descriptions+",", 1)
		_, err := ParseScenario("t.json", []byte(raw))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.descriptions, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one naming %s", c.descriptions, err, c.want)
		}
	}
}
