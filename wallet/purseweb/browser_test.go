package purseweb_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/digital-yen/cbdc-sandbox/internal/browsertest"
	"github.com/digital-yen/cbdc-sandbox/internal/pursetest"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/wallet/purseweb"
)

// purseHost is a page that loads the purse compiled to WebAssembly, as the
// wallet app does, and lets the test call it.
const purseHost = `<!doctype html><meta charset="utf-8"><title>purse</title>
<script src="wasm_exec.js"></script>
<script>
window.ready = (async () => {
  const go = new Go();
  const r = await WebAssembly.instantiateStreaming(fetch("purse.wasm"), go.importObject);
  go.run(r.instance);
  return true;
})();
window.purses = {};
// call keeps each purse's state in the page, as the app keeps it in IndexedDB.
window.call = (name, method, args) => {
  args = Object.assign({}, args || {});
  if (window.purses[name]) args.state = window.purses[name];
  const out = JSON.parse(cbdcPurse(method, JSON.stringify(args)));
  if (out.state) window.purses[name] = out.state;
  return out;
};
</script>`

// servePurse builds cmd/purse-wasm for the browser and serves it with Go's
// wasm_exec.js and the host page.
func servePurse(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "purse.wasm"), "./cmd/purse-wasm")
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the purse for the browser: %v\n%s", err, out)
	}
	glue, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		t.Fatalf("Go's wasm_exec.js: %v", err)
	}
	for name, body := range map[string][]byte{"wasm_exec.js": glue, "index.html": []byte(purseHost)} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// evalJS runs expression in the page, waiting for a promise, into out.
func evalJS[T any](t *testing.T, ctx context.Context, expression string, out *T) {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%.200s: %v", expression, err)
	}
	*out = v
}

// jsArgs is v as a JavaScript object literal.
func jsArgs(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The purse runs in Chromium from the Go code of package offline: it
// passes the offline test vectors there, and two purses in the page are
// provisioned and funded from a bank's answers and pay each other by the
// texts their QR codes carry, a payee's check refusing with its code.
func TestBrowser_PurseRunsTheGoRules(t *testing.T) {
	url := servePurse(t)
	ctx := browsertest.Start(t, 400, 800, 3*time.Minute)
	var ready bool
	if _, err := chromedp.Run(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	evalJS(t, ctx, `window.ready`, &ready)

	file, err := os.ReadFile(filepath.Join("..", "..", "offline", "testdata", "vectors", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var checked purseweb.Result
	evalJS(t, ctx, fmt.Sprintf(`call("", "check_vectors", {vectors: %s})`, file), &checked)
	if checked.VectorsChecked < 12 || len(checked.VectorsProblems) > 0 {
		t.Fatalf("the vectors in the browser: %d checked, problems %v", checked.VectorsChecked, checked.VectorsProblems)
	}

	b := newBank(t)
	lim := offline.DefaultPolicy().Limits
	views := map[string]purseweb.View{}
	call := func(name, method string, args map[string]any) (purseweb.Result, string) {
		t.Helper()
		var out struct {
			purseweb.Result
			Error *purseweb.Error `json:"error"`
		}
		if args == nil {
			args = map[string]any{}
		}
		args["now"] = pursetest.Now // the fixtures' clock, not the browser's
		evalJS(t, ctx, fmt.Sprintf(`call(%q, %q, %s)`, name, method, jsArgs(t, args)), &out)
		if out.Error != nil {
			return purseweb.Result{}, out.Error.Code
		}
		if out.Purse != nil {
			views[name] = *out.Purse
		}
		return out.Result, ""
	}
	must := func(name, method string, args map[string]any) purseweb.Result {
		t.Helper()
		res, code := call(name, method, args)
		if code != "" {
			t.Fatalf("%s %s in the browser: refused %s", name, method, code)
		}
		return res
	}
	for _, name := range []string{"alice", "bob"} {
		must(name, "new", nil)
		must(name, "install_certificates", map[string]any{"answer": b.provision(views[name].PublicKey, lim)})
	}
	must("alice", "apply_funding", map[string]any{"answer": b.fund(views["alice"].Serial, 10_000)})
	req := must("bob", "request", map[string]any{"amount": 1_500})
	v := must("alice", "pay", map[string]any{"text": req.Text})
	got := must("bob", "accept", map[string]any{"text": v.Text})
	if got.Amount != 1_500 || got.Payer != views["alice"].Serial || views["alice"].Balance != 8_500 {
		t.Errorf("in the browser: bob accepted %d from %s; alice has %d", got.Amount, got.Payer, views["alice"].Balance)
	}
	if _, code := call("bob", "accept", map[string]any{"text": v.Text}); code != offline.ErrUnknownRequest.Code {
		t.Errorf("the same voucher again in the browser: %q, want %s", code, offline.ErrUnknownRequest.Code)
	}
	// Go decodes what the page's purse made: the voucher verifies from
	// the root and names bob's request.
	voucher, err := offline.ParseVoucherText(v.Text)
	if err != nil {
		t.Fatal(err)
	}
	if err := voucher.VerifySignature(pursetest.Root.Public().(ed25519.PublicKey)); err != nil {
		t.Errorf("the page's voucher does not verify from the root: %v", err)
	}
	if err := voucher.VerifySignature(b.cert.Key); err == nil {
		t.Error("the voucher verified from the bank's key as the root")
	}
	if voucher.Amount != 1_500 || voucher.Payee.String() != views["bob"].Serial {
		t.Errorf("the page's voucher: %d to %s", voucher.Amount, voucher.Payee)
	}
}
