// Package walletapp is the wallet a phone opens in its browser: a web app
// each bank serves at /wallet/, beside its wallet websocket, that keeps
// the wallet's key and offline purse in the browser and speaks
// docs/protocol.md to the bank like any outside client. Its purse is the
// Go offline package compiled to WebAssembly (cmd/purse-wasm), which
// `make purse-wasm` builds into web/ with Go's wasm_exec.js before the
// cbdc binary embeds them.
package walletapp

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
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

// Handler serves the app's files under Path, gzipped to a browser that
// takes it. Each carries an ETag of its contents, so a phone fetches the
// purse (8 MB, 2.5 gzipped) again only when it changed. The files are
// hashed once for the process, however many banks serve them.
func Handler() http.Handler { return handler() }

var handler = sync.OnceValue(newHandler)

func newHandler() http.Handler {
	web, _ := fs.Sub(webFS, "web")
	files := http.StripPrefix(Path, http.FileServerFS(web))
	tags := etags(web)
	zipped := gzipped(web)
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
		if z := zipped[name]; z != nil {
			h.Add("Vary", "Accept-Encoding")
			if r.Header.Get("Range") == "" && acceptsGzip(r) {
				if b := z(); b != nil {
					// Another representation, so another tag.
					h.Set("ETag", strings.TrimSuffix(tags[name], `"`)+`-gz"`)
					h.Set("Content-Encoding", "gzip")
					http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
					return
				}
			}
		}
		files.ServeHTTP(w, r)
	})
}

// gzipped gives, for each file worth compressing, its gzip, made once
// when first asked for (a third of a second for the purse): its 8 MB of
// WebAssembly is under a third of that to a phone on the room's Wi-Fi.
func gzipped(web fs.FS) map[string]func() []byte {
	out := map[string]func() []byte{}
	fs.WalkDir(web, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !compressible[path.Ext(name)] {
			return err
		}
		if info, err := d.Info(); err != nil || info.Size() < 1024 {
			return err
		}
		out[name] = sync.OnceValue(func() []byte {
			b, err := fs.ReadFile(web, name)
			if err != nil {
				return nil
			}
			var z bytes.Buffer
			zw := gzip.NewWriter(&z) // the best level is 0.4 % smaller and three times slower
			zw.Write(b)
			if zw.Close() != nil {
				return nil
			}
			return z.Bytes()
		})
		return nil
	})
	return out
}

var compressible = map[string]bool{".wasm": true, ".js": true, ".html": true, ".css": true, ".svg": true, ".json": true, ".webmanifest": true}

// acceptsGzip reports whether the request takes a gzipped answer: gzip
// listed with a weight above zero, or, when gzip is not named, *.
func acceptsGzip(r *http.Request) bool {
	gzipWeight, anyWeight := -1.0, -1.0
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(part, ";")
		weight := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			w, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				w = 0 // a weight that does not parse refuses
			}
			weight = w
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip":
			gzipWeight = weight
		case "*":
			anyWeight = weight
		}
	}
	if gzipWeight >= 0 {
		return gzipWeight > 0
	}
	return anyWeight > 0
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
