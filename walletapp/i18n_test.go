package walletapp_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// Every refusal a phone can be shown, the bank's (docs/protocol.md) and
// the purse's (docs/offline.md), has a Japanese sentence in the app: a
// room in Japanese never reads the bank's English.
func TestApp_EveryRefusalHasJapaneseWords(t *testing.T) {
	src, err := os.ReadFile("web/app.js")
	if err != nil {
		t.Fatal(err)
	}
	_, ja, ok := strings.Cut(string(src), "\n  ja: {")
	if !ok {
		t.Fatal("app.js has no ja words")
	}
	_, block, ok := strings.Cut(ja, "\n    codes: {")
	if !ok {
		t.Fatal("app.js's ja words have no codes")
	}
	block, _, _ = strings.Cut(block, "\n    },")
	have := map[string]bool{}
	for _, m := range regexp.MustCompile(`([a-z_]+): "[^"]+"`).FindAllStringSubmatch(block, -1) {
		have[m[1]] = true
	}
	var want []string
	for code := range protocol.Codes {
		want = append(want, code)
	}
	// The purse's codes, every one offline/errors.go defines, so a new
	// rule's code cannot go without words.
	errs, err := os.ReadFile("../offline/errors.go")
	if err != nil {
		t.Fatal(err)
	}
	defined := regexp.MustCompile(`&Error\{"([a-z_]+)"`).FindAllStringSubmatch(string(errs), -1)
	if len(defined) < 19 {
		t.Fatalf("read %d codes from offline/errors.go", len(defined))
	}
	for _, m := range defined {
		want = append(want, m[1])
	}
	for _, code := range want {
		if !have[code] {
			t.Errorf("app.js has no Japanese words for the refusal %s", code)
		}
	}
	if len(have) < len(want)/2 {
		t.Fatalf("read %d codes from app.js: the block was not found whole", len(have))
	}
}
