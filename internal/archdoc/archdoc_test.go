package archdoc

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "redraw the diagram in docs/architecture.md")

const (
	module  = "github.com/digital-yen/cbdc-sandbox"
	docPath = "../../docs/architecture.md"
)

// The picture of the packages in docs/architecture.md is the code's: a
// change of imports that is not redrawn fails here.
func TestArchitectureDiagramIsCurrent(t *testing.T) {
	want, err := Draw("../..", module, docPath)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(docPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("docs/architecture.md's package diagram is not the code's; run make architecture-diagram")
	}
}

// Every import in the drawing points down a floor, and the domain packages
// stand below what serves them.
func TestFloors_ImportsPointDown(t *testing.T) {
	g, err := Graph("../..", module)
	if err != nil {
		t.Fatal(err)
	}
	floor, err := Floors(g)
	if err != nil {
		t.Fatal(err)
	}
	for p, deps := range g {
		for _, d := range deps {
			if floor[d] >= floor[p] {
				t.Errorf("%s (floor %d) imports %s (floor %d)", p, floor[p], d, floor[d])
			}
		}
	}
	below := [][2]string{{"intermediary", "intermediary/gateway"}, {"ledger", "ledgerhttp"}, {"offline", "ledger"}, {"protocol", "wallet"}}
	for _, pair := range below {
		if floor[pair[0]] >= floor[pair[1]] {
			t.Errorf("%s stands on floor %d, not below %s on %d", pair[0], floor[pair[0]], pair[1], floor[pair[1]])
		}
	}
}

func TestFloors_RefusesACycle(t *testing.T) {
	_, err := Floors(map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}})
	if err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("a cycle was placed: %v", err)
	}
}

func TestSplice_NeedsTheMarkers(t *testing.T) {
	if _, err := Splice("# Architecture\n", "x\n"); err == nil {
		t.Fatal("a document without the markers was accepted")
	}
	doc := "a\n" + Begin + "\nold\n" + End + "\nb\n"
	got, err := Splice(doc, "new\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "a\n" + Begin + "\n```text\nnew\n```\n" + End + "\nb\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
