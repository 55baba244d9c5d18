package main

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testFlags is a service's flag set in small.
func testFlags() (*flag.FlagSet, *serviceFlags, *string, *int, *time.Duration) {
	fs := flag.NewFlagSet("bank", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", "127.0.0.1:7401", "")
	banks := fs.Int("banks", 3, "")
	every := fs.Duration("every", 5*time.Second, "")
	var sf serviceFlags
	sf.register(fs, slog.LevelInfo)
	return fs, &sf, listen, banks, every
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "settings.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSettings_FlagsThenEnvironmentThenFile(t *testing.T) {
	file := writeFile(t, `{
  "listen": "127.0.0.1:9001",
  "banks": 5,
  "every": "1m",
  "log-level": "debug"
}`)
	t.Setenv("CBDC_BANK_BANKS", "7")
	t.Setenv("CBDC_BANK_EVERY", "2s")
	fs, sf, listen, banks, every := testFlags()
	if err := parseSettings(fs, "bank", sf, []string{"-config", file, "-every", "3s"}); err != nil {
		t.Fatal(err)
	}
	if *listen != "127.0.0.1:9001" || *banks != 7 || *every != 3*time.Second || sf.logLevel != slog.LevelDebug {
		t.Errorf("listen %s banks %d every %s level %s; want the file's listen and level, the environment's banks, the flag's every",
			*listen, *banks, *every, sf.logLevel)
	}
	want := map[string]string{"config": "flag", "every": "flag", "banks": "environment", "listen": "file", "log-level": "file"}
	for name, src := range want {
		if sf.sources[name] != src {
			t.Errorf("%s came from %q, want %q", name, sf.sources[name], src)
		}
	}
}

func TestSettings_DefaultsNeedNothing(t *testing.T) {
	fs, sf, listen, banks, _ := testFlags()
	if err := parseSettings(fs, "bank", sf, nil); err != nil || *listen != "127.0.0.1:7401" || *banks != 3 || len(sf.sources) != 0 {
		t.Errorf("no settings: %v, listen %s banks %d, sources %v", err, *listen, *banks, sf.sources)
	}
}

func TestSettings_BadSettingsSayWhere(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		env        map[string]string
		want       []string
	}{
		{"unknown key", "{\n  \"listen\": \"x:1\",\n  \"lissen\": \"y\"\n}", nil,
			[]string{"settings.json:3:3: unknown setting \"lissen\"", "banks, every, listen, log-level"}},
		{"wrong type of value", `{"banks": "three"}`, nil, []string{"settings.json:1:2: \"banks\": \"three\" is not a valid value"}},
		{"a list", `{"banks": [1]}`, nil, []string{"\"banks\" must be a string, number or true/false"}},
		{"twice", `{"banks": 1, "banks": 2}`, nil, []string{"\"banks\" is set twice"}},
		{"not an object", `["listen"]`, nil, []string{"a settings file is one JSON object"}},
		{"broken JSON", "{\"banks\": 1,\n \"listen\" \"x\"}", nil, []string{"settings.json:2:"}},
		{"cut short", `{"banks": 1`, nil, []string{"the file ends inside the settings object"}},
		{"cut short in a value", `{"banks": `, nil, []string{"the value of \"banks\"", "ends inside"}},
		{"two objects", `{"banks": 1}{"listen": "x"}`, nil, []string{"settings.json:1:13: something follows the settings object"}},
		{"bad log level", `{"log-level": "loud"}`, nil, []string{"\"log-level\""}},
		{"bad environment", `{}`, map[string]string{"CBDC_BANK_EVERY": "soon"}, []string{"environment CBDC_BANK_EVERY=\"soon\""}},
		{"misspelt environment", `{}`, map[string]string{"CBDC_BANK_LISSEN": "x:1"}, []string{"environment CBDC_BANK_LISSEN names no setting of cbdc bank"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			fs, sf, _, _, _ := testFlags()
			err := parseSettings(fs, "bank", sf, []string{"-config", writeFile(t, tc.file)})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	fs, sf, _, _, _ := testFlags()
	if err := parseSettings(fs, "bank", sf, []string{"-config", filepath.Join(t.TempDir(), "missing.json")}); err == nil ||
		!strings.Contains(err.Error(), "missing.json") {
		t.Errorf("a missing file: %v", err)
	}
}

// The ledger takes its settings from a file and the environment, and
// refuses bad ones before it opens anything.
func TestSettings_LedgerFromFileAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, `{"listen": "127.0.0.1:0", "banks": 2, "data": "`+dir+`", "log-level": "debug"}`)
	p := startProc(t, "ledger", "ledger", "-config", file)
	p.waitFor(t, ledgerServing)
	if _, err := p.stderr.waitFor(regexpQuote(`msg=settings banks="2 (file)"`), p.done, startWait); err != nil {
		t.Errorf("the ledger did not log its settings: %v", err)
	}
	p.interrupt(t)

	_, errOut, code := cli(t, []string{"CBDC_LEDGER_FLOAT=-5"}, "ledger", "-config", file)
	if code != 1 || !strings.Contains(errOut, "-float must be a positive number of yen, got -5") {
		t.Errorf("CBDC_LEDGER_FLOAT=-5: exit %d, want 1 naming -float:\n%s", code, errOut)
	}
	_, errOut, code = cli(t, nil, "bank", "-config", writeFile(t, `{"ledgr": "http://x"}`))
	if code != 1 || !strings.Contains(errOut, `unknown setting "ledgr"`) {
		t.Errorf("a misspelt setting: exit %d, want 1 naming it:\n%s", code, errOut)
	}
}

func regexpQuote(s string) *regexp.Regexp { return regexp.MustCompile(regexp.QuoteMeta(s)) }
