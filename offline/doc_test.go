package offline_test

import (
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/offline"
)

// docs/offline.md describes the formats byte by byte. These tests hold its
// worked example to the vectors file (which TestVectors holds to the code),
// and check it names every domain string, key and error code of the
// formats and the purse.

const docPath = "../docs/offline.md"

func readDoc(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("read the offline document: %v", err)
	}
	return string(raw)
}

// docBlock is the text of the first ```text block after marker.
func docBlock(t *testing.T, doc, marker string) string {
	t.Helper()
	i := strings.Index(doc, "<!-- example:"+marker+" -->")
	if i < 0 {
		t.Fatalf("the document has no example %q", marker)
	}
	rest := doc[i:]
	start := strings.Index(rest, "```text\n")
	if start < 0 {
		t.Fatalf("example %q has no text block", marker)
	}
	rest = rest[start+len("```text\n"):]
	end := strings.Index(rest, "```")
	if end < 0 {
		t.Fatalf("example %q does not end", marker)
	}
	return rest[:end]
}

func vectorByName(t *testing.T, vf vectorFile, name string) vector {
	t.Helper()
	for _, v := range vf.Vectors {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no vector %q", name)
	return vector{}
}

func TestDocSections(t *testing.T) {
	doc := readDoc(t)
	for _, h := range []string{"\n## Formats\n", "\n## Paying and accepting offline\n", "\n## Reconciliation\n"} {
		if !strings.Contains(doc, h) {
			t.Errorf("the document has no heading %q", strings.TrimSpace(h))
		}
	}
}

func TestDocWorkedExample(t *testing.T) {
	doc := readDoc(t)
	vf := readVectorFile(t)
	v := vectorByName(t, vf, "voucher purse-1 #1 to purse-2")
	q := vectorByName(t, vf, "payment-request purse-2 1500")

	// The table's bytes, row after row, are the voucher's encoding, and
	// its offsets and sizes add up.
	i := strings.Index(doc, "<!-- example:voucher-table -->")
	if i < 0 {
		t.Fatal("the document has no voucher table")
	}
	var all strings.Builder
	offset, rows := 0, 0
	for _, line := range strings.Split(doc[i:], "\n")[1:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(line, "|")
		if len(cells) != 7 {
			t.Fatalf("table row %q does not have 5 cells", line)
		}
		off, err1 := strconv.Atoi(strings.TrimSpace(cells[1]))
		size, err2 := strconv.Atoi(strings.TrimSpace(cells[2]))
		if err1 != nil || err2 != nil {
			continue // the heading and its rule
		}
		h := strings.Trim(strings.TrimSpace(cells[4]), "`")
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatalf("row %q: %v", line, err)
		}
		if off != offset || size != len(b) {
			t.Fatalf("row %q: offset %d size %d, but it starts at %d and holds %d bytes", line, off, size, offset, len(b))
		}
		offset += size
		rows++
		all.WriteString(h)
	}
	if rows == 0 || all.String() != v.Encoding {
		t.Fatalf("the table's %d rows hold\n%s\nthe vector's encoding is\n%s", rows, all.String(), v.Encoding)
	}

	flat := func(s string) string { return strings.Join(strings.Fields(s), "") }
	for _, c := range []struct{ marker, want string }{
		{"voucher-signed", v.SignedMessage},
		{"voucher-hash", v.Hash},
		{"voucher-text", v.Text},
		{"request-text", q.Text},
	} {
		if got := flat(docBlock(t, doc, c.marker)); got != c.want {
			t.Errorf("example %s is\n%s\nthe vectors say\n%s", c.marker, got, c.want)
		}
	}
	for _, k := range vf.Keys {
		if !strings.Contains(doc, k.Seed) || !strings.Contains(doc, k.PublicKey) {
			t.Errorf("the document does not give key %s's seed and public key", k.Name)
		}
	}
}

func TestDocNamesDomainsAndCodes(t *testing.T) {
	doc := readDoc(t)
	for _, d := range allDomains {
		if shown := "`" + strings.ReplaceAll(d, "\x00", `\0`) + "`"; !strings.Contains(doc, shown) {
			t.Errorf("the document does not show the domain %s", shown)
		}
	}
	for _, e := range []*offline.Error{offline.ErrMalformed, offline.ErrBadSignature, offline.ErrUnknownBank,
		offline.ErrCertificateExpired, offline.ErrRevoked, offline.ErrWrongPayee, offline.ErrAmountMismatch,
		offline.ErrInvalidAmount, offline.ErrPaymentCap, offline.ErrPurseCap, offline.ErrSyncRequired,
		offline.ErrCounterOrder, offline.ErrInsufficientFunds, offline.ErrUnknownRequest, offline.ErrNotProvisioned,
		offline.ErrWrongDevice, offline.ErrStaleReceipt, offline.ErrLimitsMismatch, offline.ErrInvalidPolicy} {
		if !strings.Contains(doc, "| `"+e.Code+"` |") {
			t.Errorf("the document's table of error codes has no %s", e.Code)
		}
	}
	for _, prefix := range []string{"`cbdc-req1:`", "`cbdc-vch1:`"} {
		if !strings.Contains(doc, prefix) {
			t.Errorf("the document does not name the text prefix %s", prefix)
		}
	}
}
