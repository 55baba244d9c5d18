package gateway

import (
	"testing"
)

func TestClientAddress_IPv6CountsBy64(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000":              "127.0.0.1",
		"[2001:db8:1:2:aaaa::1]:443":  "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff:1:2:3]:9": "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:9":         "2001:db8:1:3::/64",
		"[::ffff:192.0.2.1]:80":       "::ffff:192.0.2.1",
		"not an address":              "not an address",
	} {
		if got := clientAddress(in); got != want {
			t.Errorf("clientAddress(%q) = %q, want %q", in, got, want)
		}
	}
}
