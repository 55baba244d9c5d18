package reqid

import (
	"context"
	"strings"
	"testing"
)

func TestForWallet_SameOnRetryDistinctOtherwise(t *testing.T) {
	a := ForWallet("bank-1", "key-a", "pay-1")
	if a != ForWallet("bank-1", "key-a", "pay-1") {
		t.Error("a retry got another id")
	}
	for _, other := range []string{ForWallet("bank-1", "key-b", "pay-1"), ForWallet("bank-1", "key-a", "pay-2"), ForWallet("bank-2", "key-a", "pay-1")} {
		if other == a {
			t.Errorf("%s names two requests", a)
		}
	}
	if !strings.HasPrefix(a, "bank-1-") || len(a) != len("bank-1-")+12 || !Valid(a) || strings.Contains(a, "key-a") || strings.Contains(a, "pay-1") {
		t.Errorf("id %q: want bank-1- and 12 hex digits that do not show the wallet or its request", a)
	}
}

func TestValid_RefusesWhatCouldForgeALogLine(t *testing.T) {
	for _, s := range []string{"", strings.Repeat("a", MaxLen+1), "a b", "a\nmsg=forged", `a"b`, "a=b", "ä"} {
		if Valid(s) {
			t.Errorf("Valid(%q)", s)
		}
	}
	for _, s := range []string{"bank-1-0123456789ab", "a.b_c:d-e", strings.Repeat("a", MaxLen)} {
		if !Valid(s) {
			t.Errorf("!Valid(%q)", s)
		}
	}
}

func TestWithFrom(t *testing.T) {
	if From(context.Background()) != "" || From(With(context.Background(), "x")) != "x" {
		t.Error("the id does not travel in the context")
	}
}
