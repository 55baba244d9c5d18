// Package qrsvg draws text as a QR code in SVG, for the pages that show
// vouchers, payment requests and addresses to be scanned.
package qrsvg

import (
	"fmt"
	"html"
	"strings"

	"rsc.io/qr"
)

// SVG draws text as a QR code (error correction level L) with a quiet
// zone of four modules, labelled for screen readers; "" when text is too
// long for a QR code.
func SVG(text, label string) string {
	code, err := qr.Encode(text, qr.L)
	if err != nil {
		return ""
	}
	var b strings.Builder
	n := code.Size
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="-4 -4 %d %d" shape-rendering="crispEdges" role="img" aria-label="%s"><rect x="-4" y="-4" width="%d" height="%d" fill="#fff"/><path fill="#000" d="`,
		n+8, n+8, html.EscapeString(label), n+8, n+8)
	for y := range n {
		for x := range n {
			if code.Black(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}
