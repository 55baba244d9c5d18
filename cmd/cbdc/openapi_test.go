package main

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/internal/openapi"
	"github.com/digital-yen/cbdc-sandbox/metrics"
	"github.com/digital-yen/cbdc-sandbox/sandbox"
)

// docs/openapi.yaml marks the routes the cbdc process serves beside a
// bank's and the ledger's handlers (x-served-by-process); internal/openapi
// holds the handlers' routes to the document, and this test holds these:
// withMetrics, which `cbdc bank`, `cbdc ledger` and `cbdc sandbox` wrap
// both handlers in, serves each of them as documented, at both servers,
// while the handler it wraps serves nothing.
func TestOpenAPI_ProcessRoutesAsDocumented(t *testing.T) {
	d, err := openapi.Load("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := sandbox.WithMetrics(http.NotFoundHandler(), metrics.New())
	var routes []string
	for _, op := range d.Operations() {
		if op.Item["x-served-by-process"] != true {
			continue
		}
		routes = append(routes, op.Pattern())
		if servers, _ := op.Item["servers"].([]any); len(servers) != 2 {
			t.Errorf("%s: served by both the bank's and the ledger's process, but the document names %d servers", op.Pattern(), len(servers))
		}
		example, ok := d.Get(op.Ptr + "/responses/200/content/text~1plain/examples/excerpt/value")
		if !ok {
			t.Fatalf("%s: no 200 text/plain example called excerpt", op.Pattern())
		}
		first, _, _ := strings.Cut(example.(string), "\n")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(op.Method, op.Path, nil))
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") ||
			!strings.Contains(rec.Body.String(), first) {
			t.Errorf("%s: %d %q, want 200 text/plain with %q", op.Pattern(), rec.Code, rec.Header().Get("Content-Type"), first)
		}
	}
	if !slices.Equal(routes, []string{"GET /metrics"}) {
		t.Errorf("routes served by the process: %v, want [GET /metrics], the one withMetrics adds", routes)
	}
	for _, other := range []string{"/metrics/", "/metric", "/debug/pprof/"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", other, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d from withMetrics itself; an undocumented route", other, rec.Code)
		}
	}
}
