//go:build js && wasm

// Command purse-wasm is a wallet's offline purse for a web page: built
// with GOOS=js GOARCH=wasm, it sets cbdcPurse(method, argsJSON), which
// returns the answer's JSON (package purseweb says the methods), and
// cbdcDecodeQR(rgbaBytes, width, height), which returns the text of the
// QR code in a camera frame or "" when there is none, and runs until the
// page goes.
package main

import (
	"syscall/js"

	"github.com/digital-yen/cbdc-sandbox/wallet/purseweb"
)

// frames counts cbdcDecodeQR's calls; the page calls on one thread.
var frames int

func main() {
	js.Global().Set("cbdcPurse", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) != 2 || args[0].Type() != js.TypeString || args[1].Type() != js.TypeString {
			return `{"error":{"code":"bad_request","message":"call cbdcPurse(method, argsJSON), both strings"}}`
		}
		return string(purseweb.Call(args[0].String(), []byte(args[1].String())))
	}))
	js.Global().Set("cbdcDecodeQR", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) != 3 || args[0].Type() != js.TypeObject {
			return ""
		}
		rgba := make([]byte, args[0].Get("length").Int())
		js.CopyBytesToGo(rgba, args[0])
		// The calls are counted as the frames: the page reads a scan's
		// frames one after another, so any five calls in a row try each
		// of DecodeQR's ways.
		text, err := purseweb.DecodeQR(rgba, args[1].Int(), args[2].Int(), frames)
		frames++
		if err != nil {
			return ""
		}
		return text
	}))
	select {}
}
