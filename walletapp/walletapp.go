// Package walletapp is the wallet a phone opens in its browser: a web app
// each bank serves at /wallet/, beside its wallet websocket, that keeps
// the wallet's key and offline purse in the browser and speaks
// docs/protocol.md to the bank like any outside client. Its purse is the
// Go offline package compiled to WebAssembly (cmd/purse-wasm), which
// `make purse-wasm` builds into web/ with Go's wasm_exec.js before the
// cbdc binary embeds them.
package walletapp

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
	"sync"
)

//go:embed web
var webFS embed.FS

// Path is where a bank serves the app.
const Path = "/wallet/"

// Built reports whether the purse's WebAssembly was built into the
// binary. The wallet's key and its signatures are in it too, so without
// it the app does nothing but say how to build it.
func Built() bool {
	_, err := fs.Stat(webFS, "web/purse.wasm")
	return err == nil
}

// contentSecurity keeps the page, which holds the wallet's signing key,
// to its own scripts and its own bank, and out of other sites' frames.
const contentSecurity = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Handler serves the app's files under Path. Each carries an ETag of its
// contents, so a phone fetches the purse (8 MB) again only when it
// changed. The files are hashed once for the process, however many banks
// serve them.
func Handler() http.Handler { return handler() }

var handler = sync.OnceValue(newHandler)

func newHandler() http.Handler {
	web, _ := fs.Sub(webFS, "web")
	files := http.StripPrefix(Path, http.FileServerFS(web))
	tags := etags(web)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// The service worker keeps the app for when the network is gone;
		// the browser asks again for it (an ETag answers cheaply), so it
		// learns of a new version.
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", contentSecurity)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		name := strings.TrimPrefix(r.URL.Path, Path)
		if name == "" {
			name = "index.html"
		}
		if tag, ok := tags[name]; ok {
			h.Set("ETag", tag)
		}
		if name == "sw.js" {
			h.Set("Service-Worker-Allowed", Path)
		}
		files.ServeHTTP(w, r)
	})
}

// etags are the files' ETags: a hash of each one's contents.
func etags(web fs.FS) map[string]string {
	tags := map[string]string{}
	fs.WalkDir(web, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web, path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		tags[path] = `"` + hex.EncodeToString(sum[:12]) + `"`
		return nil
	})
	return tags
}
