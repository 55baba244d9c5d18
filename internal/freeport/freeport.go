// Package freeport finds loopback addresses for tests to give the
// processes and servers they start.
package freeport

import (
	"net"
	"testing"
)

// Loopback returns n distinct loopback addresses that were free a moment
// ago. All n are held until the last is found: the kernel picks free
// ports at random, so ports closed one by one can repeat, and two
// replicas told the same address fail.
func Loopback(t testing.TB, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addrs[i] = ln.Addr().String()
	}
	return addrs
}
