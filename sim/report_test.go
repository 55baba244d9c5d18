package sim

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// reportFixture is a report of a run of secs seconds at rate payments a
// second, with outages: failures happen inside them, a fifth of them to
// parties the outage did not cut off. Money and exposure are sampled once a
// second, at scale yen.
func reportFixture(name string, secs, rate int, scale int64, outages ...Outage) *Report {
	r := &Report{Scenario: name, Seed: 1, Elapsed: float64(secs) + 0.3, Errors: map[string]int{},
		LedgerSeen: true, Conserved: true, Outages: outageWindows(outages), Offline: &OfflineReport{}}
	if r.Outages != nil {
		r.OutageErrors = map[string]int{}
	}
	for t := range secs {
		s := Second{T: t, Paid: rate, P99: 4 + float64(t%5)}
		for _, o := range r.Outages {
			if float64(t) >= o.From && float64(t) < o.To {
				s.Paid, s.Offline, s.Failed, s.FailedInOutage = rate/2, rate/4, rate/2, rate/2-rate/10
			}
		}
		r.Payments += s.Paid + s.Failed
		r.Paid += s.Paid
		r.Failed += s.Failed
		r.FailedInOutage += s.FailedInOutage
		r.Errors["no_connection"] += s.FailedInOutage
		r.Errors["connection"] += s.Failed - s.FailedInOutage
		if s.FailedInOutage > 0 {
			r.OutageErrors["no_connection"] += s.FailedInOutage
		}
		r.Timeline = append(r.Timeline, s)
		r.Money = append(r.Money, MoneySample{T: t + 1, Wallets: 3 * scale, Intermediaries: 7*scale - int64(t), Escrow: scale / 10})
		r.Offline.Exposure = append(r.Offline.Exposure, ExposureSample{T: t + 1, Unsettled: int64(t%7) * scale / 100, Escrow: scale / 10})
	}
	return r
}

func seconds(s float64) Duration { return Duration(s * float64(time.Second)) }

func TestReport_TableSplitsOutageFailures(t *testing.T) {
	r := reportFixture("split", 20, 10, 1000, Outage{At: seconds(5), For: seconds(5), Bank: "bank-2"})
	var sb strings.Builder
	r.WriteTable(&sb)
	for _, want := range []string{
		fmt.Sprintf("%d failed", r.Failed),
		fmt.Sprintf("%d during the scripted outage (payer or payee cut off)", r.FailedInOutage),
		fmt.Sprintf("%d other failures", r.Failed-r.FailedInOutage),
	} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, sb.String())
		}
	}
}

func TestReport_TableWithoutOutagesListsCodesOnly(t *testing.T) {
	r := reportFixture("calm", 5, 10, 1000)
	r.Failed, r.Errors = 2, map[string]int{"insufficient_funds": 2}
	var sb strings.Builder
	r.WriteTable(&sb)
	if !strings.Contains(sb.String(), "insufficient_funds") || strings.Contains(sb.String(), "outage") {
		t.Errorf("table:\n%s", sb.String())
	}
}
