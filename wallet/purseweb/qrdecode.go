package purseweb

import (
	"errors"
	"fmt"

	"github.com/makiuchi-d/gozxing"
	multiqr "github.com/makiuchi-d/gozxing/multi/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// ErrNoQRCode means a camera frame holds no QR code that could be read;
// the page tries the next frame.
var ErrNoQRCode = errors.New("no QR code in the picture")

// DecodeQR reads the QR code in a camera frame: width×height pixels of
// RGBA, as a canvas's ImageData holds them. frame counts the frames of
// one scan from 0.
//
// The plain reading misses about two codes in a hundred at four to seven
// pixels a module, and misses them in every frame while the phones are
// held still: its finder takes a corner of the data for a corner of the
// code, or samples the modules out of step. So when it finds nothing,
// the frame is read once more another way, a different way each frame:
// with every right-angled set of three corner-like patterns tried as the
// code's corners, or shrunk to 5/6, 4/5, 3/4 or 2/3, which moves the
// pixels against the modules. Each way reads codes the others miss; in
// turn they read a still code within five frames.
func DecodeQR(rgba []byte, width, height, frame int) (string, error) {
	if width <= 0 || height <= 0 || len(rgba) != width*height*4 {
		return "", fmt.Errorf("purseweb: a frame of %d×%d pixels is %d bytes of RGBA, got %d", width, height, width*height*4, len(rgba))
	}
	if frame < 0 {
		return "", fmt.Errorf("purseweb: frame %d: frames count from 0", frame)
	}
	lum := make([]byte, width*height)
	for i := range lum {
		p := rgba[4*i : 4*i+4 : 4*i+4]
		// As gozxing weighs a pixel: green twice, over white where it
		// is transparent.
		y := (int(p[0]) + 2*int(p[1]) + int(p[2])) / 4
		lum[i] = byte((y*int(p[3]) + 255*(255-int(p[3]))) / 255)
	}
	src := luminance(lum, width, height)
	if text, err := decodePlain(src); err == nil {
		return text, nil
	}
	return otherWays[frame%len(otherWays)](lum, width, height)
}

// otherWays read a frame the plain reading missed, one a frame in turn:
// every-finder, then the frame shrunk to 5/6, 4/5, 3/4 and 2/3.
var otherWays = []func(lum []byte, width, height int) (string, error){
	func(lum []byte, width, height int) (string, error) {
		return decodeEveryFinder(luminance(lum, width, height))
	},
	shrunkTo(5, 6), shrunkTo(4, 5), shrunkTo(3, 4), shrunkTo(2, 3),
}

// shrunkTo is the plain reading of a frame shrunk to num/den.
func shrunkTo(num, den int) func([]byte, int, int) (string, error) {
	return func(lum []byte, width, height int) (string, error) {
		w, h, small := shrink(lum, width, height, num, den)
		return decodePlain(luminance(small, w, h))
	}
}

var tryHarder = map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}

// luminance is a frame's grey levels as the reader takes them.
func luminance(lum []byte, width, height int) gozxing.LuminanceSource {
	src, err := gozxing.NewPlanarYUVLuminanceSource(lum, width, height, 0, 0, width, height, false)
	if err != nil {
		panic(err) // only for a crop outside the frame, which this is not
	}
	return src
}

// decodePlain tries the local thresholds that suit uneven light first,
// then one threshold for the whole frame, which reads some codes the
// first misses.
func decodePlain(src gozxing.LuminanceSource) (string, error) {
	for _, binarize := range []func(gozxing.LuminanceSource) gozxing.Binarizer{
		gozxing.NewHybridBinarizer, gozxing.NewGlobalHistgramBinarizer,
	} {
		bmp, err := gozxing.NewBinaryBitmap(binarize(src))
		if err != nil {
			return "", err
		}
		if res, err := qrcode.NewQRCodeReader().Decode(bmp, tryHarder); err == nil {
			return res.GetText(), nil
		}
	}
	return "", ErrNoQRCode
}

// decodeEveryFinder tries every set of three corner-like patterns that
// share a module size and stand at a right angle as the code's corners,
// where the plain reading takes the three that look most alike.
func decodeEveryFinder(src gozxing.LuminanceSource) (string, error) {
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(src))
	if err != nil {
		return "", err
	}
	res, err := multiqr.NewQRCodeMultiReader().DecodeMultiple(bmp, tryHarder)
	if err != nil || len(res) == 0 {
		return "", ErrNoQRCode
	}
	return res[0].GetText(), nil
}

// shrink scales width×height grey levels by num/den (less than one),
// each new pixel the average of those it covers; the last row or column
// may be left out.
func shrink(lum []byte, width, height, num, den int) (int, int, []byte) {
	sw, sh := width*num/den, height*num/den
	if sw < 1 || sh < 1 {
		return width, height, lum
	}
	out := make([]byte, sw*sh)
	for y := range sh {
		y0, y1 := y*den/num, min(max((y+1)*den/num, y*den/num+1), height)
		for x := range sw {
			x0, x1 := x*den/num, min(max((x+1)*den/num, x*den/num+1), width)
			sum := 0
			for yy := y0; yy < y1; yy++ {
				for _, v := range lum[yy*width+x0 : yy*width+x1] {
					sum += int(v)
				}
			}
			out[y*sw+x] = byte(sum / ((y1 - y0) * (x1 - x0)))
		}
	}
	return sw, sh, out
}
