package intermediary

import (
	"encoding/json"
	"strings"

	"github.com/digital-yen/cbdc-sandbox/protocol"
	bolt "go.etcd.io/bbolt"
)

// saveSchedule stores a schedule as it now stands.
func (s *store) saveSchedule(rec *scheduleRec) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSchedules).Put([]byte(rec.Ref), raw) })
}

// addSchedule stores the schedule a wallet's instruction makes, which
// build makes from the file's next number, or finds the one an earlier
// try of the instruction stored and answers with what same says of it.
// Both happen in one transaction, so a request id makes one schedule;
// fresh says which happened.
func (s *store) addSchedule(keyID, requestID string, same func(first *scheduleRec) error, build func(n uint64) scheduleRec) (rec *scheduleRec, fresh bool, err error) {
	rec = new(scheduleRec)
	err = s.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketSchedules)
		ridKey := "rid/" + keyID + "/" + requestID
		if ref := bk.Get([]byte(ridKey)); ref != nil {
			if _, err := getJSON(bk, string(ref), rec); err != nil {
				return err
			}
			return same(rec)
		}
		n, err := bk.NextSequence()
		if err != nil {
			return err
		}
		fresh = true
		*rec = build(n)
		if err := bk.Put([]byte(ridKey), []byte(rec.Ref)); err != nil {
			return err
		}
		return putJSON(bk, rec.Ref, rec)
	})
	return rec, fresh, err
}

// updateSchedule reads the schedule ref and stores it again when change
// says to, in one transaction; change is told whether there is such a
// schedule. It returns the schedule as change left it.
func (s *store) updateSchedule(ref string, change func(rec *scheduleRec, found bool) (bool, error)) (scheduleRec, error) {
	var rec scheduleRec
	err := s.update(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketSchedules), ref, &rec)
		if err != nil {
			return err
		}
		write, err := change(&rec, ok && !strings.HasPrefix(ref, "rid/"))
		if err != nil || !write {
			return err
		}
		return putJSON(tx.Bucket(bucketSchedules), ref, &rec)
	})
	return rec, err
}

// walletSchedules returns up to limit of a wallet's schedules.
func (s *store) walletSchedules(keyID string, limit int) ([]protocol.ScheduleInfo, error) {
	var list []protocol.ScheduleInfo
	err := s.db.View(func(tx *bolt.Tx) error {
		return eachSchedule(tx, func(rec *scheduleRec) {
			if rec.Wallet == keyID && len(list) < limit {
				list = append(list, rec.ScheduleInfo)
			}
		})
	})
	return list, err
}

// eachSchedule calls fn with every schedule, in ref order.
func eachSchedule(tx *bolt.Tx, fn func(*scheduleRec)) error {
	return tx.Bucket(bucketSchedules).ForEach(func(k, v []byte) error {
		if strings.HasPrefix(string(k), "rid/") {
			return nil
		}
		rec := new(scheduleRec)
		if err := json.Unmarshal(v, rec); err != nil {
			return err
		}
		fn(rec)
		return nil
	})
}
