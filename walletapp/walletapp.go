// Package walletapp is the wallet a phone opens in its browser: a web app
// each bank serves at /wallet/, beside its wallet websocket, that keeps
// the wallet's key and offline purse in the browser and speaks
// docs/protocol.md to the bank like any outside client. Its purse is the
// Go offline package compiled to WebAssembly (cmd/purse-wasm), which
// `make purse-wasm` builds into web/ with Go's wasm_exec.js before the
// cbdc binary embeds them.
package walletapp

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed web
var webFS embed.FS

// Path is where a bank serves the app.
const Path = "/wallet/"

// Built reports whether the purse's WebAssembly was built into the
// binary; without it the app can pay online but not offline, and says so.
func Built() bool {
	_, err := fs.Stat(webFS, "web/purse.wasm")
	return err == nil
}

// Handler serves the app's files under Path.
func Handler() http.Handler {
	web, _ := fs.Sub(webFS, "web")
	files := http.StripPrefix(Path, http.FileServerFS(web))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The service worker keeps the app for when the network is gone;
		// the browser asks again for it, so it learns of a new version.
		w.Header().Set("Cache-Control", "no-cache")
		if r.URL.Path == Path+"sw.js" {
			w.Header().Set("Service-Worker-Allowed", Path)
		}
		files.ServeHTTP(w, r)
	})
}
