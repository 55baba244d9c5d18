package sim

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// Chart geometry, in the SVG's own units. The page's CSS sets chart text
// at most fontMax units high (at phone width, where the chart is drawn
// smallest), so every margin leaves room for text of that size.
const (
	chartW   = 720.0
	plotH    = 220.0
	fontMin  = 14.0 // chart text on a wide screen
	fontMid  = 18.0 // at most 640 px wide
	fontMax  = 24.0 // at most 480 px wide
	charW    = 0.62 * fontMax
	rowH     = fontMax + 8
	tickGap  = 6.0
	maxXTick = 6
	maxYTick = 4
)

// chart is lines over the run's time axis, with its outages shaded.
type chart struct {
	title    string // the figure's caption
	yTitle   string // the y axis's title, with its unit
	lines    []line
	span     float64 // seconds the time axis covers
	integral bool    // the values are whole numbers
	outages  []OutageWindow
	empty    string // said in the plot when no line has a point
}

type point struct{ x, y float64 }

// line is one series; dash is its pattern of dashes and gaps (none for
// solid), so the series differ in more than colour.
type line struct {
	name, color string
	dash        []float64
	pts         []point
}

// frame is where a chart's parts fall in the SVG.
type frame struct {
	left, right, top, bottom float64 // the plot's edges
	lo, hi, step             float64 // the y axis
	xdiv, xstep              float64 // seconds a time unit holds, and the time ticks' step in that unit
	xunit                    string
	rows                     []int // each outage's label row; -1 when the outage lies past the time axis
}

