package demo

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/digital-yen/cbdc-sandbox/boltfile"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// The room is what every open page shows: the demo's wallets and devices,
// and the log of offline payments and reconciliations. With a data
// directory it is kept in demo.db there, so a restarted sandbox shows the
// same room: the wallets' keys (play money only, so the file is protected
// by its mode, not a passphrase), their purses and notifications.

// RoomFile is the demo's file in its data directory.
const RoomFile = "demo.db"

var (
	bucketWallets = []byte("wallets")
	bucketLog     = []byte("log")
	bucketMeta    = []byte("meta")
	keyNextID     = []byte("next_id")
)

// walletRecord is a demo wallet or cloned device as kept on disk.
type walletRecord struct {
	ID       string             `json:"id"`
	Num      int                `json:"num"` // orders the room as the wallets were made
	Name     string             `json:"name"`
	Bank     string             `json:"bank"`
	Tier     string             `json:"tier"`
	Seed     []byte             `json:"seed,omitempty"`     // the wallet key's seed; none for a cloned device
	Address  string             `json:"address,omitempty"`  // as the bank named it at the first session
	CloneOf  string             `json:"clone_of,omitempty"` // the id of the wallet whose purse a clone copied
	Offline  bool               `json:"offline,omitempty"`
	Purse    []byte             `json:"purse,omitempty"` // offline.Purse.Save
	Notes    []Note             `json:"notes,omitempty"`
	Settings *protocol.Settings `json:"settings,omitempty"`
}

// logEntry is one offline payment or reconciliation in the room's log.
type logEntry struct {
	Seq            uint64          `json:"seq"`
	Payment        *OfflinePayment `json:"payment,omitempty"`
	Reconciliation *Reconciliation `json:"reconciliation,omitempty"`
}

// maxLog is how many payments and reconciliations the room keeps.
const maxLog = 40

// roomStore keeps the room in a bbolt file; a nil store keeps nothing.
type roomStore struct {
	db *bolt.DB
}

func openRoom(dir string) (*roomStore, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	db, err := boltfile.Open(filepath.Join(dir, RoomFile), bolt.Options{Timeout: time.Second}, nil)
	if err != nil {
		return nil, fmt.Errorf("demo: open the room: %w", err)
	}
	if err := os.Chmod(filepath.Join(dir, RoomFile), 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("demo: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketWallets, bucketLog, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("demo: open the room: %w", err)
	}
	return &roomStore{db: db}, nil
}

func (r *roomStore) close() error {
	if r == nil {
		return nil
	}
	return r.db.Close()
}

// load reads the room: its wallets in the order they were made, its log
// oldest first, and the next wallet number.
func (r *roomStore) load() (wallets []walletRecord, log []logEntry, next int, err error) {
	if r == nil {
		return nil, nil, 0, nil
	}
	err = r.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyNextID); len(v) == 8 {
			next = int(binary.BigEndian.Uint64(v))
		}
		err := tx.Bucket(bucketWallets).ForEach(func(k, v []byte) error {
			var w walletRecord
			if err := json.Unmarshal(v, &w); err != nil {
				return fmt.Errorf("wallet %s: %w", k, err)
			}
			wallets = append(wallets, w)
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
			var e logEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("log entry %x: %w", k, err)
			}
			log = append(log, e)
			return nil
		})
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("demo: read the room: %w", err)
	}
	return wallets, log, next, nil
}

func walletKey(num int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(num)) }

// putWallet writes a wallet's record and the room's next wallet number.
func (r *roomStore) putWallet(w walletRecord, next int) error {
	if r == nil {
		return nil
	}
	v, err := json.Marshal(w)
	if err != nil {
		return err
	}
	return r.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Put(keyNextID, binary.BigEndian.AppendUint64(nil, uint64(next))); err != nil {
			return err
		}
		return tx.Bucket(bucketWallets).Put(walletKey(w.Num), v)
	})
}

