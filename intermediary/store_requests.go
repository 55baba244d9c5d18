package intermediary

import (
	"bytes"

	"github.com/digital-yen/cbdc-sandbox/protocol"
	bolt "go.etcd.io/bbolt"
)

// The requests bucket holds the bank's own requests under "out/<ref>",
// those addressed to its wallets under "in/<ref>", each wallet's refs
// under "w/<key id>/<in|out>/<ref>" (no value) for listing, and the ref
// a wallet's instruction made under "rid/<key id>/<request id>".

func outKey(ref string) string                   { return "out/" + ref }
func inKey(ref string) string                    { return "in/" + ref }
func walletReqKey(keyID, dir, ref string) string { return "w/" + keyID + "/" + dir + "/" + ref }

// storeRequest stores the outgoing request a wallet's instruction makes,
// which build makes from the file's next number, or finds the one an
// earlier try of the instruction stored and answers with what same says
// of it. Both happen in one transaction, so a request id makes one
// request.
func (s *store) storeRequest(keyID, requestID string, same func(first *requestRec) error, build func(n uint64) requestRec) (*requestRec, error) {
	var rec requestRec
	err := s.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketRequests)
		ridKey := "rid/" + keyID + "/" + requestID
		if ref := bk.Get([]byte(ridKey)); ref != nil {
			if _, err := getJSON(bk, outKey(string(ref)), &rec); err != nil {
				return err
			}
			return same(&rec)
		}
		n, err := bk.NextSequence()
		if err != nil {
			return err
		}
		rec = build(n)
		if err := bk.Put([]byte(ridKey), []byte(rec.Ref)); err != nil {
			return err
		}
		if err := bk.Put([]byte(walletReqKey(keyID, "out", rec.Ref)), nil); err != nil {
			return err
		}
		return putJSON(bk, outKey(rec.Ref), &rec)
	})
	return &rec, err
}

// storeIncoming stores a request addressed to the wallet keyID; fresh is
// false when it was stored before.
func (s *store) storeIncoming(keyID string, r *protocol.PaymentRequest) (fresh bool, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketRequests)
		if bk.Get([]byte(inKey(r.Ref))) != nil {
			return nil
		}
		fresh = true
		if err := bk.Put([]byte(walletReqKey(keyID, "in", r.Ref)), nil); err != nil {
			return err
		}
		return putJSON(bk, inKey(r.Ref), &requestRec{PaymentRequest: *r})
	})
	return fresh, err
}

// incomingRequest returns the incoming request ref, if it is stored.
func (s *store) incomingRequest(ref string) (rec requestRec, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		ok, err = getJSON(tx.Bucket(bucketRequests), inKey(ref), &rec)
		return err
	})
	return rec, ok, err
}

// updateIncoming changes a stored incoming request; one not stored is
// left alone.
func (s *store) updateIncoming(ref string, fn func(*requestRec)) error {
	return s.update(func(tx *bolt.Tx) error {
		var rec requestRec
		ok, err := getJSON(tx.Bucket(bucketRequests), inKey(ref), &rec)
		if err != nil || !ok {
			return err
		}
		fn(&rec)
		return putJSON(tx.Bucket(bucketRequests), inKey(ref), &rec)
	})
}

// updateOutgoing changes a stored outgoing request when change says it
// did. It returns the request as changed, with any error storing it, or
// nil when there was none or change left it.
func (s *store) updateOutgoing(ref string, change func(*requestRec) bool) (*requestRec, error) {
	var rec requestRec
	changed := false
	err := s.update(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketRequests), outKey(ref), &rec)
		if err != nil || !ok || !change(&rec) {
			return err
		}
		changed = true
		return putJSON(tx.Bucket(bucketRequests), outKey(ref), &rec)
	})
	if !changed {
		return nil, err
	}
	return &rec, err
}

// markPaid marks outgoing requests paid by the payments the feed found,
// inside the feed's transaction, and returns those it marked.
func markPaid(tx *bolt.Tx, paid []paidRef) ([]protocol.PaymentRequest, error) {
	var updates []protocol.PaymentRequest
	bk := tx.Bucket(bucketRequests)
	for _, p := range paid {
		var rec requestRec
		ok, err := getJSON(bk, outKey(p.ref), &rec)
		if err != nil {
			return nil, err
		}
		if !ok || !p.pays(&rec) {
			continue
		}
		rec.Status, rec.Seq = protocol.RequestPaid, p.seq
		if err := putJSON(bk, outKey(p.ref), &rec); err != nil {
			return nil, err
		}
		updates = append(updates, rec.PaymentRequest)
	}
	return updates, nil
}

// walletRequests returns the requests addressed to a wallet and those it
// sent, as one snapshot.
func (s *store) walletRequests(keyID string) (incoming, outgoing []protocol.PaymentRequest, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketRequests)
		for _, dir := range []string{"in", "out"} {
			prefix := []byte(walletReqKey(keyID, dir, ""))
			c := bk.Cursor()
			var list []protocol.PaymentRequest
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				var rec requestRec
				if _, err := getJSON(bk, dir+"/"+string(k[len(prefix):]), &rec); err != nil {
					return err
				}
				list = append(list, rec.PaymentRequest)
			}
			if dir == "in" {
				incoming = list
			} else {
				outgoing = list
			}
		}
		return nil
	})
	return incoming, outgoing, err
}