// html draws the chart as a figure: caption, SVG and legend.
func (c chart) html() template.HTML {
	f := c.frame()
	var b strings.Builder
	fmt.Fprintf(&b, `<figure><figcaption>%s</figcaption>`, esc(c.title))
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`, chartW, f.bottom+tickGap+2*rowH+4, esc(c.summary()))
	c.drawBands(&b, f)
	c.drawAxes(&b, f)
	c.drawLines(&b, f)
	b.WriteString(`</svg>`)
	c.legend(&b, f)
	b.WriteString(`</figure>`)
	return template.HTML(b.String())
}

func (c chart) frame() frame {
	f := frame{xdiv: 1, xunit: "s"}
	switch {
	case c.span > 3*3600:
		f.xdiv, f.xunit = 3600, "h"
	case c.span > 900:
		f.xdiv, f.xunit = 60, "min"
	}
	_, f.xstep = niceRange(0, c.span/f.xdiv, maxXTick, false)
	lo, hi := 0.0, 0.0
	for _, l := range c.lines {
		for _, p := range l.pts {
			if plottable(p.y) {
				lo, hi = min(lo, p.y), max(hi, p.y)
			}
		}
	}
	f.lo, f.step = niceRange(lo, hi, maxYTick, c.integral)
	f.hi = f.lo + f.step*max(1, math.Ceil((hi-f.lo)/f.step-1e-9))
	width := 1
	for _, v := range f.yTicks() {
		width = max(width, len(tickLabel(v, f.step, f.lo, f.hi)))
	}
	f.left = 12 + float64(width)*charW
	xt := f.xTicks(c.span)
	last := tickLabel(xt[len(xt)-1], f.xstep, 0, c.span/f.xdiv)
	f.right = chartW - 4 - 0.5*float64(len(last))*charW
	var rows int
	f.rows, rows = c.labelRows(f)
	f.top = rowH*float64(1+rows) + 16
	f.bottom = f.top + plotH
	return f
}

// yTicks are the values the y axis marks, lo to hi.
func (f frame) yTicks() []float64 {
	out := make([]float64, 1+steps(math.Round((f.hi-f.lo)/f.step), 2*maxYTick))
	for i := range out {
		out[i] = f.lo + float64(i)*f.step
	}
	return out
}

// xTicks are the times the time axis marks, in its unit.
func (f frame) xTicks(span float64) []float64 {
	out := make([]float64, 1+steps(math.Floor(span/f.xdiv/f.xstep+1e-9), 2*maxXTick))
	for i := range out {
		out[i] = float64(i) * f.xstep
	}
	return out
}

// steps is n as a count of steps from 0 to most; an axis whose values
// overflow arithmetic gets what it can draw.
func steps(n float64, most int) int {
	if !(n >= 0) {
		return 0
	}
	return int(min(n, float64(most)))
}

// labelRows puts each outage's label in the first row above the plot
// where it overlaps no other.
func (c chart) labelRows(f frame) ([]int, int) {
	var ends []float64 // the right end of the last label in each row
	rows := make([]int, len(c.outages))
	for i, o := range c.outages {
		if o.From >= c.span {
			rows[i] = -1
			continue
		}
		x0, x1, _ := labelExtent(f, c.span, o)
		rows[i] = len(ends)
		for r, end := range ends {
			if end+charW < x0 {
				rows[i] = r
				break
			}
		}
		if rows[i] == len(ends) {
			ends = append(ends, x1)
		} else {
			ends[rows[i]] = x1
		}
	}
	return rows, len(ends)
}

// labelExtent is where an outage's label is written at its largest: from
// its band's start, or, where that would run past the chart, ending at its
// band's end (end is true).
func labelExtent(f frame, span float64, o OutageWindow) (x0, x1 float64, end bool) {
	w := float64(len([]rune(o.Label))) * charW
	x0 = f.x(min(max(o.From, 0), span), span) + 4
	if x0+w <= chartW-2 {
		return x0, x0 + w, false
	}
	x1 = min(f.x(min(o.To, span), span)-4, chartW-2)
	return max(x1-w, 0), x1, true
}

func (f frame) x(t, span float64) float64 {
	return f.left + (f.right-f.left)*t/span
}

func (f frame) y(v float64) float64 {
	return f.bottom - plotH*(v-f.lo)/(f.hi-f.lo)
}

func (c chart) drawBands(b *strings.Builder, f frame) {
	for i, o := range c.outages {
		if f.rows[i] < 0 {
			continue
		}
		x0, x1 := f.x(max(o.From, 0), c.span), f.x(min(o.To, c.span), c.span)
		top := rowH*float64(1+f.rows[i]) + 2
		lx0, lx1, end := labelExtent(f, c.span, o)
		fmt.Fprintf(b, `<g class="band"><title>%s</title><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`,
			esc(o.Label+", "+c.window(f, o)), x0, top, max(x1-x0, 1), f.bottom-top)
		if end {
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text></g>`, lx1, top+fontMax, esc(o.Label))
		} else {
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text></g>`, lx0, top+fontMax, esc(o.Label))
		}
	}
}

func (c chart) drawAxes(b *strings.Builder, f frame) {
	fmt.Fprintf(b, `<text x="0" y="%.0f" class="title">%s</text>`, fontMax, esc(c.yTitle))
	for _, v := range f.yTicks() {
		y := f.y(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="grid"/>`, f.left, y, f.right, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`,
			f.left-tickGap, y, tickLabel(v, f.step, f.lo, f.hi))
	}
	for _, t := range f.xTicks(c.span) {
		x := f.x(t*f.xdiv, c.span)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="axis"/>`, x, f.bottom, x, f.bottom+tickGap)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x, f.bottom+tickGap+fontMax, tickLabel(t, f.xstep, 0, c.span/f.xdiv))
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="axis"/>`, f.left, f.top, f.left, f.bottom)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="axis"/>`, f.left, f.bottom, f.right, f.bottom)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" class="title">time since the run started (%s)</text>`,
		(f.left+f.right)/2, f.bottom+tickGap+2*rowH-6, f.xunit)
}

func (c chart) drawLines(b *strings.Builder, f frame) {
	drawn := false
	for _, l := range c.lines {
		var pts []string
		var last point
		for _, p := range l.pts {
			if finite(p.x) && plottable(p.y) {
				last = point{f.x(min(max(p.x, 0), c.span), c.span), f.y(p.y)}
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", last.x, last.y))
			}
		}
		switch {
		case len(pts) == 1: // a line needs two points; mark the one
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>`, last.x, last.y, l.color)
		case len(pts) > 1:
			fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2.5" stroke-dasharray="%s" stroke-linecap="round" stroke-linejoin="round" vector-effect="non-scaling-stroke" points="%s"/>`,
				l.color, dashes(l.dash), strings.Join(pts, " "))
		}
		drawn = drawn || len(pts) > 0
	}
	if !drawn {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" class="title">%s</text>`,
			(f.left+f.right)/2, f.top+plotH/2, esc(c.empty))
	}
}

