package ledger

import (
	"reflect"
	"strconv"
	"testing"
)

// A feed page served from the records in memory is the page the journal
// gives, for every range and limit: the same events, the same next
// cursor, and a slice no larger than its events.
func TestFeed_PagesFromMemoryAgreeWithTheJournal(t *testing.T) {
	f := newFixture(t)
	a := f.l.Intermediary("bank-a")
	from := f.lastSeq + 1
	for i := range 300 {
		var err error
		if i%5 == 0 {
			_, err = a.Transfer(f.ctx, "pay-"+strconv.Itoa(i), "alice", "bob", 1)
		} else {
			_, err = f.l.Transfer(f.ctx, "noise-"+strconv.Itoa(i), "bob", "bank-b", 1)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	head := f.l.Totals().Seq
	for _, n := range []uint32{1, 2} {
		for start := from; start <= head; start += 7 {
			for _, to := range []uint64{start, start + 3, start + 40, head} {
				to = min(to, head)
				for _, limit := range []int{1, 2, 3, 5, 17, MaxPage} {
					jm, jn, err := f.l.feedJournal(n, start, to, limit)
					if err != nil {
						t.Fatal(err)
					}
					rm, rn, ok := f.l.feedRecent(n, start, to, limit)
					if !ok {
						t.Fatalf("records %d to %d are not in memory", start, to)
					}
					same := reflect.DeepEqual(jm, rm) || len(jm) == 0 && len(rm) == 0
					if !same || jn != rn {
						t.Fatalf("n=%d [%d,%d] limit %d: journal %d events next %d nil=%v, memory %d next %d nil=%v",
							n, start, to, limit, len(jm), jn, jm == nil, len(rm), rn, rm == nil)
					}
					if rm != nil && cap(rm) != len(rm) {
						t.Errorf("a page of %d events has room for %d", len(rm), cap(rm))
					}
				}
			}
		}
	}
}
