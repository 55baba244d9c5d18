package intermediary

import (
	"fmt"
	"time"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	bolt "go.etcd.io/bbolt"
)

// bucketCredits holds the deposit credits by request id, so a retry finds
// the first.
var bucketCredits = []byte("deposit-credits")

// addCustomers stores n new customers and their wallets in one
// transaction. build makes customer i from the number the file gives it
// and links its wallets to it. Each customer's opening deposit is money
// that arrives at the bank: its deposits and its reserves rise together.
func (s *store) addCustomers(n int, build func(i int, seq uint64) (*customerRec, []*walletRec)) error {
	return s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		for i := range n {
			seq, err := tx.Bucket(bucketCustomers).NextSequence()
			if err != nil {
				return err
			}
			c, wallets := build(i, seq)
			for _, w := range wallets {
				if err := putJSON(tx.Bucket(bucketWallets), w.KeyID, w); err != nil {
					return err
				}
			}
			if err := addInt(meta, metaReserves, c.Deposit); err != nil {
				return err
			}
			if err := addInt(meta, metaDeposits, c.Deposit); err != nil {
				return err
			}
			if err := putJSON(tx.Bucket(bucketCustomers), c.ID, c); err != nil {
				return err
			}
		}
		return nil
	})
}

// addWallet stores a customer's new wallet and adds it to the customer.
func (s *store) addWallet(customerID string, w *walletRec) error {
	return s.update(func(tx *bolt.Tx) error {
		rec, err := customerTx(tx, customerID)
		if err != nil {
			return err
		}
		rec.Wallets = append(rec.Wallets, w.KeyID)
		if err := putJSON(tx.Bucket(bucketWallets), w.KeyID, w); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketCustomers), customerID, rec)
	})
}

func (s *store) setTier(customerID, tier string) error {
	return s.update(func(tx *bolt.Tx) error {
		rec, err := customerTx(tx, customerID)
		if err != nil {
			return err
		}
		rec.Tier = tier
		return putJSON(tx.Bucket(bucketCustomers), customerID, rec)
	})
}

func (s *store) saveWalletSettings(keyID string, waterfall, autoCharge bool) error {
	return s.update(func(tx *bolt.Tx) error {
		var rec walletRec
		if _, err := getJSON(tx.Bucket(bucketWallets), keyID, &rec); err != nil {
			return err
		}
		rec.Waterfall, rec.AutoCharge = waterfall, autoCharge
		return putJSON(tx.Bucket(bucketWallets), keyID, &rec)
	})
}

// customerWallets returns a customer and its wallets as one snapshot; the
// customer is nil when there is none. A wallet missing from the file
// reads as zero.
func (s *store) customerWallets(id string) (*customerRec, []walletRec, error) {
	var c *customerRec
	var wallets []walletRec
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketCustomers).Get([]byte(id)) == nil {
			return nil
		}
		var err error
		if c, err = customerTx(tx, id); err != nil {
			return err
		}
		for _, keyID := range c.Wallets {
			var w walletRec
			if _, err := getJSON(tx.Bucket(bucketWallets), keyID, &w); err != nil {
				return err
			}
			wallets = append(wallets, w)
		}
		return nil
	})
	return c, wallets, err
}

// deposit returns a customer's deposit balance.
func (s *store) deposit(customerID string) (int64, error) {
	var d int64
	err := s.db.View(func(tx *bolt.Tx) error {
		c, err := customerTx(tx, customerID)
		if err == nil {
			d = c.Deposit
		}
		return err
	})
	return d, err
}

// creditDeposit pays c.Amount into c.Customer's deposit account, the
// bank's reserves rising with it, and keeps the credit under its request
// id in the same transaction, stamped with now. A request id credited
// before answers with the first credit, and with what same says of it.
func (s *store) creditDeposit(c bankadmin.DepositCredit, now func() time.Time, same func(first bankadmin.DepositCredit) error) (bankadmin.DepositCredit, error) {
	err := s.update(func(tx *bolt.Tx) error {
		credits, err := tx.CreateBucketIfNotExists(bucketCredits)
		if err != nil {
			return err
		}
		var first bankadmin.DepositCredit
		if found, err := getJSON(credits, c.RequestID, &first); err != nil || found {
			if err == nil {
				err = same(first)
			}
			c = first
			return err
		}
		if tx.Bucket(bucketCustomers).Get([]byte(c.Customer)) == nil {
			return fail(protocol.CodeBadCustomer, "no customer %q", c.Customer)
		}
		if err := addInt(tx.Bucket(bucketMeta), metaReserves, c.Amount); err != nil {
			return err
		}
		if c.Deposit, err = addDeposit(tx, c.Customer, c.Amount); err != nil {
			return err
		}
		c.Time = now().UTC()
		return putJSON(credits, c.RequestID, c)
	})
	return c, err
}

// customerTx reads a customer inside a transaction.
func customerTx(tx *bolt.Tx, id string) (*customerRec, error) {
	var c customerRec
	ok, err := getJSON(tx.Bucket(bucketCustomers), id, &c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("intermediary: no customer %q", id)
	}
	return &c, nil
}

// addDeposit changes a customer's deposit account by delta inside a
// transaction, refusing to overdraw it or overflow it.
func addDeposit(tx *bolt.Tx, id string, delta int64) (int64, error) {
	c, err := customerTx(tx, id)
	if err != nil {
		return 0, err
	}
	switch {
	case delta < 0 && c.Deposit < -delta:
		return c.Deposit, fail(protocol.CodeInsufficientDeposit, "the deposit account holds %d yen, needs %d", c.Deposit, -delta)
	case delta > 0 && c.Deposit > maxYen-delta:
		return c.Deposit, fail(protocol.CodeAmountOverflow, "the deposit account would exceed %d yen", int64(maxYen))
	}
	c.Deposit += delta
	if err := addInt(tx.Bucket(bucketMeta), metaDeposits, delta); err != nil {
		return 0, err
	}
	return c.Deposit, putJSON(tx.Bucket(bucketCustomers), id, c)
}
