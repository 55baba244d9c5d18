package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/sim"
)

func TestSim_RunsAScenarioAndAudits(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tiny.json")
	scenario := `{"name": "tiny", "seed": 3, "banks": 2, "wallets": 20, "merchants": 2,
	  "start": {"wallet": {"dist": "fixed", "value": 50000}, "merchant": {"dist": "fixed", "value": 0}},
	  "payments": 100, "arrival": {"process": "closed", "concurrency": 4},
	  "mix": {"person_to_person": 0.5, "merchant": 0.5, "amount": {"dist": "fixed", "value": 100}}}`
	if err := os.WriteFile(file, []byte(scenario), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, context.Background(), "sim", "-quiet", "-json", filepath.Join(dir, "r.json"), "-html", filepath.Join(dir, "r.html"), file)
	if err != nil {
		t.Fatalf("sim: %v\n%s", err, out)
	}
	for _, want := range []string{"scenario tiny (seed 3)", "100: 100 paid, 0 failed", "audit       OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if page, err := os.ReadFile(filepath.Join(dir, "r.html")); err != nil || !strings.Contains(string(page), "<svg") {
		t.Errorf("HTML report: %v", err)
	}
	var rep sim.Report
	b, err := os.ReadFile(filepath.Join(dir, "r.json"))
	if err != nil || json.Unmarshal(b, &rep) != nil || rep.Paid != 100 || !rep.Conserved {
		t.Errorf("JSON report: %+v (%v)", rep, err)
	}
}

func TestSim_BadScenarioNamesTheLine(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(file, []byte("{\n  \"name\": \"bad\",\n  \"banks\": 0\n}\n"), 0o644)
	_, err := run(t, context.Background(), "sim", file)
	if err == nil || !strings.Contains(err.Error(), "bad.json:3:3: banks: must be 1 to 50") {
		t.Errorf("err = %v, want the file, line and field", err)
	}
}
