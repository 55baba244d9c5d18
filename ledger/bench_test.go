package ledger

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// benchSubmitters is the number of concurrent callers in the benchmarks.
const benchSubmitters = 2000

// benchLedgers keeps one populated ledger per size for the whole run:
// opening a million accounts takes longer than the measurement itself.
var benchLedgers sync.Map // accounts -> *benchLedger

type benchLedger struct {
	once sync.Once
	dir  string
	l    *Ledger // nil while another size is being measured
	ids  []AccountID
	next atomic.Uint64 // op id counter
	err  error
}

// benchSetup returns the populated ledger of that size, open, and closes
// the others: a benchmark measures one ledger in the process, not two.
func benchSetup(b *testing.B, accounts int) *benchLedger {
	v, _ := benchLedgers.LoadOrStore(accounts, &benchLedger{})
	bl := v.(*benchLedger)
	benchLedgers.Range(func(k, v any) bool {
		if other := v.(*benchLedger); k != accounts && other.l != nil {
			if err := other.l.Close(); err != nil {
				b.Fatal(err)
			}
			other.l = nil
		}
		return true
	})
	bl.once.Do(func() { bl.err = bl.populate(b, accounts) })
	if bl.err != nil {
		b.Fatal(bl.err)
	}
	if bl.l == nil {
		if bl.l, bl.err = Open(bl.dir, Options{}); bl.err != nil {
			b.Fatal(bl.err)
		}
	}
	return bl
}

// populate opens the wallets from many callers and funds them in batches.
func (bl *benchLedger) populate(b *testing.B, accounts int) error {
	var err error
	if bl.dir, err = benchDir(fmt.Sprintf("ledger-%d", accounts)); err != nil {
		return err
	}
	if bl.l, err = Open(bl.dir, Options{}); err != nil {
		return err
	}
	ctx := context.Background()
	if _, err := bl.l.OpenAccount(ctx, "bank", AccountSpec{ID: "bank", Kind: KindIntermediary}); err != nil {
		return err
	}
	const perWallet = 1_000_000
	if _, err := bl.l.Issue(ctx, "float", "bank", int64(accounts)*perWallet); err != nil {
		return err
	}
	bl.ids = make([]AccountID, accounts)
	for i := range bl.ids {
		bl.ids[i] = AccountID("w" + strconv.Itoa(i))
	}
	err = parallel(benchSubmitters, accounts, func(i int) error {
		_, err := bl.l.OpenAccount(ctx, "open-"+string(bl.ids[i]), AccountSpec{ID: bl.ids[i], Kind: KindWallet, Intermediary: "bank"})
		return err
	})
	if err != nil {
		return err
	}
	batches := (accounts + MaxBatchTransfers - 1) / MaxBatchTransfers
	return parallel(64, batches, func(i int) error {
		var ts []Transfer
		for _, id := range bl.ids[i*MaxBatchTransfers : min((i+1)*MaxBatchTransfers, accounts)] {
			ts = append(ts, Transfer{From: "bank", To: id, Amount: perWallet})
		}
		_, err := bl.l.Batch(ctx, "fund-"+strconv.Itoa(i), ts)
		return err
	})
}

// benchRoot holds the benchmarks' ledgers on the machine's temporary disk
// for the life of the process; TestMain removes it.
var benchRoot = sync.OnceValues(func() (string, error) {
	return os.MkdirTemp("", "ledger-bench-")
})

func benchDir(name string) (string, error) {
	root, err := benchRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, name), nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	benchLedgers.Range(func(_, v any) bool {
		if bl := v.(*benchLedger); bl.l != nil {
			bl.l.Close()
		}
		return true
	})
	if root, err := benchRoot(); err == nil {
		os.RemoveAll(root)
	}
	os.Exit(code)
}

