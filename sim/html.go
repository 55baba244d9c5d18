package sim

import (
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
)

// WriteHTML writes the report as one self-contained HTML page: the figures,
// the failures split by whether a scripted outage caused them, and charts of
// throughput, latency, money by tier and offline exposure over time, drawn
// as inline SVG with the outages shaded, so it opens anywhere without a
// network. The page's height depends only on its width, so a frame can be
// sized to it.
func (r *Report) WriteHTML(w io.Writer) error {
	var table strings.Builder
	r.WriteTable(&table)
	data := struct {
		R                         *Report
		Table                     string
		Charts                    []template.HTML
		Failures                  []failureRow
		During                    string
		ShowSplit                 bool
		FontMin, FontMid, FontMax float64
	}{R: r, Table: table.String(), Charts: r.charts(), Failures: r.failureRows(), During: r.duringOutage(),
		ShowSplit: len(r.Outages) > 0, FontMin: fontMin, FontMid: fontMid, FontMax: fontMax}
	return reportPage.Execute(w, data)
}

// Series colours: dark enough to read on white, apart in hue, and each
// line also has its own dash.
const (
	green  = "#2b7a3d"
	brown  = "#8a5a00"
	red    = "#b3261e"
	blue   = "#1f4e99"
	purple = "#6a3d9a"
)

var (
	dashed  = []float64{9, 5}
	dotted  = []float64{2, 5}
	dashDot = []float64{12, 4, 2, 4}
)

func (r *Report) charts() []template.HTML {
	charts := []chart{r.throughputChart(), r.latencyChart(), r.moneyChart()}
	if r.Offline != nil {
		charts = append(charts, r.exposureChart())
	}
	out := make([]template.HTML, len(charts))
	for i, c := range charts {
		c.span, c.outages = r.span(), r.Outages
		out[i] = c.html()
	}
	return out
}

// perSecond is a figure of each second of the timeline, drawn at the
// second's middle, as it counts what happened from its start to its end.
func (r *Report) perSecond(f func(Second) int) []point {
	out := make([]point, len(r.Timeline))
	for i, s := range r.Timeline {
		out[i] = point{float64(s.T) + 0.5, float64(f(s))}
	}
	return out
}

func (r *Report) throughputChart() chart {
	lines := []line{
		{"paid", green, nil, r.perSecond(func(s Second) int { return s.Paid })},
		{"paid offline (part of paid)", brown, dashed, r.perSecond(func(s Second) int { return s.Offline })},
	}
	if len(r.Outages) > 0 {
		lines = append(lines,
			line{"failed " + r.duringOutage(), purple, dashDot, r.perSecond(func(s Second) int { return s.FailedInOutage })},
			line{"failed, other", red, dotted, r.perSecond(func(s Second) int { return s.Failed - s.FailedInOutage })})
	} else {
		lines = append(lines, line{"failed", red, dotted, r.perSecond(func(s Second) int { return s.Failed })})
	}
	return chart{title: "Payments answered each second", yTitle: "payments per second", lines: lines,
		integral: true, empty: "no payments in this run"}
}

func (r *Report) latencyChart() chart {
	p99 := make([]point, len(r.Timeline))
	for i, s := range r.Timeline {
		p99[i] = point{float64(s.T) + 0.5, s.P99}
	}
	return chart{title: "p99 latency of the online payments due in each second", yTitle: "p99 latency (ms)",
		lines: []line{{"p99", blue, nil, p99}}, empty: "no payments in this run"}
}

func (r *Report) moneyChart() chart {
	var wallets, banks, escrow []point
	for _, m := range r.Money {
		wallets = append(wallets, point{float64(m.T), float64(m.Wallets)})
		banks = append(banks, point{float64(m.T), float64(m.Intermediaries)})
		escrow = append(escrow, point{float64(m.T), float64(m.Escrow)})
	}
	return chart{title: "CBDC by tier", yTitle: "CBDC held (yen)", integral: true, empty: "no samples: the ledger was not read",
		lines: []line{{"wallets", green, nil, wallets}, {"intermediaries", blue, dashed, banks}, {"offline escrow", brown, dotted, escrow}}}
}

func (r *Report) exposureChart() chart {
	var unsettled, held []point
	for _, e := range r.Offline.Exposure {
		unsettled = append(unsettled, point{float64(e.T), float64(e.Unsettled)})
		held = append(held, point{float64(e.T), float64(e.Escrow)})
	}
	return chart{title: "Offline exposure: paid in vouchers not yet settled, and held in purse escrow",
		yTitle: "value (yen)", integral: true, empty: "no exposure samples",
		lines: []line{{"unsettled vouchers", red, nil, unsettled}, {"purse escrow", brown, dashed, held}}}
}