// appendLog adds an entry and drops the oldest beyond maxLog.
func (r *roomStore) appendLog(e logEntry) error {
	if r == nil {
		return nil
	}
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return r.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLog)
		if err := b.Put(binary.BigEndian.AppendUint64(nil, e.Seq), v); err != nil {
			return err
		}
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			keys = append(keys, append([]byte(nil), k...))
		}
		for _, k := range keys[:max(0, len(keys)-maxLog)] {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// clear forgets every wallet and the log, keeping the wallet numbers
// growing so an old page's ids never name a new wallet.
func (r *roomStore) clear() error {
	if r == nil {
		return nil
	}
	return r.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketWallets, bucketLog} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// restore brings back the room kept in the data directory: its wallets,
// each connecting to its bank in the background, their purses and the log.
func (s *Server) restore() error {
	recs, log, next, err := s.store.load()
	if err != nil {
		return err
	}
	s.nextID, s.log = next, log
	for _, e := range log {
		s.logSeq = max(s.logSeq, e.Seq)
	}
	byID := map[string]*demoWallet{}
	for _, r := range recs {
		dw := &demoWallet{id: r.ID, num: r.Num, name: r.Name, bank: r.Bank, tier: r.Tier, seed: r.Seed, address: r.Address,
			notes: r.Notes, st: r.Settings, stop: make(chan struct{}), asks: map[string]protocol.PaymentRequest{}}
		s.nextID = max(s.nextID, r.Num)
		if r.CloneOf != "" {
			if dw.owner = byID[r.CloneOf]; dw.owner == nil {
				return fmt.Errorf("demo: the room's device %s copies wallet %s, which the room does not hold", r.ID, r.CloneOf)
			}
		} else if len(r.Seed) != ed25519.SeedSize {
			return fmt.Errorf("demo: the room's wallet %s has no key", r.ID)
		}
		if len(r.Purse) > 0 {
			p, err := offline.LoadPurse(r.Purse)
			if err != nil {
				return fmt.Errorf("demo: the purse of the room's wallet %s: %w", r.ID, err)
			}
			dw.purse = p
			if r.CloneOf == "" {
				s.purses[p.Serial().String()] = dw.name
			}
		}
		dw.online.Store(!r.Offline)
		dw.snapshot()
		byID[dw.id] = dw
		s.wallets = append(s.wallets, dw)
	}
	for _, dw := range s.wallets {
		if !dw.isClone() {
			s.wg.Go(func() { s.keepConnected(dw, nil) })
		}
	}
	if len(s.wallets) > 0 {
		s.cfg.Log.Info("demo: the room is back", "wallets", len(s.wallets), "log", len(log))
	}
	return nil
}

// ResetSummary is what resetting the room did with the room's money.
type ResetSummary struct {
	Reset          int64 `json:"reset"`            // the reset's number, also in the live feed's reset message
	Wallets        int   `json:"wallets"`          // wallets and devices that left the room
	Synced         int   `json:"synced"`           // vouchers handed in on the way out
	ToDeposits     int64 `json:"to_deposits"`      // CBDC returned to the customers' deposit accounts
	FromPurses     int64 `json:"from_purses"`      // of that, taken out of purses first
	LeftInEscrow   int64 `json:"left_in_escrow"`   // escrow of revoked purses, released at their deadlines
	Failed         int   `json:"failed"`           // wallets whose money could not be moved (kept at the bank)
	VouchersOnHold int   `json:"vouchers_on_hold"` // vouchers the ledger still holds pending
}

// handleReset starts the room afresh: every device hands in its vouchers,
// each wallet returns what its purse and its balance hold to its deposit
// account at the bank, and the demo forgets its wallets and its log. The
// customers stay at their banks, and the ledger's journal keeps every
// operation: nothing is deleted from the books.
func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !readJSON(w, r, &req) {
		return
	}
	if !s.resetMu.TryLock() {
		writeError(w, http.StatusConflict, "reset_running", "the room is already being reset")
		return
	}
	defer s.resetMu.Unlock()
	s.changes.Lock() // changes already under way finish first; later ones are refused until it is done
	defer s.changes.Unlock()
	// The reset is the sandbox's, not the page's: a page closed halfway
	// does not leave it half done.
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Minute)
	defer cancel()
	sum, err := s.reset(ctx)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

