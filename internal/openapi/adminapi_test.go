package openapi_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docs/admin-api.md walks an operator through the admin API with curl.
// This test runs each command marked <!-- test status=N [varies=/a,/b] -->
// against a fresh bank, as the sandbox starts it (a float of 100,000,000
// yen), and holds the answer to the block shown after it.

const adminPagePath = "../../docs/admin-api.md"

// sandboxFloat is the float `cbdc sandbox` issues each bank.
const sandboxFloat = 100_000_000

// curlExample is one tested command of the page and the answer it shows.
type curlExample struct {
	line    int // of the command, for messages
	command string
	status  int
	varies  []string
	media   string // json or text
	answer  string
}

var (
	testMarker = regexp.MustCompile(`^<!-- test status=(\d+)(?: varies=(\S+))? -->$`)
	fence      = regexp.MustCompile("^```(\\w*)$")
)

// curlExamples reads the page's tested commands. A curl command against
// $BANK that is not marked for testing is an error: every example an
// operator copies is one the test ran.
func curlExamples(t *testing.T, page string) []curlExample {
	t.Helper()
	var out []curlExample
	lines := strings.Split(page, "\n")
	var pending *curlExample // marked, waiting for its command or its answer
	for i := 0; i < len(lines); i++ {
		if m := testMarker.FindStringSubmatch(lines[i]); m != nil {
			status, _ := strconv.Atoi(m[1])
			pending = &curlExample{status: status}
			if m[2] != "" {
				pending.varies = strings.Split(m[2], ",")
			}
			continue
		}
		m := fence.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		start := i + 1
		for i++; i < len(lines) && lines[i] != "```"; i++ {
		}
		block := strings.Join(lines[start:i], "\n")
		switch {
		case pending != nil && pending.command == "":
			if m[1] != "sh" {
				t.Fatalf("%s:%d: a test marker is followed by a %q block, want sh", adminPagePath, start, m[1])
			}
			pending.command, pending.line = block, start
		case pending != nil:
			if m[1] != "json" && m[1] != "text" {
				t.Fatalf("%s:%d: the answer to the command at line %d is a %q block, want json or text", adminPagePath, start, pending.line, m[1])
			}
			pending.media, pending.answer = m[1], block
			out = append(out, *pending)
			pending = nil
		case m[1] == "sh" && strings.Contains(block, "curl") && strings.Contains(block, "$BANK"):
			t.Errorf("%s:%d: a curl example not marked <!-- test status=N -->", adminPagePath, start)
		}
	}
	if pending != nil {
		t.Errorf("%s: the last test marker has no command or no answer", adminPagePath)
	}
	return out
}

func TestAdminAPIPage_CurlExamples(t *testing.T) {
	page := mustRead(t, adminPagePath)
	examples := curlExamples(t, page)
	if len(examples) < 15 {
		t.Fatalf("found %d tested examples in %s", len(examples), adminPagePath)
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("curl is not installed; the examples of %s cannot run (apt-get install -y curl)", adminPagePath)
		}
		t.Skipf("curl is not installed: install it (apt-get install -y curl) to run the examples of %s", adminPagePath)
	}
	s := startServersWith(t, sandboxFloat)
	home := t.TempDir()
	// curl reads $CURL_HOME/.curlrc: it adds the status after each
	// answer, so the commands run exactly as the page shows them.
	if err := os.WriteFile(filepath.Join(home, ".curlrc"), []byte("write-out = \"\\n%{http_code}\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + filepath.Dir(curl) + ":/usr/bin:/bin", "HOME=" + home, "CURL_HOME=" + home,
		"BANK=" + s.bankURL, "TOKEN=" + adminToken}
	for _, ex := range examples {
		if err := runCurlExample(ex, env); err != nil {
			t.Errorf("%s:%d:\n%s\n%v", adminPagePath, ex.line, ex.command, err)
		}
	}
}

func runCurlExample(ex curlExample, env []string) error {
	cmd := exec.Command("sh", "-c", ex.command)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return errorf("the command failed: %v %s", err, stderr.Bytes())
	}
	i := bytes.LastIndexByte(out, '\n')
	if i < 0 {
		return errorf("no status after the answer %q (is the .curlrc read?)", out)
	}
	body, code := out[:i], string(out[i+1:])
	if code != strconv.Itoa(ex.status) {
		return errorf("status %s, want %d; the answer: %s", code, ex.status, body)
	}
	if ex.media == "text" {
		if got := strings.TrimSpace(string(body)); got != strings.TrimSpace(ex.answer) {
			return errorf("answer %q, want %q", got, ex.answer)
		}
		return nil
	}
	want, err := decodeJSON([]byte(ex.answer))
	if err != nil {
		return errorf("the answer the page shows is not JSON: %v", err)
	}
	got, err := decodeJSON(body)
	if err != nil {
		return errorf("the bank's answer is not JSON: %v: %s", err, body)
	}
	if diffs := compare(want, got, "", ex.varies); len(diffs) > 0 {
		return errorf("%s\nthe answer: %s", strings.Join(diffs, "\n"), body)
	}
	return nil
}