// parallel runs fn(0..n-1) from workers goroutines and returns the first error.
func parallel(workers, n int, fn func(i int) error) error {
	var next atomic.Int64
	var first atomic.Pointer[error]
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n && first.Load() == nil; i = int(next.Add(1) - 1) {
				if err := fn(i); err != nil {
					first.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
}

// BenchmarkTransfers measures durable transfers per second between random
// wallets from benchSubmitters concurrent callers, and each transfer's
// latency from call to acknowledgement (after fsync).
func BenchmarkTransfers(b *testing.B) {
	raw := rawAppendRate(b)
	for _, accounts := range []int{10_000, 1_000_000} {
		b.Run("accounts="+strconv.Itoa(accounts), func(b *testing.B) {
			bl := benchSetup(b, accounts)
			ctx := context.Background()
			lat := make([]time.Duration, b.N)
			b.ResetTimer()
			start := time.Now()
			err := parallel(benchSubmitters, b.N, func(i int) error {
				n := bl.next.Add(1)
				r := rand.New(rand.NewPCG(n, 7))
				from := r.IntN(accounts)
				to := (from + 1 + r.IntN(accounts-1)) % accounts
				t0 := time.Now()
				_, err := bl.l.Transfer(ctx, "t"+strconv.FormatUint(n, 36), bl.ids[from], bl.ids[to], 1)
				lat[i] = time.Since(t0)
				return err
			})
			elapsed := time.Since(start)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			rate := float64(b.N) / elapsed.Seconds()
			slices.Sort(lat)
			b.ReportMetric(rate, "transfers/s")
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
			b.ReportMetric(raw, "raw-appends/s")
			b.ReportMetric(rate/raw, "x-raw")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// rawAppendRate measures, once per process, what bbolt itself reaches on
// this disk: sequential appends of 1,000 records of 100 bytes per
// transaction, each transaction fsynced. It is the ceiling the ledger's
// journal-first design is compared with.
var rawAppendOnce struct {
	sync.Once
	rate float64
	err  error
}

func rawAppendRate(b *testing.B) float64 {
	rawAppendOnce.Do(func() {
		rawAppendOnce.rate, rawAppendOnce.err = measureRawAppends(500_000)
	})
	if rawAppendOnce.err != nil {
		b.Fatal(rawAppendOnce.err)
	}
	return rawAppendOnce.rate
}

func measureRawAppends(records int) (float64, error) {
	dir, err := benchDir("raw-bbolt")
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	db, err := bolt.Open(filepath.Join(dir, "raw.db"), 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType, InitialMmapSize: 1 << 30})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	val := make([]byte, 100)
	start := time.Now()
	for seq := 0; seq < records; {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("raw"))
			if err != nil {
				return err
			}
			bk.FillPercent = 1
			for i := 0; i < 1000; i++ {
				seq++
				if err := bk.Put(binary.BigEndian.AppendUint64(nil, uint64(seq)), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return float64(records) / time.Since(start).Seconds(), nil
}

// BenchmarkRawBoltAppend reports the raw bbolt ceiling on its own.
func BenchmarkRawBoltAppend(b *testing.B) {
	b.ReportMetric(rawAppendRate(b), "records/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkRecovery measures opening a populated ledger, as after a crash:
// from its checkpoint (the usual case), and from genesis, replaying the
// whole journal with every check (when the checkpoint is lost). Both
// include checking the whole journal's hash chain, which the verify case
// measures on its own.
func BenchmarkRecovery(b *testing.B) {
	for _, accounts := range []int{10_000, 1_000_000} {
		for _, from := range []string{"checkpoint", "genesis"} {
			b.Run("accounts="+strconv.Itoa(accounts)+"/from="+from, func(b *testing.B) {
				benchRecovery(b, benchSetup(b, accounts), from == "genesis")
			})
		}
		b.Run("accounts="+strconv.Itoa(accounts)+"/verify", func(b *testing.B) {
			benchVerify(b, benchSetup(b, accounts))
		})
	}
}

// benchVerify measures the start-up check of the journal alone: opening
// the closed ledger's file read-only and walking its hash chain.
func benchVerify(b *testing.B, bl *benchLedger) {
	dir := bl.l.Dir()
	if err := bl.l.Close(); err != nil {
		b.Fatal(err)
	}
	bl.l = nil
	path := filepath.Join(dir, FileName)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	var took time.Duration
	for range b.N {
		start := time.Now()
		db, err := openDB(dir, true, verifyChain(path))
		took += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
	b.ReportMetric(took.Seconds()/float64(b.N), "s/verify")
	b.ReportMetric(float64(fi.Size())*float64(b.N)/took.Seconds()/1e6, "file-MB/s")
	b.ReportMetric(0, "ns/op")
}

func benchRecovery(b *testing.B, bl *benchLedger, dropCheckpoint bool) {
	dir := bl.l.Dir()
	var took time.Duration
	for range b.N {
		if err := bl.l.Close(); err != nil {
			b.Fatal(err)
		}
		if dropCheckpoint {
			if err := os.Remove(filepath.Join(dir, CheckpointFileName)); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		l, err := Open(dir, Options{})
		took += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		bl.l = l
	}
	records := float64(bl.l.Totals().Seq)
	b.ReportMetric(records, "records")
	b.ReportMetric(records*float64(b.N)/took.Seconds(), "records/s")
	b.ReportMetric(took.Seconds()/float64(b.N), "s/open")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkBalanceRecordsBaseline measures the design the ledger avoids:
// one bbolt record per account, both updated by each transfer, 1,000
// transfers per fsynced transaction from a single writer (group commit at
// its best). With many accounts every transfer dirties random pages.
func BenchmarkBalanceRecordsBaseline(b *testing.B) {
	for _, accounts := range []int{10_000, 1_000_000} {
		b.Run("accounts="+strconv.Itoa(accounts), func(b *testing.B) {
			db := balanceRecordsDB(b, accounts)
			r := rand.New(rand.NewPCG(1, 2))
			b.ResetTimer()
			start := time.Now()
			for done := 0; done < b.N; done += 1000 {
				err := db.Update(func(tx *bolt.Tx) error {
					bk := tx.Bucket([]byte("balances"))
					for range 1000 {
						from, to := r.IntN(accounts), r.IntN(accounts)
						if err := addBalance(bk, from, -1); err != nil {
							return err
						}
						if err := addBalance(bk, to, 1); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "transfers/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func balanceRecordsDB(b *testing.B, accounts int) *bolt.DB {
	dir, err := benchDir("balances-" + strconv.Itoa(accounts) + "-" + strconv.Itoa(b.N))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, "balances.db"), 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType, InitialMmapSize: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	for start := 0; start < accounts; start += 100_000 {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("balances"))
			if err != nil {
				return err
			}
			for i := start; i < min(start+100_000, accounts); i++ {
				if err := bk.Put(binary.BigEndian.AppendUint64(nil, uint64(i)), binary.BigEndian.AppendUint64(nil, 1<<40)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return db
}

func addBalance(bk *bolt.Bucket, acct int, delta int64) error {
	k := binary.BigEndian.AppendUint64(nil, uint64(acct))
	v := int64(binary.BigEndian.Uint64(bk.Get(k)))
	return bk.Put(k, binary.BigEndian.AppendUint64(nil, uint64(v+delta)))
}
