package sim

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
)

// page is what a test reads of a report's HTML: every chart's SVG and
// legend, parsed as XML, so an element left open fails the parse.
type page struct {
	html    string
	figures []figure
}

type figure struct {
	label  string   // the svg's aria-label
	role   string   // the svg's role
	bands  []string // the text of each shaded band
	series int      // lines and single points drawn
	legend []string // the legend's entries
}

func parsePage(t *testing.T, r *Report) page {
	t.Helper()
	var sb strings.Builder
	if err := r.WriteHTML(&sb); err != nil {
		t.Fatal(err)
	}
	p := page{html: sb.String()}
	d := xml.NewDecoder(strings.NewReader(p.html))
	var open []string // the classes of the elements open
	var f *figure
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the page is not well formed: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			class := attr(tok, "class")
			open = append(open, tok.Name.Local+"."+class)
			switch {
			case tok.Name.Local == "figure":
				p.figures = append(p.figures, figure{})
				f = &p.figures[len(p.figures)-1]
			case tok.Name.Local == "svg":
				f.label, f.role = attr(tok, "aria-label"), attr(tok, "role")
			case tok.Name.Local == "polyline" || tok.Name.Local == "circle":
				f.series++
			}
		case xml.EndElement:
			open = open[:len(open)-1]
		case xml.CharData:
			if len(open) < 2 {
				continue
			}
			switch parent, self := open[len(open)-2], open[len(open)-1]; {
			case parent == "g.band" && self == "text.":
				f.bands = append(f.bands, string(tok))
			case parent == "ul.legend" && self == "li.":
				f.legend = append(f.legend, string(tok))
			}
		}
	}
	if len(open) != 0 {
		t.Fatalf("elements left open at the end: %v", open)
	}
	return p
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// checkStandsAlone fails the test if the page asks for anything from
// elsewhere or has a chart a screen reader cannot name.
func checkStandsAlone(t *testing.T, p page) {
	t.Helper()
	for _, ref := range []string{"http://", "https://", "//", "src=", "<link", "url(", "@import", "<script", "100vh"} {
		if strings.Contains(p.html, ref) {
			t.Errorf("the page has %q", ref)
		}
	}
	if len(p.figures) == 0 {
		t.Fatal("the page has no charts")
	}
	for i, f := range p.figures {
		if f.role != "img" || len(f.label) < 20 {
			t.Errorf("chart %d: role %q, aria-label %q", i, f.role, f.label)
		}
		if f.series > 1 && len(f.legend) < f.series {
			t.Errorf("chart %d draws %d series and its legend names %d: %q", i, f.series, len(f.legend), f.legend)
		}
	}
}

