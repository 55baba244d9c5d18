package gateway

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

// The bank's own origin is admitted only where a page cannot borrow it:
// the scheme the request came by, and a host that is an address or
// localhost, not a name DNS could point at the bank.
func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		host, origin string
		tls, want    bool
	}{
		{"127.0.0.1:7501", "http://127.0.0.1:7501", false, true},
		{"192.168.1.20:7501", "http://192.168.1.20:7501", false, true},
		{"192.168.1.20:7501", "https://192.168.1.20:7501", true, true},
		{"[::1]:7501", "http://[::1]:7501", false, true},
		{"localhost:7501", "http://localhost:7501", false, true},
		{"192.168.1.20:7501", "https://192.168.1.20:7501", false, false}, // the scheme is not the request's
		{"192.168.1.20:7501", "http://192.168.1.20:7501", true, false},
		{"127.0.0.1:7501", "http://127.0.0.1:7502", false, false},
		{"127.0.0.1:7501", "http://evil.example", false, false},
		{"evil.example:7501", "http://evil.example:7501", false, false}, // rebinding: a name is not trusted
		{"bank.example", "https://bank.example", true, false},
		{"127.0.0.1:7501", "null", false, false},
	} {
		r := httptest.NewRequest("GET", "/v1/wallet", nil)
		r.Host = c.host
		if c.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if got := sameOrigin(r, c.origin); got != c.want {
			t.Errorf("host %s, origin %s, tls %v: %v, want %v", c.host, c.origin, c.tls, got, c.want)
		}
	}
}
