package sim

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// Limits on a scenario, so a typo cannot ask for a run no machine finishes.
const (
	MaxBanks       = 50
	MaxParties     = 10_000_000 // wallets and merchants together
	MaxDuration    = 24 * time.Hour
	MaxRate        = 1_000_000 // payments a second
	MaxConcurrency = 100_000
)

// Arrival processes and amount distributions.
const (
	ArrivalFixed    = "fixed"
	ArrivalPoisson  = "poisson"
	ArrivalSchedule = "schedule"
	ArrivalClosed   = "closed"

	DistFixed     = "fixed"
	DistUniform   = "uniform"
	DistLognormal = "lognormal"
)

// Audiences of a scenario.
const (
	AudienceRoom      = "room"      // fit to show stakeholders
	AudienceDeveloper = "developer" // a test or measurement rig
)

// MaxAttacksPerMinute bounds each kind of attack; every attack takes a
// purse of its own.
const MaxAttacksPerMinute = 600

// Attack kinds.
const (
	AttackClone         = "clone"
	AttackRollback      = "rollback"
	AttackForgedBalance = "forged_balance"
	AttackTampered      = "tampered"
	AttackReplay        = "replay"
)

// Validate reports the first value out of range, as a *ScenarioError
// naming the field.
func (sc *Scenario) Validate() error {
	for _, check := range []func() error{sc.checkParties, sc.checkDescriptions, sc.checkAudience, sc.checkLength, sc.checkArrival,
		sc.checkMix, sc.checkOffline, sc.checkOutages, sc.checkAttacks} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// languageTag is a language tag as the demo page names its languages.
var languageTag = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)

