package gateway

import (
	"fmt"
	"sync"
	"testing"
)

// The outbox takes sendQueue messages and refuses the next, so a wallet
// that does not read is cut off, as the channel it replaced did.
func TestOutbox_RefusesPastItsLimit(t *testing.T) {
	o := newOutbox()
	for i := range sendQueue {
		if !o.put([]byte{byte(i)}) {
			t.Fatalf("message %d of %d refused", i+1, sendQueue)
		}
	}
	if o.put([]byte("one more")) {
		t.Fatal("the outbox took a message past its limit")
	}
	taken := o.take()
	if len(taken) != sendQueue {
		t.Fatalf("took %d messages, want %d", len(taken), sendQueue)
	}
	// Taken is not written: a writer stuck on a slow socket still counts
	// what it holds.
	if o.put([]byte("while the writer holds them")) {
		t.Fatal("the outbox took a message while sendQueue were unwritten")
	}
	o.wrote()
	if !o.put([]byte("after one was written")) {
		t.Fatal("the outbox refused a message after one was written")
	}
	if o.put([]byte("one more")) {
		t.Fatal("the outbox took a message past its limit")
	}
}

// Writers put while the reader takes: every message comes out once, each
// writer's in its order, and a message put is always announced on ready.
func TestOutbox_ConcurrentPutsAllTakenInOrder(t *testing.T) {
	const writers, each = 8, 2000
	o := newOutbox()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 0; i < each; {
				if o.put([]byte(fmt.Sprintf("%d %d", w, i))) {
					i++
				}
			}
		})
	}
	next := make([]int, writers)
	got := 0
	for got < writers*each {
		<-o.ready
		for _, m := range o.take() {
			o.wrote()
			var w, i int
			if _, err := fmt.Sscanf(string(m), "%d %d", &w, &i); err != nil {
				t.Fatal(err)
			}
			if i != next[w] {
				t.Fatalf("writer %d: message %d came after %d", w, i, next[w]-1)
			}
			next[w]++
			got++
		}
	}
	wg.Wait()
	if rest := o.take(); len(rest) != 0 {
		t.Fatalf("%d messages left after all were taken", len(rest))
	}
}
