package sim

import (
	"fmt"
	"html/template"
	"io"
	"strings"
)

// WriteHTML writes the report as one self-contained HTML page: the figures
// and charts of throughput, latency, money by tier and offline exposure over time, drawn as
// inline SVG, so it opens anywhere without a network.
func (r *Report) WriteHTML(w io.Writer) error {
	var table strings.Builder
	r.WriteTable(&table)
	paid, failed, p99 := series(r.Timeline, func(s Second) float64 { return float64(s.Paid) }),
		series(r.Timeline, func(s Second) float64 { return float64(s.Failed) }),
		series(r.Timeline, func(s Second) float64 { return s.P99 })
	offlinePaid := series(r.Timeline, func(s Second) float64 { return float64(s.Offline) })
	var wallets, banks, escrow []point
	for _, m := range r.Money {
		wallets = append(wallets, point{float64(m.T), float64(m.Wallets)})
		banks = append(banks, point{float64(m.T), float64(m.Intermediaries)})
		escrow = append(escrow, point{float64(m.T), float64(m.Escrow)})
	}
	charts := []template.HTML{
		chart("Payments answered a second", "payments/s", []line{{"paid", "#2b7a3d", paid}, {"failed", "#b3261e", failed}, {"paid offline", "#8a5a00", offlinePaid}}),
		chart("p99 latency of the online payments due in each second", "ms", []line{{"p99", "#1f4e99", p99}}),
		chart("CBDC by tier", "yen", []line{{"wallets", "#2b7a3d", wallets}, {"intermediaries", "#1f4e99", banks}, {"offline escrow", "#8a5a00", escrow}}),
	}
	if r.Offline != nil {
		var unsettled, held []point
		for _, e := range r.Offline.Exposure {
			unsettled = append(unsettled, point{float64(e.T), float64(e.Unsettled)})
			held = append(held, point{float64(e.T), float64(e.Escrow)})
		}
		charts = append(charts, chart("Offline exposure: paid in vouchers not yet settled, and held in purse escrow", "yen",
			[]line{{"unsettled vouchers", "#b3261e", unsettled}, {"purse escrow", "#8a5a00", held}}))
	}
	data := struct {
		R      *Report
		Table  string
		Charts []template.HTML
	}{R: r, Table: table.String(), Charts: charts}
	return reportPage.Execute(w, data)
}

type point struct{ x, y float64 }

type line struct {
	name, color string
	pts         []point
}

func series(ss []Second, f func(Second) float64) []point {
	out := make([]point, len(ss))
	for i, s := range ss {
		out[i] = point{float64(s.T), f(s)}
	}
	return out
}

// chart draws lines on shared axes as an SVG, scaled to the largest values.
func chart(title, unit string, lines []line) template.HTML {
	const w, h, left, bottom = 760.0, 220.0, 70.0, 24.0
	var maxX, maxY float64
	for _, l := range lines {
		for _, p := range l.pts {
			maxX, maxY = max(maxX, p.x), max(maxY, p.y)
		}
	}
	maxX, maxY = max(maxX, 1), max(maxY, 1)
	var b strings.Builder
	fmt.Fprintf(&b, `<figure><figcaption>%s</figcaption><svg viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`,
		template.HTMLEscapeString(title), w, h+bottom, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<line x1="%.0f" y1="0" x2="%.0f" y2="%.0f" class="axis"/><line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" class="axis"/>`,
		left, left, h, left, h, w, h)
	fmt.Fprintf(&b, `<text x="%.0f" y="12" class="tick" text-anchor="end">%s</text><text x="%.0f" y="%.0f" class="tick" text-anchor="end">0</text>`,
		left-4, template.HTMLEscapeString(compact(maxY)+" "+unit), left-4, h)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" class="tick" text-anchor="end">%.0f s</text>`, w, h+16, maxX)
	for i, l := range lines {
		var pts strings.Builder
		for _, p := range l.pts {
			fmt.Fprintf(&pts, "%.1f,%.1f ", left+(w-left)*p.x/maxX, h-h*p.y/maxY)
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, l.color, pts.String())
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" class="legend" fill="%s">%s</text>`, left+10+float64(i)*150, h+18, l.color,
			template.HTMLEscapeString(l.name))
	}
	b.WriteString(`</svg></figure>`)
	return template.HTML(b.String())
}

func compact(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.1fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

var reportPage = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>cbdc sim: {{.R.Scenario}}</title>
<style>
body { font: 15px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 820px; color: #1d1d1f; }
pre { background: #f4f4f6; padding: 1em; overflow-x: auto; }
figure { margin: 1.5em 0; } figcaption { font-weight: 600; margin-bottom: .3em; }
svg { width: 100%; height: auto; } .axis { stroke: #888; } .tick, .legend { font-size: 12px; fill: #555; }
</style></head><body>
<h1>Scenario {{.R.Scenario}}</h1>
<p>Seed {{.R.Seed}}; {{printf "%.1f" .R.Elapsed}} s; {{.R.Paid}} of {{.R.Payments}} payments paid;
{{if .R.Conserved}}money conserved{{else}}<strong>money NOT conserved</strong>{{end}}.</p>
<pre>{{.Table}}</pre>
{{range .Charts}}{{.}}{{end}}
</body></html>
`))
