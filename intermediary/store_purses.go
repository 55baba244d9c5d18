package intermediary

import (
	bolt "go.etcd.io/bbolt"
)

// bucketPurses holds the purses: serial -> purseRec; "of/<key id>" ->
// serial; "fund/<op id>" -> fundingRec; "fundings/<serial>" -> the
// purse's last funding number.
var bucketPurses = []byte("purses")

// openPurses makes room for purses in a file that had none.
func (s *store) openPurses() error {
	return s.update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketPurses)
		return err
	})
}

// countPurses counts the wallets with a purse; none in a file that never
// had purses.
func (s *store) countPurses() (n int, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketPurses)
		if bk == nil {
			return nil
		}
		c := bk.Cursor()
		for k, _ := c.Seek([]byte("of/")); k != nil && len(k) > 3 && string(k[:3]) == "of/"; k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// purseOf returns the wallet's purse, if it has one.
func (s *store) purseOf(keyID string) (serial string, rec purseRec, found bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketPurses)
		if bk == nil {
			return nil // a bank that never offered purses
		}
		sn := bk.Get([]byte("of/" + keyID))
		if sn == nil {
			return nil
		}
		serial = string(sn)
		found, err = getJSON(bk, serial, &rec)
		return err
	})
	return serial, rec, found, err
}

// purse returns the purse with a serial, whichever wallet it is of.
func (s *store) purse(serial string) (rec purseRec, found bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		found, err = getJSON(tx.Bucket(bucketPurses), serial, &rec)
		return err
	})
	return rec, found, err
}

// addPurse stores a new purse as its wallet's.
func (s *store) addPurse(serial string, rec purseRec) error {
	return s.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketPurses)
		if err := bk.Put([]byte("of/"+rec.KeyID), []byte(serial)); err != nil {
			return err
		}
		return putJSON(bk, serial, rec)
	})
}

// savePurse stores a purse again, as a renewal changes it.
func (s *store) savePurse(serial string, rec purseRec) error {
	return s.update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bucketPurses), serial, rec) })
}

// forgetPurseOf has the wallet keyID no longer have a purse, when serial
// is still its purse.
func (s *store) forgetPurseOf(keyID, serial string) error {
	return s.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketPurses)
		if string(bk.Get([]byte("of/"+keyID))) == serial {
			return bk.Delete([]byte("of/" + keyID))
		}
		return nil
	})
}

// numberFunding gives a confirmed funding the purse's next funding number,
// in the same transaction that stores it, so numbers have no gaps.
func (s *store) numberFunding(op string, f fundingRec) (fundingRec, error) {
	err := s.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketPurses)
		var last uint64
		if _, err := getJSON(bk, "fundings/"+f.Serial, &last); err != nil {
			return err
		}
		f.Number = last + 1
		if err := putJSON(bk, "fundings/"+f.Serial, f.Number); err != nil {
			return err
		}
		return putJSON(bk, "fund/"+op, f)
	})
	return f, err
}

func (s *store) putFunding(op string, f fundingRec) error {
	return s.update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bucketPurses), "fund/"+op, f) })
}

func (s *store) dropFunding(op string) error {
	return s.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketPurses).Delete([]byte("fund/" + op)) })
}

func (s *store) funding(op string) (rec fundingRec, found bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		found, err = getJSON(tx.Bucket(bucketPurses), "fund/"+op, &rec)
		return err
	})
	return rec, found, err
}