func (s *Server) reset(ctx context.Context) (ResetSummary, error) {
	s.live.event(Event{From: "presenter", To: "presenter", Kind: "reset_start"})
	s.mu.Lock()
	ws := append([]*demoWallet(nil), s.wallets...)
	s.mu.Unlock()
	s.resets++
	sum := ResetSummary{Reset: s.resets, Wallets: len(ws)}
	s.handInAll(ctx, ws, &sum)
	// A wallet that could not be emptied stays in the room, with its
	// copies, keys and purse: its money is still its own.
	kept := map[*demoWallet]bool{}
	for _, dw := range ws {
		if dw.isClone() {
			continue
		}
		if err := s.emptyWallet(ctx, dw, &sum); err != nil {
			sum.Failed++
			kept[dw] = true
			s.cfg.Log.Warn("demo: reset: the wallet keeps its money and stays in the room", "wallet", dw.name, "err", err)
		}
	}
	var stay []*demoWallet
	for _, dw := range ws {
		if kept[dw] || dw.isClone() && kept[dw.owner] {
			stay = append(stay, dw)
		}
	}
	sum.Wallets -= len(stay)
	if err := s.keepOnly(ws, stay); err != nil {
		return sum, fmt.Errorf("demo: forget the room: %w", err)
	}
	s.live.forget()
	s.live.send(message{Type: "reset", Reset: sum.Reset})
	for _, dw := range stay {
		s.refresh(dw)
	}
	s.live.event(Event{From: "presenter", To: "presenter", Kind: "reset_done",
		Args: Args{"wallets": sum.Wallets, "to_deposits": sum.ToDeposits, "left_in_escrow": sum.LeftInEscrow}})
	return sum, nil
}

// handInAll has every device with vouchers hand them in: copies first,
// then the rest, so what payees were paid is handed in before their
// owners empty their purses.
func (s *Server) handInAll(ctx context.Context, ws []*demoWallet, sum *ResetSummary) {
	order := slices.Clone(ws)
	slices.SortStableFunc(order, func(a, b *demoWallet) int {
		switch {
		case a.isClone() == b.isClone():
			return 0
		case a.isClone():
			return -1
		}
		return 1
	})
	for _, dw := range order {
		dw.mu.Lock()
		n := 0
		if dw.purse != nil {
			up := dw.purse.Upload()
			n = len(up.Sent) + len(up.Received)
		}
		dw.mu.Unlock()
		if n == 0 {
			continue
		}
		if rec, err := s.syncPurse(ctx, dw); err == nil {
			sum.Synced += rec.Handed
			sum.VouchersOnHold += rec.Waiting
		}
	}
}

// keepOnly makes stay the room, on disk too, forgets its log and closes
// the wallets that left.
func (s *Server) keepOnly(ws, stay []*demoWallet) error {
	var recs []walletRecord
	for _, dw := range stay {
		dw.mu.Lock()
		recs = append(recs, dw.record())
		dw.mu.Unlock()
	}
	s.mu.Lock()
	for _, dw := range ws {
		dw.gone.Store(!slices.Contains(stay, dw)) // under s.mu: no persist writes a wallet back after the clear
	}
	s.wallets, s.log, s.purses = stay, nil, map[string]string{}
	for _, dw := range stay {
		if p := dw.purseView(); p != nil && !dw.isClone() {
			s.purses[p.Serial] = dw.name
		}
	}
	err := s.store.clear()
	for _, rec := range recs {
		if err == nil {
			err = s.store.putWallet(rec, s.nextID)
		}
	}
	s.mu.Unlock()
	for _, dw := range ws {
		if !slices.Contains(stay, dw) {
			dw.close()
		}
	}
	return err
}

// emptyWallet returns what the wallet's purse and balance hold to its
// deposit account.
func (s *Server) emptyWallet(ctx context.Context, dw *demoWallet, sum *ResetSummary) error {
	c, err := dw.client()
	if err != nil {
		return err
	}
	dw.mu.Lock()
	p := dw.purse
	if p != nil {
		if pv := s.purseView(dw); pv != nil && pv.Revoked {
			if pv.Escrow != nil {
				sum.LeftInEscrow += *pv.Escrow
			}
		} else if bal := p.Balance(); bal > 0 {
			_, err := c.DefundPurse(ctx, p, bal)
			dw.snapshot()
			s.persist(dw) // the purse has spent its balance: it must not forget it
			if err != nil {
				dw.mu.Unlock()
				return err
			}
			sum.FromPurses += bal
		}
	}
	dw.mu.Unlock()
	b, err := c.Balance(ctx)
	if err != nil {
		return err
	}
	if b.Balance > 0 {
		if _, err := c.Deposit(ctx, "", b.Balance); err != nil {
			return err
		}
		sum.ToDeposits += b.Balance
	}
	return nil
}