// legend names every line and outage in text, with a sample of how each
// is drawn; a chart of one line and no outage needs none.
func (c chart) legend(b *strings.Builder, f frame) {
	if len(c.lines) < 2 && len(c.outages) == 0 {
		return
	}
	b.WriteString(`<ul class="legend">`)
	for _, l := range c.lines {
		fmt.Fprintf(b, `<li><span class="swatch" style="background:%s" aria-hidden="true"></span>%s</li>`, swatch(l), esc(l.name))
	}
	for i, o := range c.outages {
		note := ""
		if f.rows[i] < 0 {
			note = ", after the run ended"
		}
		fmt.Fprintf(b, `<li><span class="swatch band" aria-hidden="true"></span>%s (%s%s)</li>`, esc(o.Label), c.window(f, o), note)
	}
	b.WriteString(`</ul>`)
}

// dashes writes a dash pattern as SVG's stroke-dasharray does; "none" for
// a solid line.
func dashes(d []float64) string {
	if len(d) == 0 {
		return "none"
	}
	s := make([]string, len(d))
	for i, v := range d {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, " ")
}

// swatch is a CSS background drawing a line's dashes.
func swatch(l line) string {
	if len(l.dash) == 0 {
		return l.color
	}
	var stops []string
	at := 0.0
	for i, d := range l.dash {
		c := l.color
		if i%2 == 1 {
			c = "transparent"
		}
		stops = append(stops, fmt.Sprintf("%s %gpx %gpx", c, at, at+d))
		at += d
	}
	return "repeating-linear-gradient(90deg," + strings.Join(stops, ",") + ")"
}

// window is when an outage was, in the time axis's unit.
func (c chart) window(f frame, o OutageWindow) string {
	return fmt.Sprintf("%s–%s %s", trim(o.From/f.xdiv), trim(o.To/f.xdiv), f.xunit)
}

// summary says in words what the chart shows, for screen readers.
func (c chart) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Line chart of %s against time, over the %s s of the run.", c.yTitle, trim(c.span))
	for _, l := range c.lines {
		top, n := math.Inf(-1), 0
		for _, p := range l.pts {
			if plottable(p.y) {
				top, n = max(top, p.y), n+1
			}
		}
		if n == 0 {
			fmt.Fprintf(&b, " %s: no data.", l.name)
			continue
		}
		fmt.Fprintf(&b, " %s: highest %s.", l.name, compact(top))
	}
	for _, o := range c.outages {
		fmt.Fprintf(&b, " Shaded: %s from %s to %s s.", o.Label, trim(o.From), trim(o.To))
	}
	return b.String()
}

// niceRange widens lo to a multiple of a round step (1, 2, 2.5 or 5 times
// a power of ten) that divides lo…hi into at most n parts.
func niceRange(lo, hi float64, n int, integral bool) (float64, float64) {
	span := hi - lo
	switch {
	case !finite(span):
		return 0, 1
	case !(span > 0):
		span = 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	if integral {
		step = max(step, 1)
	}
	return math.Floor(lo/step) * step, step
}

// tickLabel writes v compactly (12k, 1.5M), with the decimals its axis's
// step needs to tell ticks apart.
func tickLabel(v, step, lo, hi float64) string {
	if math.Abs(v) < step*1e-9 {
		return "0"
	}
	div, suffix := scaleOf(max(math.Abs(lo), math.Abs(hi)))
	decimals := 0
	for s := step / div; decimals < 3 && math.Abs(s-math.Round(s)) > 1e-9*max(1, s); s *= 10 {
		decimals++
	}
	return fmt.Sprintf("%.*f%s", decimals, v/div, suffix)
}

// compact writes v for a sentence: 312, 4.5, 1.2M.
func compact(v float64) string {
	div, suffix := scaleOf(math.Abs(v))
	return trim(v/div) + suffix
}

// scaleOf is the unit large numbers as big as v are written in.
func scaleOf(v float64) (float64, string) {
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "k"}} {
		if v >= u.div {
			return u.div, u.suffix
		}
	}
	return 1, ""
}

// trim writes a number with at most one decimal and none when whole.
func trim(v float64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0")
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// plottable says whether a chart draws v: no count, yen amount or latency a
// run reports comes near the bound, and a value beyond it is broken.
func plottable(v float64) bool { return finite(v) && math.Abs(v) <= 1e30 }

func esc(s string) string { return template.HTMLEscapeString(s) }
