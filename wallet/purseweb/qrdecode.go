package purseweb

import (
	"errors"
	"fmt"
	"image"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// ErrNoQRCode means a camera frame holds no QR code that could be read;
// the page tries the next frame.
var ErrNoQRCode = errors.New("no QR code in the picture")

// DecodeQR reads the QR code in a camera frame: width×height pixels of
// RGBA, as a canvas's ImageData holds them.
func DecodeQR(rgba []byte, width, height int) (string, error) {
	if width <= 0 || height <= 0 || len(rgba) != width*height*4 {
		return "", fmt.Errorf("purseweb: a frame of %d×%d pixels is %d bytes of RGBA, got %d", width, height, width*height*4, len(rgba))
	}
	img := &image.RGBA{Pix: rgba, Stride: width * 4, Rect: image.Rect(0, 0, width, height)}
	return decodeImage(img)
}

// decodeImage tries the local thresholds that suit uneven light first,
// then one threshold for the whole frame, which reads some codes the
// first misses.
func decodeImage(img image.Image) (string, error) {
	src := gozxing.NewLuminanceSourceFromImage(img)
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	for _, binarize := range []func(gozxing.LuminanceSource) gozxing.Binarizer{
		gozxing.NewHybridBinarizer, gozxing.NewGlobalHistgramBinarizer,
	} {
		bmp, err := gozxing.NewBinaryBitmap(binarize(src))
		if err != nil {
			return "", err
		}
		if res, err := qrcode.NewQRCodeReader().Decode(bmp, hints); err == nil {
			return res.GetText(), nil
		}
	}
	return "", ErrNoQRCode
}
