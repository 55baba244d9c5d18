package intermediary

import (
	"github.com/digital-yen/cbdc-sandbox/protocol"
	bolt "go.etcd.io/bbolt"
)

var bucketPending = []byte("pending") // op id -> nothing: the intents still waiting for the ledger's answer

// intent returns the intent booked under a ledger op id.
func (s *store) intent(opID string) (*intentRec, bool, error) {
	var in intentRec
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		ok, err = getJSON(tx.Bucket(bucketIntents), opID, &in)
		return err
	})
	return &in, ok, err
}

// bookIntent records a pending intent and its booking on the bank's side
// in one transaction.
func (s *store) bookIntent(in *intentRec) error {
	return s.update(func(tx *bolt.Tx) error {
		if err := applyBooking(tx, in, 1); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPending).Put([]byte(in.OpID), nil); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketIntents), in.OpID, in)
	})
}

// applyBooking adds (sign 1) or reverses (sign -1) an intent's booking.
func applyBooking(tx *bolt.Tx, in *intentRec, sign int64) error {
	if in.Deposit != 0 {
		if _, err := addDeposit(tx, in.Customer, sign*in.Deposit); err != nil {
			return err
		}
	}
	if in.Reserves != 0 {
		meta := tx.Bucket(bucketMeta)
		r := getInt(meta, metaReserves) + sign*in.Reserves
		if r < 0 {
			return fail(protocol.CodeUnavailable, "the bank's reserves at the central bank are short by %d yen", -r)
		}
		return putInt(meta, metaReserves, r)
	}
	return nil
}

// settleIntent ends a pending intent in one transaction: decide records
// the outcome in it and says whether its booking is then added (1),
// reversed (-1) or left (0). An intent no longer pending is read back
// into in instead, so it is settled once.
func (s *store) settleIntent(in *intentRec, decide func(in *intentRec) (sign int64)) error {
	return s.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketPending).Get([]byte(in.OpID)) == nil {
			_, err := getJSON(tx.Bucket(bucketIntents), in.OpID, in)
			return err
		}
		if sign := decide(in); sign != 0 {
			if err := applyBooking(tx, in, sign); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketPending).Delete([]byte(in.OpID)); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketIntents), in.OpID, in)
	})
}

// pendingIntents returns the intents still waiting for the ledger's answer.
func (s *store) pendingIntents() ([]*intentRec, error) {
	var pending []*intentRec
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, _ []byte) error {
			in := new(intentRec)
			if _, err := getJSON(tx.Bucket(bucketIntents), string(k), in); err != nil {
				return err
			}
			pending = append(pending, in)
			return nil
		})
	})
	return pending, err
}

// floatNumber numbers a move of the float made without a request id.
func (s *store) floatNumber() (uint64, error) {
	var n uint64
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.Bucket(bucketIntents).NextSequence()
		return err
	})
	return n, err
}

// totals are the bank's own books as its file keeps them.
type totals struct {
	reserves, deposits, offlineLosses int64
	pendingIntents                    int
}

func (s *store) totals() (totals, error) {
	var t totals
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		t.reserves, t.deposits = getInt(meta, metaReserves), getInt(meta, metaDeposits)
		t.offlineLosses = getInt(meta, metaOfflineLosses)
		t.pendingIntents = tx.Bucket(bucketPending).Stats().KeyN
		return nil
	})
	return t, err
}
