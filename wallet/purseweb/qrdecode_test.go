package purseweb_test

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"

	"rsc.io/qr"

	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/wallet/purseweb"
)

// render draws text's QR code as a camera might see it: scale pixels a
// module, a quiet zone, on a grey page, with some noise.
func render(t *testing.T, text string, scale int) *image.RGBA {
	t.Helper()
	code, err := qr.Encode(text, qr.L)
	if err != nil {
		t.Fatal(err)
	}
	size := (code.Size + 8) * scale
	img := image.NewRGBA(image.Rect(0, 0, size+40, size+40))
	for y := range img.Bounds().Dy() {
		for x := range img.Bounds().Dx() {
			img.Set(x, y, color.RGBA{200, 200, 190, 255})
		}
	}
	for y := range size {
		for x := range size {
			mx, my := x/scale-4, y/scale-4
			c := color.RGBA{250, 250, 245, 255}
			if mx >= 0 && my >= 0 && mx < code.Size && my < code.Size && code.Black(mx, my) {
				c = color.RGBA{20, 20, 30, 255}
			}
			if (x*7+y*13)%17 == 0 { // a little sensor noise
				c.R, c.G, c.B = c.R/2+60, c.G/2+60, c.B/2+60
			}
			img.Set(x+20, y+20, c)
		}
	}
	return img
}

// The decoder reads the codes the app shows: a payment request and a
// whole voucher (about a thousand characters), from a frame's RGBA.
func TestDecodeQR(t *testing.T) {
	b := newBank(t)
	lim := offline.DefaultPolicy().Limits
	payer, payee := newPurse(t, b, lim, 10_000), newPurse(t, b, lim, 0)
	req := payee.must("request", map[string]any{"amount": 1_500})
	v := payer.must("pay", map[string]any{"text": req.Text})
	for _, text := range []string{req.Text, v.Text, "w-4aade90789039b1a7bd7@bank-2"} {
		img := render(t, text, 4)
		got, err := purseweb.DecodeQR(img.Pix, img.Bounds().Dx(), img.Bounds().Dy(), 0)
		if err != nil || got != text {
			t.Errorf("decoding a code of %d characters: %q, %v", len(text), got, err)
		}
	}
	blank := image.NewRGBA(image.Rect(0, 0, 64, 64))
	if _, err := purseweb.DecodeQR(blank.Pix, 64, 64, 0); err != purseweb.ErrNoQRCode {
		t.Errorf("a frame with no code: %v, want ErrNoQRCode", err)
	}
	if _, err := purseweb.DecodeQR(make([]byte, 10), 64, 64, 0); err == nil {
		t.Error("a frame of the wrong size was read")
	}
	if _, err := purseweb.DecodeQR(blank.Pix, 64, 64, -1); err == nil || err == purseweb.ErrNoQRCode {
		t.Errorf("frame -1: %v, want an error saying frames count from 0", err)
	}
}

// A phone held still shows the camera the same picture frame after
// frame. Every code must be read within a few such frames, and never
// read as other text: random texts of a request's to a voucher's length,
// drawn at sizes that fall between pixels as a camera's do.
func TestDecodeQR_ReadsEveryStillCodeWithinFiveFrames(t *testing.T) {
	const codes = 200
	rng := rand.New(rand.NewPCG(20261207, 1))
	slow := 0
	for i := range codes {
		text := randomText(rng)
		pixelsPerModule := 4.5 + 2.5*rng.Float64()
		read := stillFramesToRead(t, text, renderBetweenPixels(t, text, pixelsPerModule, rng.Float64()))
		if read < 0 {
			t.Errorf("code %d (%d characters, %.2f pixels a module) not read in five frames", i, len(text), pixelsPerModule)
		}
		if read > 0 {
			slow++
		}
	}
	t.Logf("%d of %d codes were read only after the first frame", slow, codes)
}

// Each of the other ways of reading is the only one to read some still
// code: these five, one a way (every-finder, then shrunk to 5/6, 4/5, 3/4
// and 2/3), were found so among random codes drawn as below. Any way
// broken or left out leaves its code unread.
func TestDecodeQR_EachWayReadsACodeOnlyItReads(t *testing.T) {
	for _, seed := range []uint64{812, 26, 3731, 748, 1648} {
		rng := rand.New(rand.NewPCG(seed, 0))
		text := randomText(rng)
		pixelsPerModule := 3.5 + 3.5*rng.Float64()
		if stillFramesToRead(t, text, renderBetweenPixels(t, text, pixelsPerModule, rng.Float64())) < 0 {
			t.Errorf("seed %d (%d characters, %.2f pixels a module): not read in five frames", seed, len(text), pixelsPerModule)
		}
	}
}

// randomText is 40 to 1,039 characters of the kinds a request or a
// voucher carries.
func randomText(rng *rand.Rand) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	text := make([]byte, 40+rng.IntN(1000))
	for j := range text {
		text[j] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(text)
}

// stillFramesToRead shows img as five frames in a row and returns the
// frame that read it, or -1; a reading of other text fails the test.
func stillFramesToRead(t *testing.T, text string, img *image.RGBA) int {
	t.Helper()
	for frame := range 5 {
		got, err := purseweb.DecodeQR(img.Pix, img.Bounds().Dx(), img.Bounds().Dy(), frame)
		if err == nil && got != text {
			t.Fatalf("a code of %d characters read as other text: %.40q", len(text), got)
		}
		if err == nil {
			return frame
		}
	}
	return -1
}

// renderBetweenPixels draws text's QR code at a size that need not be a
// whole number of pixels a module, shifted by a fraction of a pixel:
// each pixel is as dark as the share of it that black modules cover.
func renderBetweenPixels(t *testing.T, text string, pixelsPerModule, shift float64) *image.RGBA {
	t.Helper()
	code, err := qr.Encode(text, qr.L)
	if err != nil {
		t.Fatal(err)
	}
	const margin = 20
	size := int(float64(code.Size+8)*pixelsPerModule) + 2*margin
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	// module is the module under image coordinate v, and how far into
	// it v lies (0 to 1), on one axis.
	module := func(v float64) (int, float64) {
		m := (v-margin-shift)/pixelsPerModule - 4
		f := math.Floor(m)
		return int(f), m - f
	}
	black := func(x, y int) float64 {
		if x >= 0 && y >= 0 && x < code.Size && y < code.Size && code.Black(x, y) {
			return 1
		}
		return 0
	}
	for py := range size {
		for px := range size {
			lum := 180.0 // the grey around the screen
			if px >= margin && py >= margin && px < size-margin && py < size-margin {
				// A pixel spans at most two modules on each axis.
				x0, fx0 := module(float64(px))
				x1, fx1 := module(float64(px + 1))
				y0, fy0 := module(float64(py))
				y1, fy1 := module(float64(py + 1))
				wx := []float64{1, 0}
				wy := []float64{1, 0}
				if x1 != x0 {
					wx = []float64{(1 - fx0) * pixelsPerModule, fx1 * pixelsPerModule}
				}
				if y1 != y0 {
					wy = []float64{(1 - fy0) * pixelsPerModule, fy1 * pixelsPerModule}
				}
				cover := 0.0
				for j, yw := range wy {
					for i, xw := range wx {
						cover += xw * yw * black(x0+i, y0+j)
					}
				}
				lum = 250 - 230*cover
			}
			o := img.PixOffset(px, py)
			img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3] = uint8(lum), uint8(lum), uint8(lum), 255
		}
	}
	return img
}
