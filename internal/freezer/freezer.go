// Package freezer is an HTTP handler that can be frozen: while frozen it
// holds every request, as a server stopped with SIGSTOP would, for tests
// of what its callers do meanwhile.
package freezer

import (
	"net/http"
	"sync"
	"sync/atomic"
)

// Handler passes requests to H, holding them while frozen.
type Handler struct {
	H        http.Handler
	Requests atomic.Int64 // requests that reached it, held ones too

	mu     sync.Mutex // protects thawed
	thawed chan struct{}
}

func (f *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.Requests.Add(1)
	f.mu.Lock()
	thawed := f.thawed
	f.mu.Unlock()
	if thawed != nil {
		select {
		case <-thawed:
		case <-r.Context().Done():
			return
		}
	}
	f.H.ServeHTTP(w, r)
}

// Freeze holds every request from now until Thaw.
func (f *Handler) Freeze() { f.mu.Lock(); f.thawed = make(chan struct{}); f.mu.Unlock() }

// Thaw lets held requests and later ones through.
func (f *Handler) Thaw() { f.mu.Lock(); close(f.thawed); f.thawed = nil; f.mu.Unlock() }
