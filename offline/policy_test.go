package offline_test

import (
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/offline"
)

func TestModesAndBearers(t *testing.T) {
	for _, m := range []offline.Mode{offline.Staged, offline.Intermittent} {
		got, err := offline.ParseMode(m.String())
		if err != nil || got != m {
			t.Fatalf("mode %s: %v, %v", m, got, err)
		}
	}
	if offline.Staged.String() != "staged" || offline.Intermittent.String() != "intermittent" || offline.Mode(7).String() != "mode(7)" {
		t.Fatal("mode names")
	}
	for _, b := range []offline.Bearer{offline.PayerBank, offline.Payee, offline.Guarantee} {
		got, err := offline.ParseBearer(b.String())
		if err != nil || got != b {
			t.Fatalf("bearer %s: %v, %v", b, got, err)
		}
	}
	if offline.Bearer(9).String() != "bearer(9)" {
		t.Fatal("unknown bearer name")
	}
	for _, s := range []string{"", "Staged", "mode(1)", "online"} {
		_, err := offline.ParseMode(s)
		wantCode(t, err, "invalid_policy")
	}
	for _, s := range []string{"", "bank", "payer_bank"} {
		_, err := offline.ParseBearer(s)
		wantCode(t, err, "invalid_policy")
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := offline.DefaultPolicy().Validate(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	for _, c := range []struct {
		name   string
		change func(*offline.Policy)
	}{
		{"mode 0", func(p *offline.Policy) { p.Mode = 0 }},
		{"mode 3", func(p *offline.Policy) { p.Mode = 3 }},
		{"payment cap 0", func(p *offline.Policy) { p.PaymentCap = 0 }},
		{"negative payment cap", func(p *offline.Policy) { p.PaymentCap = -1 }},
		{"purse cap below payment cap", func(p *offline.Policy) { p.PurseCap = p.PaymentCap - 1 }},
		{"no payments before sync", func(p *offline.Policy) { p.PaymentsBeforeSync = 0 }},
		{"certificate lifetime under ten seconds", func(p *offline.Policy) { p.CertLifetime = offline.MinCertLifetime - time.Millisecond }},
		{"no loss bearer", func(p *offline.Policy) { p.LossBearer = 0 }},
		{"loss bearer 4", func(p *offline.Policy) { p.LossBearer = 4 }},
	} {
		p := offline.DefaultPolicy()
		c.change(&p)
		if err := p.Validate(); offline.CodeOf(err) != "invalid_policy" {
			t.Errorf("%s: got %v, want invalid_policy", c.name, err)
		}
	}
	p := offline.DefaultPolicy()
	p.PurseCap, p.CertLifetime, p.Mode, p.LossBearer = p.PaymentCap, time.Minute, offline.Intermittent, offline.Guarantee
	if err := p.Validate(); err != nil {
		t.Fatalf("policy at its bounds: %v", err)
	}
}
