package sim

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/digital-yen/cbdc-sandbox/internal/browsertest"
)

// browser starts a headless Chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("a browser test")
	}
	return browsertest.Start(t, 1440, 900, 2*time.Minute)
}

// faults lists, in the page as laid out, what a reader would find wrong: the
// page scrolling sideways, chart text cut off by its chart's edge, smaller
// than minPx pixels, or written over other text.
const faults = `((minPx) => {
  const out = [], de = document.documentElement;
  if (de.scrollWidth > window.innerWidth) out.push("the page is " + de.scrollWidth + " px wide in a " + window.innerWidth + " px window");
  document.querySelectorAll("svg").forEach((svg, i) => {
    const box = svg.getBoundingClientRect(), scale = box.width / svg.viewBox.baseVal.width;
    const texts = [...svg.querySelectorAll("text")], rects = texts.map(t => t.getBoundingClientRect());
    texts.forEach((t, j) => {
      const r = rects[j], name = "chart " + i + ": " + JSON.stringify(t.textContent);
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5)
        out.push(name + " is cut off");
      const px = parseFloat(getComputedStyle(t).fontSize) * scale;
      if (px < minPx) out.push(name + " is " + px.toFixed(1) + " px high");
      for (let k = 0; k < j; k++) {
        const o = rects[k];
        if (r.left < o.right - 1 && o.left < r.right - 1 && r.top < o.bottom - 1 && o.top < r.bottom - 1)
          out.push(name + " overlaps " + JSON.stringify(texts[k].textContent));
      }
    });
  });
  return out;
})`

// The report reads whole on a wide screen and on a phone, and its height
// depends on its width alone, so a frame sized to it on load fits.
func TestReport_HTMLInABrowser(t *testing.T) {
	ctx := browser(t)
	dir := t.TempDir()
	for _, r := range []*Report{
		reportFixture("outages", 60, 100, 1e8,
			Outage{At: seconds(10), For: seconds(20), Wallets: 0.3},
			Outage{At: seconds(20), For: seconds(15), Bank: "bank-2"},
			Outage{At: seconds(21), For: seconds(2), Wallets: 0.125},
			Outage{At: seconds(58), For: seconds(2), Bank: "bank-3"}),
		reportFixture("large", 1800, 1_000_000, math.MaxInt64/8, Outage{At: seconds(600), For: seconds(60), Bank: "bank-12"}),
		{Scenario: "empty"},
	} {
		path := filepath.Join(dir, r.Scenario+".html")
		var sb strings.Builder
		if err := r.WriteHTML(&sb); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, screen := range []struct{ width, minPx int64 }{{1440, 12}, {390, 10}, {320, 9}} {
			width := screen.width
			var heights []int
			for _, height := range []int64{700, 2400} {
				if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height), chromedp.Navigate("file://"+path)); err != nil {
					t.Fatal(err)
				}
				found, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf("%s(%d)", faults, screen.minPx)))
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range found {
					t.Errorf("%s at %d px: %s", r.Scenario, width, f)
				}
				h, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Math.ceil(document.body.getBoundingClientRect().height)`))
				if err != nil {
					t.Fatal(err)
				}
				heights = append(heights, h)
			}
			if heights[0] != heights[1] {
				t.Errorf("%s at %d px: %d px high in a short window, %d in a tall one", r.Scenario, width, heights[0], heights[1])
			}
		}
	}
}