// span is the seconds every chart's time axis covers: the run, and any
// sample taken after it.
func (r *Report) span() float64 {
	s := r.Elapsed
	if n := len(r.Timeline); n > 0 {
		s = max(s, float64(r.Timeline[n-1].T+1))
	}
	if n := len(r.Money); n > 0 {
		s = max(s, float64(r.Money[n-1].T))
	}
	if r.Offline != nil && len(r.Offline.Exposure) > 0 {
		s = max(s, float64(r.Offline.Exposure[len(r.Offline.Exposure)-1].T))
	}
	if !finite(s) || s < 1 {
		return 1
	}
	return math.Ceil(s)
}

// failureRow is one error code's failed payments, split; the last row
// is their total.
type failureRow struct {
	Code          string
	During, Other int
	Total         bool
}

func (r *Report) failureRows() []failureRow {
	if r.Failed == 0 {
		return nil
	}
	var rows []failureRow
	for _, c := range slices.Sorted(maps.Keys(r.Errors)) {
		rows = append(rows, failureRow{Code: c, During: r.OutageErrors[c], Other: r.Errors[c] - r.OutageErrors[c]})
	}
	return append(rows, failureRow{Code: "all", During: r.FailedInOutage, Other: r.Failed - r.FailedInOutage, Total: true})
}

// breakable lets an error code break after its underscores on a narrow
// screen.
func breakable(code string) template.HTML {
	return template.HTML(strings.ReplaceAll(esc(code), "_", "_<wbr/>"))
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{"breakable": breakable}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>cbdc sim: {{.R.Scenario}}</title>
<style>
html { background: #fff; color: #1d1d1f; }
body { font: 16px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 820px; padding: 1em; }
h1 { font-size: 1.5em; margin: 0 0 .4em; overflow-wrap: anywhere; }
h2 { font-size: 1.15em; margin: 1.5em 0 .4em; }
pre { background: #f4f4f6; padding: 1em; font-size: 13px; white-space: pre-wrap; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: .5em 0; }
caption { text-align: left; font-weight: 600; padding: 0 .5em .2em; }
.wide { overflow-x: auto; }
th, td { padding: .2em .5em; border-bottom: 1px solid #d4d4d8; text-align: right; }
td { white-space: nowrap; }
th:first-child { text-align: left; font-weight: normal; font-family: ui-monospace, monospace; font-size: 14px; }
thead th, thead th:first-child { font-weight: 600; font-family: inherit; }
tr.total th { font-family: inherit; font-weight: 600; }
figure { margin: 1.5em 0; } figcaption { font-weight: 600; margin-bottom: .3em; }
svg { display: block; width: 100%; height: auto; }
svg text { font-size: {{.FontMin}}px; fill: #555; }
svg text.title { fill: #1d1d1f; }
.axis { stroke: #767676; } .grid { stroke: #e4e4e7; }
.band rect { fill: #e9e7f3; stroke: #6a6f80; stroke-dasharray: 4 3; }
.band text { fill: #333; }
@media (max-width: 640px) { svg text { font-size: {{.FontMid}}px; } }
@media (max-width: 480px) { svg text { font-size: {{.FontMax}}px; } }
ul.legend { list-style: none; margin: .4em 0 0; padding: 0; display: flex; flex-wrap: wrap; gap: .2em 1.4em; font-size: 14px; color: #333; }
ul.legend li { display: flex; align-items: center; gap: .45em; }
.swatch { display: inline-block; width: 30px; height: 3px; flex: none; }
.swatch.band { height: 14px; width: 22px; background: #e9e7f3; border: 1px dashed #6a6f80; }
</style></head><body>
<h1>Scenario {{.R.Scenario}}</h1>
<p>Seed {{.R.Seed}}; {{printf "%.1f" .R.Elapsed}} s; {{.R.Paid}} of {{.R.Payments}} payments paid{{if .R.Failed}}, {{.R.Failed}} failed{{if .ShowSplit}} ({{.R.FailedInOutage}} {{.During}}){{end}}{{end}};
{{if not .R.LedgerSeen}}money not watched: the run was not given a view of the ledger{{else if .R.Conserved}}money conserved{{else}}<strong>money NOT conserved</strong>{{end}}.</p>
{{if .ShowSplit}}<p>A failure counts as {{.During}} when the outage had cut off the payment's payer or payee at the moment it was due; every other failure, at any time, counts as other.</p>
{{end}}{{with .Failures}}<div class="wide"><table><caption>Failed payments by error code</caption>
<thead><tr><th scope="col">code</th>{{if $.ShowSplit}}<th scope="col">{{$.During}}</th><th scope="col">other</th>{{else}}<th scope="col">failed</th>{{end}}</tr></thead>
<tbody>{{range .}}<tr{{if .Total}} class="total"{{end}}><th scope="row">{{breakable .Code}}</th>{{if $.ShowSplit}}<td>{{.During}}</td>{{end}}<td>{{.Other}}</td></tr>
{{end}}</tbody></table></div>
{{end}}{{range .Charts}}{{.}}
{{end}}<h2>All figures</h2>
<pre>{{.Table}}</pre>
</body></html>
`))
