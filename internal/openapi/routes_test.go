package openapi_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/internal/openapi"
)

// documentedRoutes lists, for each server ("ledger replica" being a
// replica of a replicated ledger), the patterns the document gives it, and
// apart from them the routes the cbdc process serves beside
// the handlers (x-served-by-process).
func documentedRoutes(t testing.TB, d *openapi.Doc) (byServer map[string][]string, process []string) {
	byServer = map[string][]string{}
	for _, op := range d.Operations() {
		if op.Item["x-served-by-process"] == true {
			process = append(process, op.Pattern())
			continue
		}
		for _, s := range opServers(t, op) {
			if !replicatedOnly(op) {
				byServer[s] = append(byServer[s], op.Pattern())
			}
			if s == "ledger" { // a replica serves the ledger's routes and its group's
				byServer["ledger replica"] = append(byServer["ledger replica"], op.Pattern())
			}
		}
	}
	return byServer, process
}

// routeDiff returns the routes served but not documented, and those
// documented but not served.
func routeDiff(documented, served []string) (undocumented, missing []string) {
	for _, r := range served {
		if !slices.Contains(documented, r) {
			undocumented = append(undocumented, r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			missing = append(missing, r)
		}
	}
	return undocumented, missing
}

func TestOpenAPI_EveryRouteIsDocumented(t *testing.T) {
	d := loadDoc(t)
	s := startServers(t)
	documented, process := documentedRoutes(t, d)
	served := map[string][]string{"bank": s.bank.Routes(), "ledger": s.ledgerSrv.Routes(), "ledger replica": startReplicas(t).srv.Routes()}
	for _, server := range []string{"bank", "ledger", "ledger replica"} {
		if len(served[server]) < 10 {
			t.Fatalf("the %s serves %d routes; its route table was not read", server, len(served[server]))
		}
		undocumented, missing := routeDiff(documented[server], served[server])
		for _, r := range undocumented {
			t.Errorf("the %s serves %q, which docs/openapi.yaml does not document", server, r)
		}
		for _, r := range missing {
			t.Errorf("docs/openapi.yaml documents %q at the %s, which does not serve it", r, server)
		}
		for _, r := range process {
			if slices.Contains(served[server], r) {
				t.Errorf("%q is marked x-served-by-process, but the %s's own handler serves it", r, server)
			}
		}
	}
}

// The comparison finds a route added without documentation and a
// documented route that is gone, whichever server it concerns.
func TestOpenAPI_RouteDiffCatchesDrift(t *testing.T) {
	d := loadDoc(t)
	s := startServers(t)
	documented, _ := documentedRoutes(t, d)
	for server, served := range map[string][]string{"bank": s.bank.Routes(), "ledger": s.ledgerSrv.Routes()} {
		und, miss := routeDiff(documented[server], append(slices.Clone(served), "GET /admin/secret"))
		if !slices.Equal(und, []string{"GET /admin/secret"}) || len(miss) != 0 {
			t.Errorf("%s with an undocumented route: undocumented %v, missing %v", server, und, miss)
		}
		gone := served[len(served)-1]
		und, miss = routeDiff(documented[server], served[:len(served)-1])
		if len(und) != 0 || !slices.Equal(miss, []string{gone}) {
			t.Errorf("%s without %s: undocumented %v, missing %v", server, gone, und, miss)
		}
	}
	// A path documented for the wrong server counts as both.
	moved, _ := openapi.Parse([]byte(strings.Replace(mustRead(t, docPath),
		"  /v1/totals:\n    servers:\n      - url: http://127.0.0.1:7400", "  /v1/totals:\n    servers:\n      - url: http://127.0.0.1:7501", 1)))
	documented, _ = documentedRoutes(t, moved)
	if und, _ := routeDiff(documented["ledger"], s.ledgerSrv.Routes()); !slices.Equal(und, []string{"GET /v1/totals"}) {
		t.Errorf("/v1/totals documented at the bank: the ledger's undocumented routes are %v", und)
	}
	if _, miss := routeDiff(documented["bank"], s.bank.Routes()); !slices.Equal(miss, []string{"GET /v1/totals"}) {
		t.Errorf("/v1/totals documented at the bank: the bank's missing routes are %v", miss)
	}
}

// Every {parameter} of a documented path is declared, so a client can
// fill it in.
func TestOpenAPI_PathParametersDeclared(t *testing.T) {
	d := loadDoc(t)
	brace := regexp.MustCompile(`\{([^}]+)\}`)
	for _, op := range d.Operations() {
		params, _ := op.Op["parameters"].([]any)
		for _, m := range brace.FindAllStringSubmatch(op.Path, -1) {
			found := false
			for i := range params {
				p, _ := deref(d, op.Ptr+"/parameters/"+itoa(i))
				found = found || p["in"] == "path" && p["name"] == m[1] && p["required"] == true
			}
			if !found {
				t.Errorf("%s: path parameter %s is not declared as a required path parameter", op.Pattern(), m[1])
			}
		}
	}
}
