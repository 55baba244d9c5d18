package purseweb_test

import (
	"image"
	"image/color"
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
		got, err := purseweb.DecodeQR(img.Pix, img.Bounds().Dx(), img.Bounds().Dy())
		if err != nil || got != text {
			t.Errorf("decoding a code of %d characters: %q, %v", len(text), got, err)
		}
	}
	blank := image.NewRGBA(image.Rect(0, 0, 64, 64))
	if _, err := purseweb.DecodeQR(blank.Pix, 64, 64); err != purseweb.ErrNoQRCode {
		t.Errorf("a frame with no code: %v, want ErrNoQRCode", err)
	}
	if _, err := purseweb.DecodeQR(make([]byte, 10), 64, 64); err == nil {
		t.Error("a frame of the wrong size was read")
	}
}
