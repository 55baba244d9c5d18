// Package metrics exposes the sandbox's services to Prometheus: the
// central ledger's group commits and money by tier, each bank's wallet
// requests, float and connections, and offline settlement. Each process
// has its own registry; names carry their units, counters end in _total,
// and no label names a wallet.
package metrics

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/replica"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
)

// Metrics is one process's registry and the instruments its parts feed.
// A nil *Metrics takes every call and records nothing.
type Metrics struct {
	reg *prometheus.Registry

	commits       prometheus.Counter
	commitRecords prometheus.Histogram
	commitSeconds prometheus.Histogram

	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec

	banks *bankCollector // one for the process: a sandbox runs several banks
}

// New makes a registry with the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.commits = prometheus.NewCounter(prometheus.CounterOpts{Name: "cbdc_ledger_commits_total",
		Help: "Group commits made durable by the central ledger (one fsync each)."})
	m.commitRecords = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cbdc_ledger_commit_records",
		Help: "Journal records per group commit.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)})
	m.commitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cbdc_ledger_commit_duration_seconds",
		Help: "Time to append a group commit to the journal and fsync it.", Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cbdc_bank_wallet_requests_total",
		Help: "Wallet requests answered, by bank, message type and outcome (ok, or the error code)."}, []string{"bank", "type", "outcome"})
	m.requestSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cbdc_bank_wallet_request_duration_seconds",
		Help:    "Time from a wallet request's arrival to its answer, by bank and message type.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"bank", "type"})
	m.banks = &bankCollector{}
	m.reg.MustRegister(m.commits, m.commitRecords, m.commitSeconds, m.requests, m.requestSeconds, m.banks)
	return m
}

// Handler serves the registry at /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// OnCommit is the ledger's hook (ledger.Options.OnCommit).
func (m *Metrics) OnCommit(records, _ int, took time.Duration) {
	if m == nil {
		return
	}
	m.commits.Inc()
	m.commitRecords.Observe(float64(records))
	m.commitSeconds.Observe(took.Seconds())
}

// OnRequest is a bank's hook (intermediary.Config.OnRequest).
func (m *Metrics) OnRequest(bank string) func(typ, code string, took time.Duration) {
	if m == nil {
		return nil
	}
	return func(typ, code string, took time.Duration) {
		outcome := code
		if outcome == "" {
			outcome = "ok"
		}
		m.requests.WithLabelValues(bank, typ, outcome).Inc()
		m.requestSeconds.WithLabelValues(bank, typ).Observe(took.Seconds())
	}
}

// WatchLedger reports the central ledger's money by tier and journal
// length at each scrape.
func (m *Metrics) WatchLedger(l *ledger.Ledger) {
	if m == nil {
		return
	}
	gauge := func(name, help string, f func(ledger.Totals) int64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(f(l.Totals())) }))
	}
	gauge("cbdc_ledger_journal_records", "Records in the central ledger's journal.", func(t ledger.Totals) int64 { return int64(t.Seq) })
	gauge("cbdc_ledger_circulation_yen", "CBDC in circulation: issued less redeemed.", func(t ledger.Totals) int64 { return t.Circulation })
	gauge("cbdc_ledger_intermediaries_yen", "CBDC held by intermediary banks (their float).", func(t ledger.Totals) int64 { return t.Intermediaries })
	gauge("cbdc_ledger_wallets_yen", "CBDC held in wallets.", func(t ledger.Totals) int64 { return t.Wallets })
	gauge("cbdc_ledger_offline_escrow_yen", "CBDC held in offline purse escrow.", func(t ledger.Totals) int64 { return t.Escrow })
	gauge("cbdc_ledger_loss_accounts_yen", "CBDC in loss accounts, the guarantee fund among them.", func(t ledger.Totals) int64 { return t.Loss })
	gauge("cbdc_ledger_accounts", "Accounts ever opened at the central ledger.", func(t ledger.Totals) int64 { return int64(t.Accounts) })
}

// WatchReplica reports a replicated ledger's replica at each scrape: its
// Raft term, whether it leads, its commit and applied indexes and the lag
// between them, and its changes of leadership. In a replicated ledger the
// commit duration (cbdc_ledger_commit_duration_seconds) is the consensus
// round: the time for a majority to hold a batch and this replica to
// apply it.
func (m *Metrics) WatchReplica(r *replica.Replica) {
	if m == nil || r == nil {
		return
	}
	gauge := func(name, help string, f func(replica.Stats) float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return f(r.Stats()) }))
	}
	gauge("cbdc_ledger_replica_term", "The Raft term the replica is in.", func(s replica.Stats) float64 { return float64(s.Term) })
	gauge("cbdc_ledger_replica_leader", "1 while this replica leads its group.", func(s replica.Stats) float64 {
		if s.Role == "leader" {
			return 1
		}
		return 0
	})
	gauge("cbdc_ledger_replica_commit_index", "The last Raft entry the replica knows committed.", func(s replica.Stats) float64 { return float64(s.CommitIndex) })
	gauge("cbdc_ledger_replica_applied_index", "The last Raft entry the replica has handed to its ledger to apply.", func(s replica.Stats) float64 { return float64(s.AppliedIndex) })
	gauge("cbdc_ledger_replica_apply_lag", "Committed Raft entries the replica has not yet handed to its ledger.", func(s replica.Stats) float64 {
		return float64(s.CommitIndex - min(s.AppliedIndex, s.CommitIndex))
	})
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cbdc_ledger_replica_leader_changes_total",
		Help: "Times this replica gained or lost the leadership since it started."}, func() float64 { return float64(r.Stats().LeaderChanges) }))
}

