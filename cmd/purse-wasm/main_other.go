//go:build !(js && wasm)

// Command purse-wasm is a wallet's offline purse for a web page; it runs
// only as WebAssembly: GOOS=js GOARCH=wasm go build -o purse.wasm .
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "purse-wasm runs in a web page: build it with GOOS=js GOARCH=wasm go build -o purse.wasm ./cmd/purse-wasm")
	os.Exit(2)
}
