package intermediary

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/digital-yen/cbdc-sandbox/boltfile"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	bolt "go.etcd.io/bbolt"
)

// The bank's bbolt file holds what only the bank knows: customers and
// their deposit accounts, wallets, intents, payment requests, schedules and
// how far it has followed the ledger's feed. Records are JSON, so an
// operator can read them with any bbolt tool.
var (
	bucketCustomers = []byte("customers") // customer id -> customerRec
	bucketWallets   = []byte("wallets")   // key id -> walletRec
	bucketIntents   = []byte("intents")   // ledger op id -> intentRec
	bucketRequests  = []byte("requests")  // "out/<ref>", "in/<ref>" -> requestRec, and indexes (see outKey)
	bucketSchedules = []byte("schedules") // ref -> scheduleRec; "rid/<key id>/<request id>" -> ref
	bucketMeta      = []byte("meta")

	metaCursor   = []byte("feed-cursor") // the next ledger sequence the feed processor reads
	metaReserves = []byte("reserves")    // the bank's reserves at the central bank
	metaDeposits = []byte("deposits")    // all customers' deposit accounts summed

	metaOfflineLosses = []byte("offline-losses") // what the bank paid payees for its devices' overspends
)

type customerRec struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	PersonID string `json:"person_id"`
	Holder   string `json:"holder"`
	// Unverified: registered from a wallet, its person id unchecked.
	Unverified bool      `json:"unverified,omitempty"`
	Tier       string    `json:"tier"`
	Deposit    int64     `json:"deposit"` // the linked deposit account
	Wallets    []string  `json:"wallets"` // key ids
	Created    time.Time `json:"created"`
}

type walletRec struct {
	KeyID      string `json:"key_id"`
	Address    string `json:"address"`
	Customer   string `json:"customer"`
	PublicKey  []byte `json:"public_key"`
	Waterfall  bool   `json:"waterfall"`
	AutoCharge bool   `json:"auto_charge"`
}

// An intent is a move between a deposit account (or the bank's reserves)
// and CBDC. The bank books its own side and the intent in one transaction
// before it asks the ledger, and settles the intent when the ledger
// answers: done, or refused and its booking reversed. An intent whose
// answer was lost stays pending and is asked again with the same op id.
type intentRec struct {
	OpID      string            `json:"op_id"`
	Kind      string            `json:"kind"` // charge, withdraw, issue or redeem
	Customer  string            `json:"customer,omitempty"`
	Deposit   int64             `json:"deposit,omitempty"`  // booked to the customer's deposit account
	Reserves  int64             `json:"reserves,omitempty"` // booked to the bank's reserves
	Transfers []ledger.Transfer `json:"transfers,omitempty"`
	Amount    int64             `json:"amount,omitempty"` // issue and redeem
	State     string            `json:"state"`
	Seq       uint64            `json:"seq,omitempty"`
	Time      time.Time         `json:"time,omitzero"`
	Created   time.Time         `json:"created"`
}

const (
	intentPending = "pending"
	intentDone    = "done"
	intentRefused = "refused"
)

// store is the bank's file. It alone knows the file's buckets and keys;
// the bank asks it for what an operation reads and writes, each in one
// transaction.
type store struct {
	db   *bolt.DB
	path string
	log  *slog.Logger

	failMu  sync.Mutex // protects failure
	failure error      // the first failed write of the file
}

// openStore opens the bank's file through boltfile: damage is refused as
// boltfile.ErrDamaged, a file another process holds as boltfile.ErrInUse,
// both naming the file.
func openStore(path string, log *slog.Logger) (*store, error) {
	db, err := boltfile.Open(path, bolt.Options{Timeout: time.Second}, nil)
	if err != nil {
		return nil, fmt.Errorf("intermediary: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketCustomers, bucketWallets, bucketIntents, bucketRequests, bucketSchedules, bucketMeta, bucketPending} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("intermediary: initialise %s: %w", path, err)
	}
	return &store{db: db, path: path, log: log}, nil
}

func (s *store) close() error { return s.db.Close() }

// loaded is what the bank keeps in memory from its file.
type loaded struct {
	cursor    uint64 // the feed's
	customers []*customerRec
	wallets   []*walletRec
	schedules []*scheduleRec
}

// load reads what the bank keeps in memory, in one transaction that
// first books reserves on a new file.
func (s *store) load(reserves int64) (*loaded, error) {
	l := new(loaded)
	err := s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta.Get(metaReserves) == nil {
			if err := putInt(meta, metaReserves, reserves); err != nil {
				return err
			}
		}
		l.cursor = uint64(getInt(meta, metaCursor))
		err := tx.Bucket(bucketCustomers).ForEach(func(k, v []byte) error {
			c := new(customerRec)
			if err := json.Unmarshal(v, c); err != nil {
				return fmt.Errorf("intermediary: customer %q: %w", k, err)
			}
			l.customers = append(l.customers, c)
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketWallets).ForEach(func(k, v []byte) error {
			w := new(walletRec)
			if err := json.Unmarshal(v, w); err != nil {
				return fmt.Errorf("intermediary: wallet %q: %w", k, err)
			}
			l.wallets = append(l.wallets, w)
			return nil
		})
		if err != nil {
			return err
		}
		return eachSchedule(tx, func(rec *scheduleRec) { l.schedules = append(l.schedules, rec) })
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// update runs fn in a read-write transaction of the bank's file. When
// bbolt fails and fn did not (the commit, the disk), the bank cannot know
// what its file now holds: it remembers the failure, refuses every later
// change and reports it from Err and /healthz, so that it is restarted
// and reads its file afresh.
func (s *store) update(fn func(tx *bolt.Tx) error) error {
	if err := s.err(); err != nil {
		return fail(protocol.CodeUnavailable, "%v; it takes no changes until it is restarted", err)
	}
	var fnErr error
	err := s.db.Update(func(tx *bolt.Tx) error {
		fnErr = fn(tx)
		return fnErr
	})
	if err != nil && fnErr == nil {
		s.failMu.Lock()
		if s.failure == nil {
			s.failure = err
			s.log.Error("bank storage failed; refusing changes until restarted", "path", s.path, "err", err)
		}
		s.failMu.Unlock()
		return fail(protocol.CodeUnavailable, "%v; it takes no changes until it is restarted", s.err())
	}
	return err
}

// err is nil while the file takes writes, and says why once a write to it
// has failed.
func (s *store) err() error {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	if s.failure == nil {
		return nil
	}
	return fmt.Errorf("intermediary: the bank's storage (%s) failed: %w", s.path, s.failure)
}

func getJSON(b *bolt.Bucket, key string, v any) (bool, error) {
	raw := b.Get([]byte(key))
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("intermediary: stored record %q: %w", key, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), raw)
}

func getInt(b *bolt.Bucket, key []byte) int64 {
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// addInt adds delta to a stored total, refusing to wrap around.
func addInt(b *bolt.Bucket, key []byte, delta int64) error {
	n := getInt(b, key)
	if delta > 0 && n > maxYen-delta || delta < 0 && n < -maxYen-delta {
		return fail(protocol.CodeAmountOverflow, "the bank's %s would overflow", key)
	}
	return putInt(b, key, n+delta)
}

func putInt(b *bolt.Bucket, key []byte, n int64) error {
	return b.Put(key, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

const maxYen = 1<<63 - 1