func TestReport_HTMLOutagesShadedAndLabelled(t *testing.T) {
	r := reportFixture("outages", 60, 100, 1e8,
		Outage{At: seconds(10), For: seconds(20), Wallets: 0.3},
		Outage{At: seconds(20), For: seconds(15), Bank: "bank-2"},
		Outage{At: seconds(59.5), For: seconds(0.5), Wallets: 0.125}) // a sliver at the very end
	p := parsePage(t, r)
	checkStandsAlone(t, p)
	labels := []string{"outage: 30% of wallets", "outage: bank-2", "outage: 12.5% of wallets"}
	for i, f := range p.figures {
		if strings.Join(f.bands, "|") != strings.Join(labels, "|") {
			t.Errorf("chart %d shades %q, want %q", i, f.bands, labels)
		}
		legend := strings.Join(f.legend, "|")
		for _, l := range labels {
			if !strings.Contains(legend, l) || !strings.Contains(f.label, l) {
				t.Errorf("chart %d: %q is missing from its legend %q or its aria-label %q", i, l, f.legend, f.label)
			}
		}
	}
	throughput := strings.Join(p.figures[0].legend, "|")
	for _, want := range []string{"failed during the scripted outages", "failed, other"} {
		if !strings.Contains(throughput, want) {
			t.Errorf("the throughput legend %q lacks %q", throughput, want)
		}
	}
	in, other := fmt.Sprint(r.FailedInOutage), fmt.Sprint(r.Failed-r.FailedInOutage)
	for _, want := range []string{"A failure counts as during the scripted outages when", "<td>" + in + "</td><td>" + other + "</td></tr>"} {
		if !strings.Contains(p.html, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// An outage the run never reached (a run of a number of payments can end
// before it) is in the legend, said to be after the run, and not drawn.
func TestReport_HTMLOutageAfterTheRun(t *testing.T) {
	r := reportFixture("short", 5, 10, 1000, Outage{At: seconds(30), For: seconds(10), Bank: "bank-1"})
	p := parsePage(t, r)
	checkStandsAlone(t, p)
	for i, f := range p.figures {
		if len(f.bands) != 0 {
			t.Errorf("chart %d shades %q past its time axis", i, f.bands)
		}
		if !strings.Contains(strings.Join(f.legend, "|"), "outage: bank-1 (30–40 s, after the run ended)") {
			t.Errorf("chart %d: legend %q", i, f.legend)
		}
	}
}

func TestReport_HTMLWithoutOutages(t *testing.T) {
	r := reportFixture("calm", 30, 50, 1e6)
	r.Failed, r.Errors = 3, map[string]int{"connection": 3}
	p := parsePage(t, r)
	checkStandsAlone(t, p)
	for i, f := range p.figures {
		if len(f.bands) != 0 {
			t.Errorf("chart %d shades %q with no outage", i, f.bands)
		}
	}
	if strings.Contains(p.html, "scripted outage") {
		t.Error("a run without outages speaks of one")
	}
	if l := p.figures[0].legend; !strings.Contains(strings.Join(l, "|"), "|failed") {
		t.Errorf("throughput legend %q", l)
	}
	if l := p.figures[1].legend; len(l) != 0 {
		t.Errorf("the latency chart draws one line and has a legend: %q", l)
	}
}

// Degenerate runs still make a page that parses, with every chart's axes.
func TestReport_HTMLEdgeCases(t *testing.T) {
	huge := reportFixture("huge", 3, 1_000_000, math.MaxInt64/10)
	huge.Elapsed = 86_400 // a day, sampled only at its start
	nan := reportFixture("odd", 4, 1, 1)
	nan.Timeline[0].P99, nan.Timeline[1].P99 = math.NaN(), math.Inf(1)
	nan.Timeline[2].P99, nan.Timeline[3].P99 = math.MaxFloat64, -math.MaxFloat64
	nan.Money[0].Wallets = -5 // not a state the ledger allows, but the chart must not break on it
	for _, tc := range []struct {
		name string
		r    *Report
	}{
		{"zero payments", &Report{Scenario: "empty", Errors: map[string]int{}}},
		{"zero payments with an outage", &Report{Scenario: "empty", Outages: outageWindows([]Outage{{At: 0, For: seconds(1), Bank: "bank-1"}})}},
		{"a single second", reportFixture("one", 1, 3, 100)},
		{"a fraction of a second", func() *Report { r := reportFixture("blink", 1, 3, 100); r.Elapsed = 0.01; return r }()},
		{"very large numbers", huge},
		{"values that are not numbers", nan},
		{"markup in names", reportFixture(`<b>"x"&y</b>`, 4, 2, 10, Outage{At: seconds(1), For: seconds(1), Bank: `bank-<1>&"`})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := parsePage(t, tc.r)
			checkStandsAlone(t, p)
			if strings.Contains(p.html, "NaN") || strings.Contains(p.html, "Inf") {
				t.Error("the page writes NaN or Inf")
			}
			if strings.Contains(p.html, "<b>") {
				t.Error("markup from a name reached the page unescaped")
			}
		})
	}
}