func bad(field, format string, args ...any) error {
	return &ScenarioError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

func (sc *Scenario) checkDescriptions() error {
	for tag, text := range sc.Descriptions {
		if !languageTag.MatchString(tag) {
			return bad("descriptions", "%q is not a language tag such as \"ja\" or \"en-GB\"", tag)
		}
		if strings.TrimSpace(text) == "" {
			return bad("descriptions."+tag, "is empty")
		}
	}
	return nil
}

func (sc *Scenario) checkAudience() error {
	switch sc.Audience {
	case "", AudienceRoom, AudienceDeveloper:
		return nil
	}
	return bad("audience", "must be %q (fit to show stakeholders) or %q (a test or measurement rig), got %q",
		AudienceRoom, AudienceDeveloper, sc.Audience)
}

func (sc *Scenario) checkParties() error {
	switch {
	case sc.Name == "":
		return bad("name", "every scenario has a name")
	case sc.Banks < 1 || sc.Banks > MaxBanks:
		return bad("banks", "must be 1 to %d, got %d", MaxBanks, sc.Banks)
	case sc.Wallets < 2:
		return bad("wallets", "at least 2 wallets are needed to pay each other, got %d", sc.Wallets)
	case sc.Merchants < 0:
		return bad("merchants", "must not be negative, got %d", sc.Merchants)
	case sc.Wallets+sc.Merchants > MaxParties:
		return bad("wallets", "wallets and merchants together must be at most %d, got %d", MaxParties, sc.Wallets+sc.Merchants)
	}
	if err := sc.Start.Wallet.check("start.wallet", true); err != nil {
		return err
	}
	return sc.Start.Merchant.check("start.merchant", true)
}

func (sc *Scenario) checkLength() error {
	d := sc.Duration.D()
	switch {
	case (d == 0) == (sc.Payments == 0):
		return bad("duration", "give either a duration or a number of payments, not both or neither")
	case d < 0 || d > MaxDuration:
		return bad("duration", "must be positive and at most %s, got %s", MaxDuration, d)
	case sc.Payments < 0:
		return bad("payments", "must be positive, got %d", sc.Payments)
	case sc.Warmup < 0 || sc.Cooldown < 0:
		return bad("warmup", "warm-up and cool-down must not be negative")
	case d > 0 && sc.Warmup.D()+sc.Cooldown.D() >= d:
		return bad("warmup", "warm-up %s and cool-down %s leave nothing of a %s run to measure", sc.Warmup.D(), sc.Cooldown.D(), d)
	}
	return nil
}

func (sc *Scenario) checkArrival() error {
	a := sc.Arrival
	switch a.Process {
	case ArrivalFixed, ArrivalPoisson:
		if !(a.Rate > 0 && a.Rate <= MaxRate) {
			return bad("arrival.rate", "must be above 0 and at most %d payments a second, got %g", MaxRate, a.Rate)
		}
	case ArrivalSchedule:
		return checkSteps(a.Steps)
	case ArrivalClosed:
		if a.Concurrency < 1 || a.Concurrency > MaxConcurrency {
			return bad("arrival.concurrency", "must be 1 to %d payers, got %d", MaxConcurrency, a.Concurrency)
		}
		if a.Rate != 0 {
			return bad("arrival.rate", "a closed loop has no rate: each payer pays again when answered")
		}
	default:
		return bad("arrival.process", "must be fixed, poisson, schedule or closed, got %q", a.Process)
	}
	return nil
}

func checkSteps(steps []Step) error {
	if len(steps) == 0 {
		return bad("arrival.steps", "a schedule needs at least one step")
	}
	for i, s := range steps {
		field := fmt.Sprintf("arrival.steps[%d]", i)
		switch {
		case i == 0 && s.At != 0:
			return bad(field+".at", "the first step starts at \"0s\", got %s", s.At.D())
		case i > 0 && s.At <= steps[i-1].At:
			return bad(field+".at", "steps must start in increasing order")
		case !(s.Rate >= 0 && s.Rate <= MaxRate):
			return bad(field+".rate", "must be 0 to %d payments a second, got %g", MaxRate, s.Rate)
		}
	}
	return nil
}

func (sc *Scenario) checkMix() error {
	m := sc.Mix
	switch {
	case !share(m.PersonToPerson) || !share(m.Merchant):
		return bad("mix", "shares must be between 0 and 1")
	case math.Abs(m.PersonToPerson+m.Merchant-1) > 1e-9:
		return bad("mix", "person_to_person and merchant shares must add up to 1, got %g", m.PersonToPerson+m.Merchant)
	case m.Merchant > 0 && sc.Merchants == 0:
		return bad("mix.merchant", "payments to merchants need merchants")
	}
	return m.Amount.check("mix.amount", false)
}

func share(x float64) bool { return x >= 0 && x <= 1 }

// check validates a distribution; zero says whether 0 yen is a valid value
// (a starting balance may be 0, a payment not).
func (a Amount) check(field string, zero bool) error {
	low := int64(1)
	if zero {
		low = 0
	}
	switch a.Dist {
	case DistFixed:
		if a.Value < low {
			return bad(field+".value", "must be at least %d yen, got %d", low, a.Value)
		}
	case DistUniform:
		if a.Min < low || a.Max < a.Min {
			return bad(field+".min", "need %d <= min <= max, got min %d and max %d", low, a.Min, a.Max)
		}
	case DistLognormal:
		switch {
		case a.Median < 1:
			return bad(field+".median", "must be at least 1 yen, got %d", a.Median)
		case !(a.Sigma > 0 && a.Sigma <= 5):
			return bad(field+".sigma", "must be above 0 and at most 5, got %g", a.Sigma)
		case a.Max < a.Median:
			return bad(field+".max", "the cut must be at least the median, got %d", a.Max)
		}
	default:
		return bad(field+".dist", "must be fixed, uniform or lognormal, got %q", a.Dist)
	}
	return nil
}

func (sc *Scenario) checkOffline() error {
	o := sc.Offline
	if o == nil {
		return nil
	}
	p, err := o.Policy.DecodePolicy()
	switch {
	case err != nil:
		return bad("offline.policy", "%v", err)
	case !share(o.Share) || o.Share == 0:
		return bad("offline.share", "must be above 0 and at most 1, got %g", o.Share)
	case o.Fund < 1 || o.Fund > p.PurseCap:
		return bad("offline.fund", "must be 1 to the purse cap of %d yen, got %d", p.PurseCap, o.Fund)
	case o.SyncEvery.D() < time.Second:
		return bad("offline.sync_every", "must be at least 1s, got %s", o.SyncEvery.D())
	case !share(o.OfflineShare):
		return bad("offline.offline_share", "must be between 0 and 1, got %g", o.OfflineShare)
	}
	return nil
}

func (sc *Scenario) checkOutages() error {
	for i, o := range sc.Outages {
		field := fmt.Sprintf("outages[%d]", i)
		n := 0
		if o.Bank != "" {
			fmt.Sscanf(o.Bank, "bank-%d", &n)
		}
		switch {
		case o.At < 0 || o.For <= 0:
			return bad(field+".for", "an outage starts at or after 0s and lasts more than 0s")
		case (o.Bank == "") == (o.Wallets == 0):
			return bad(field, "an outage takes either a bank or a share of wallets offline")
		case o.Bank != "" && (n < 1 || n > sc.Banks || o.Bank != fmt.Sprintf("bank-%d", n)):
			return bad(field+".bank", "must be one of bank-1 … bank-%d, got %q", sc.Banks, o.Bank)
		case o.Bank == "" && !(o.Wallets > 0 && o.Wallets <= 1):
			return bad(field+".wallets", "must be above 0 and at most 1, got %g", o.Wallets)
		case sc.Duration > 0 && o.At.D()+o.For.D() > sc.Duration.D():
			return bad(field+".for", "ends at %s, after the %s run", o.At.D()+o.For.D(), sc.Duration.D())
		}
	}
	return nil
}

func (sc *Scenario) checkAttacks() error {
	for i, a := range sc.Attacks {
		field := fmt.Sprintf("attacks[%d]", i)
		switch a.Kind {
		case AttackClone, AttackRollback, AttackForgedBalance, AttackTampered, AttackReplay:
		default:
			return bad(field+".kind", "must be clone, rollback, forged_balance, tampered or replay, got %q", a.Kind)
		}
		if !(a.PerMinute > 0 && a.PerMinute <= MaxAttacksPerMinute) {
			return bad(field+".per_minute", "must be above 0 and at most %d, got %g", MaxAttacksPerMinute, a.PerMinute)
		}
		if sc.Offline == nil {
			return bad(field, "attacks on offline payments need an offline section")
		}
	}
	return nil
}
