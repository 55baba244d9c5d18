package freeport_test

import (
	"net"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/internal/freeport"
)

// Addresses asked for together are distinct and can be listened on,
// however often asked.
func TestLoopback_DistinctAndFree(t *testing.T) {
	for range 2000 {
		addrs := freeport.Loopback(t, 6)
		seen := map[string]bool{}
		for _, a := range addrs {
			if seen[a] {
				t.Fatalf("%s handed out twice in %v", a, addrs)
			}
			seen[a] = true
		}
	}
	for _, a := range freeport.Loopback(t, 3) {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s was handed out but cannot be listened on: %v", a, err)
		}
		ln.Close()
	}
}