// WatchBanks reports each bank's float, deposits, offline losses and open
// wallet sessions at each scrape.
func (m *Metrics) WatchBanks(banks ...*intermediary.Bank) {
	if m == nil {
		return
	}
	m.banks.mu.Lock()
	defer m.banks.mu.Unlock()
	for _, b := range banks {
		if !slices.Contains(m.banks.banks, b) {
			m.banks.banks = append(m.banks.banks, b)
		}
	}
}

var (
	bankFloat = prometheus.NewDesc("cbdc_bank_float_yen", "The bank's CBDC float at the central ledger.", []string{"bank"}, nil)
	bankDeps  = prometheus.NewDesc("cbdc_bank_deposits_yen", "Customers' deposit accounts at the bank.", []string{"bank"}, nil)
	bankLoss  = prometheus.NewDesc("cbdc_bank_offline_losses_yen", "What the bank has paid for its purses' offline overspends.", []string{"bank"}, nil)
	bankConns = prometheus.NewDesc("cbdc_bank_websocket_connections", "Open wallet sessions.", []string{"bank"}, nil)
	bankUp    = prometheus.NewDesc("cbdc_bank_status_up", "1 when the bank's status could be read at this scrape.", []string{"bank"}, nil)
)

type bankCollector struct {
	mu    sync.Mutex // protects banks
	banks []*intermediary.Bank
}

func (c *bankCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{bankFloat, bankDeps, bankLoss, bankConns, bankUp} {
		ch <- d
	}
}

func (c *bankCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	banks := append([]*intermediary.Bank(nil), c.banks...)
	c.mu.Unlock()
	for _, b := range banks {
		id := string(b.ID())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := b.Status(ctx)
		cancel()
		if err != nil {
			ch <- prometheus.MustNewConstMetric(bankUp, prometheus.GaugeValue, 0, id)
			continue
		}
		ch <- prometheus.MustNewConstMetric(bankUp, prometheus.GaugeValue, 1, id)
		ch <- prometheus.MustNewConstMetric(bankFloat, prometheus.GaugeValue, float64(st.Float), id)
		ch <- prometheus.MustNewConstMetric(bankDeps, prometheus.GaugeValue, float64(st.Deposits), id)
		ch <- prometheus.MustNewConstMetric(bankLoss, prometheus.GaugeValue, float64(st.OfflineLosses), id)
		ch <- prometheus.MustNewConstMetric(bankConns, prometheus.GaugeValue, float64(st.Connections), id)
	}
}

// WatchSettlement reports offline settlement at each scrape.
func (m *Metrics) WatchSettlement(st *settlement.Settler) {
	if m == nil || st == nil {
		return
	}
	m.reg.MustRegister(&settlementCollector{st: func() *settlement.Settler { return st }})
}

// WatchSettlers serves the figures of whichever settler runs now: a
// replicated ledger's leader has one, a follower none (then the figures
// are left out).
func (m *Metrics) WatchSettlers(settler func() *settlement.Settler) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&settlementCollector{st: settler})
}

var (
	vouchersSettled  = prometheus.NewDesc("cbdc_offline_vouchers_settled_total", "Offline vouchers settled at the central ledger.", nil, nil)
	vouchersRejected = prometheus.NewDesc("cbdc_offline_vouchers_rejected_total", "Offline vouchers rejected at the central ledger.", nil, nil)
	vouchersPending  = prometheus.NewDesc("cbdc_offline_vouchers_pending", "Offline vouchers waiting for their payer's value.", nil, nil)
	pendingYen       = prometheus.NewDesc("cbdc_offline_pending_yen", "Value of the offline vouchers waiting.", nil, nil)
	conflicts        = prometheus.NewDesc("cbdc_offline_conflicts_total", "Conflicts found, each revoking a purse, by kind.", []string{"kind"}, nil)
	devices          = prometheus.NewDesc("cbdc_offline_devices", "Purses registered at the central ledger.", nil, nil)
	revoked          = prometheus.NewDesc("cbdc_offline_revoked_devices", "Purses revoked.", nil, nil)
	lossesYen        = prometheus.NewDesc("cbdc_offline_losses_yen", "Offline shortfalls borne now, by the account that bore them (payees: what payees went without); it falls when value reaching a payer's escrow repays a bearer or pays a payee late.", []string{"bearer"}, nil)
)

type settlementCollector struct{ st func() *settlement.Settler }

func (c *settlementCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{vouchersSettled, vouchersRejected, vouchersPending, pendingYen, conflicts, devices, revoked, lossesYen} {
		ch <- d
	}
}

func (c *settlementCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.st()
	if st == nil {
		return
	}
	s := st.Summary()
	ch <- prometheus.MustNewConstMetric(vouchersSettled, prometheus.CounterValue, float64(s.Settled))
	ch <- prometheus.MustNewConstMetric(vouchersRejected, prometheus.CounterValue, float64(s.Rejected))
	ch <- prometheus.MustNewConstMetric(vouchersPending, prometheus.GaugeValue, float64(s.Pending))
	ch <- prometheus.MustNewConstMetric(pendingYen, prometheus.GaugeValue, s.PendingAmount.Float64())
	ch <- prometheus.MustNewConstMetric(devices, prometheus.GaugeValue, float64(s.Devices))
	ch <- prometheus.MustNewConstMetric(revoked, prometheus.GaugeValue, float64(s.RevokedDevices))
	for k, n := range s.Conflicts {
		ch <- prometheus.MustNewConstMetric(conflicts, prometheus.CounterValue, float64(n), string(k))
	}
	for acc, v := range s.LossByBearer {
		ch <- prometheus.MustNewConstMetric(lossesYen, prometheus.GaugeValue, v.Float64(), string(acc))
	}
	ch <- prometheus.MustNewConstMetric(lossesYen, prometheus.GaugeValue, s.LossByPayees.Float64(), "payees")
}
