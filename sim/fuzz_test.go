package sim

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseScenario: any bytes give a scenario that validates, or a
// *ScenarioError; never a panic.
func FuzzParseScenario(f *testing.F) {
	f.Add([]byte(baseScenario))
	files, _ := filepath.Glob("../scenarios/*.json")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := ParseScenario("f.json", data)
		if err != nil {
			var se *ScenarioError
			if !errors.As(err, &se) {
				t.Fatalf("not a ScenarioError: %v", err)
			}
			return
		}
		if err := sc.Validate(); err != nil {
			t.Fatalf("parsed but does not validate: %v", err)
		}
	})
}
