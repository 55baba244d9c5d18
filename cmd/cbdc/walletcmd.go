package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// walletVerb is one `cbdc wallet` verb: its flags, and what it does
// with an open session (or, for new, without one).
type walletVerb struct {
	name, summary string
	flags         func(fs *flag.FlagSet, a *walletArgs)
	run           func(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error)
}

// walletArgs are the flags every verb shares and the ones some verbs use.
type walletArgs struct {
	keyFile, bank, id, to, from, ref, memo, name, person, at, every string
	purseFile, text                                                 string
	pass                                                            []byte
	purse                                                           *offline.Purse
	amount, kdfMemory                                               int64
	limit, times                                                    int
	waterfall, autoCharge, asJSON                                   bool
	tls                                                             tlsFlags
	stdout                                                          io.Writer
	set                                                             map[string]bool // the flags given on the command line
}

const walletPassphraseEnv = "CBDC_PASSPHRASE"

var walletVerbs = []walletVerb{
	{"new", "create a passphrase-protected key file", func(fs *flag.FlagSet, a *walletArgs) {
		fs.Int64Var(&a.kdfMemory, "kdf-memory", int64(wallet.DefaultKDFParams.MemoryKiB), "argon2id memory in KiB (lower only for throwaway demo keys)")
	}, nil},
	{"register", "onboard at a bank as a new customer with this key", func(fs *flag.FlagSet, a *walletArgs) {
		fs.StringVar(&a.name, "name", "", "your name, as the bank's KYC records it")
		fs.StringVar(&a.person, "person", "", "your identity number; it stays at the bank")
	}, nil},
	{"balance", "show the wallet, its deposit account and holdings across banks", nil,
		func(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error) { return c.Balance(ctx) }},
	{"history", "list the wallet's payments, newest first", func(fs *flag.FlagSet, a *walletArgs) {
		fs.IntVar(&a.limit, "limit", 20, "entries to show")
	}, func(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error) {
		return c.History(ctx, 0, a.limit)
	}},
	{"pay", "pay another wallet at any bank", payFlags, func(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error) {
		return c.Pay(ctx, a.id, a.to, a.amount)
	}},
	{"request", "ask a payer for money (request-to-pay)", func(fs *flag.FlagSet, a *walletArgs) {
		fs.StringVar(&a.from, "from", "", "the payer's wallet address")
		fs.Int64Var(&a.amount, "amount", 0, "yen")
		fs.StringVar(&a.memo, "memo", "", "what it is for")
		fs.StringVar(&a.id, "id", "", "request id; reuse one to retry")
	}, func(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error) {
		return c.RequestPayment(ctx, a.id, a.from, a.amount, a.memo, 10*time.Minute)
	}},
	{"requests", "list payment requests to and from this wallet", nil,
		func(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error) { return c.Requests(ctx) }},
	{"approve", "pay a request this wallet received", refFlags, approveRequest},
	{"decline", "refuse a request this wallet received", refFlags, func(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error) {
		return c.Decline(ctx, a.id, a.ref)
	}},
	{"withdraw", "move money from the deposit account into the wallet", amountFlags, func(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error) {
		return c.Withdraw(ctx, a.id, a.amount)
	}},
	{"deposit", "move money from the wallet into the deposit account", amountFlags, func(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error) {
		return c.Deposit(ctx, a.id, a.amount)
	}},
	{"schedule", "pay at a time, once or recurring", func(fs *flag.FlagSet, a *walletArgs) {
		payFlags(fs, a)
		fs.StringVar(&a.at, "at", "+0s", "when: RFC 3339 time, or +DURATION from now")
		fs.StringVar(&a.every, "every", "", "repeat every DURATION (such as 720h)")
		fs.IntVar(&a.times, "times", 0, "payments in all when repeating; 0 until cancelled")
	}, schedulePayment},
	{"settings", "turn the waterfall or auto-charge on or off; settings not named stay as they are", func(fs *flag.FlagSet, a *walletArgs) {
		fs.BoolVar(&a.waterfall, "waterfall", true, "sweep credits over the holding limit to the deposit account")
		fs.BoolVar(&a.autoCharge, "auto-charge", false, "top payments up from the deposit account")
	}, changeSettings},
	{"watch", "print notifications until interrupted", nil, watch},
}

func payFlags(fs *flag.FlagSet, a *walletArgs) {
	fs.StringVar(&a.to, "to", "", "the payee's wallet address")
	amountFlags(fs, a)
}

func amountFlags(fs *flag.FlagSet, a *walletArgs) {
	fs.Int64Var(&a.amount, "amount", 0, "yen")
	fs.StringVar(&a.id, "id", "", "request id; reuse one to retry without paying twice")
}

func refFlags(fs *flag.FlagSet, a *walletArgs) {
	fs.StringVar(&a.ref, "ref", "", "the request's ref")
	fs.StringVar(&a.id, "id", "", "request id; reuse one to retry")
}

// runWallet is `cbdc wallet VERB [flags]`.
func runWallet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runCommand(ctx, &WalletCommand{stderr: stderr, args: walletArgs{stdout: stdout}}, args)
}

// WalletCommand is `cbdc wallet VERB [flags]`. The verbs print to
// args.stdout.
type WalletCommand struct {
	stderr io.Writer
	verb   *purseCommand // nil when the verbs were listed
	args   walletArgs
}

// flagSet is the flags every verb shares and the verb's own.
func (c *WalletCommand) flagSet() *flag.FlagSet {
	a := &c.args
	fs := flag.NewFlagSet("wallet "+c.verb.name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&a.keyFile, "key", "wallet.key", "the wallet's key file")
	fs.StringVar(&a.bank, "bank", "ws://127.0.0.1:7501"+protocol.Path, "the bank's wallet address")
	fs.BoolVar(&a.asJSON, "json", false, "print the bank's answer as JSON")
	a.tls.registerClient(fs, "a wss:// bank")
	if c.verb.flags != nil {
		c.verb.flags(fs, a)
	}
	return fs
}

// ParseFlags finds the verb and checks its flags; with no verb, or help,
// it lists the verbs.
func (c *WalletCommand) ParseFlags(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" {
		walletUsage(c.stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	if c.verb = findWalletCommand(args[0]); c.verb == nil {
		fmt.Fprintf(c.stderr, "cbdc wallet: unknown command %q\n\n", args[0])
		walletUsage(c.stderr)
		return errUsage
	}
	fs := c.flagSet()
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	c.args.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { c.args.set[f.Name] = true })
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "cbdc wallet %s: unexpected arguments %q: every value goes with its flag, such as -amount 1000\n", c.verb.name, fs.Args())
		return errUsage
	}
	return c.args.check(c.verb.name)
}

// Run does the verb: a new key file, a purse verb that needs no bank, or
// a session at the bank.
func (c *WalletCommand) Run(ctx context.Context) error {
	a := &c.args
	switch {
	case c.verb == nil:
		return nil // the verbs were listed
	case c.verb.name == "new":
		return newKeyFile(a, c.stderr)
	}
	a.pass = passphrase(c.stderr)
	if c.verb.purse != noPurse {
		if err := openPurse(a, c.verb.purse); err != nil {
			return err
		}
	}
	if c.verb.local != nil {
		return runLocalPurse(a, c.verb)
	}
	return c.runAtBank(ctx)
}

// runAtBank signs in at the bank (or registers there) and does the verb.
func (c *WalletCommand) runAtBank(ctx context.Context) error {
	a := &c.args
	key, err := wallet.ReadKeyFile(a.keyFile, a.pass)
	if err != nil {
		return err
	}
	client, err := connectWallet(ctx, c.verb.name, a, key)
	if err != nil {
		return err
	}
	defer client.Close()
	if c.verb.run == nil { // register: the session is the result
		return printAnswer(a, client.Welcome())
	}
	if signedVerbs[c.verb.name] && a.id == "" {
		// Say the id before sending, so an answer lost on the way can be
		// retried with -id without paying twice.
		a.id = client.NewRequestID()
		fmt.Fprintf(c.stderr, "request id %s (retry with -id %s)\n", a.id, a.id)
	}
	out, err := c.verb.run(ctx, a, client)
	if c.verb.purse != noPurse {
		// Whatever the bank answered, the purse may have changed (a sync
		// receipt applied before a later message failed): keep it.
		if serr := savePurse(a); err == nil {
			err = serr
		}
	}
	if err != nil {
		return err
	}
	return printAnswer(a, out)
}

// findWalletCommand finds a verb among the wallet's and the purse's.
func findWalletCommand(name string) *purseCommand {
	for _, c := range walletVerbs {
		if c.name == name {
			return &purseCommand{walletVerb: c}
		}
	}
	for i := range purseCommands {
		if purseCommands[i].name == name {
			return &purseCommands[i]
		}
	}
	return nil
}

func runLocalPurse(a *walletArgs, cmd *purseCommand) error {
	out, err := cmd.local(a)
	if err != nil {
		return err
	}
	if cmd.name != "purse" {
		if err := savePurse(a); err != nil {
			return err
		}
	}
	return printAnswer(a, out)
}

// signedVerbs are the verbs that send an instruction with a request id.
var signedVerbs = map[string]bool{"pay": true, "request": true, "approve": true, "decline": true,
	"withdraw": true, "deposit": true, "schedule": true, "purse-provision": true, "purse-fund": true, "purse-retire": true}

func walletUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: cbdc wallet COMMAND [-key FILE] [-bank URL] [flags]\n\nCommands:")
	for _, c := range walletVerbs {
		fmt.Fprintf(w, "  %-15s %s\n", c.name, c.summary)
	}
	for _, c := range purseCommands {
		fmt.Fprintf(w, "  %-15s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nThe key file's passphrase comes from $%s, or is read from standard input.\n", walletPassphraseEnv)
}

// maxKDFMemoryKiB is the most argon2id memory a key file may ask for;
// the wallet package refuses to open one that asks for more.
const maxKDFMemoryKiB = 1 << 20

// check refuses flags that cannot make a valid instruction before the
// passphrase is asked for or the bank is contacted, naming every problem.
func (a *walletArgs) check(verb string) error {
	var problems []string
	need := func(ok bool, problem string) {
		if !ok {
			problems = append(problems, problem)
		}
	}
	switch verb {
	case "new":
		minMemory := 8 * int64(wallet.DefaultKDFParams.Threads)
		need(a.kdfMemory >= minMemory && a.kdfMemory <= maxKDFMemoryKiB,
			fmt.Sprintf("-kdf-memory must be %d to %d KiB, got %d", minMemory, maxKDFMemoryKiB, a.kdfMemory))
	case "register":
		need(a.name != "" && a.person != "", "-name and -person are required")
	case "pay", "schedule":
		need(a.to != "", "-to must name the payee's wallet address (w-…@bank)")
	case "request":
		need(a.from != "", "-from must name the payer's wallet address (w-…@bank)")
	case "approve", "decline":
		need(a.ref != "", "-ref must name the payment request")
	}
	switch verb {
	case "purse-pay":
		need(a.text != "", "-request must carry the payee's payment request (cbdc-req1:…)")
	case "purse-accept":
		need(a.text != "", "-voucher must carry the payer's voucher (cbdc-vch1:…)")
	case "purse-retire":
		need(a.text != "", "-serial must name the lost purse (32 hex digits)")
	}
	switch verb {
	case "pay", "schedule", "request", "withdraw", "deposit", "purse-fund", "purse-defund", "purse-request":
		need(a.amount > 0, fmt.Sprintf("-amount must be a positive number of yen, got %d", a.amount))
	}
	if verb != "new" {
		need(strings.HasPrefix(a.bank, "ws://") || strings.HasPrefix(a.bank, "wss://"),
			fmt.Sprintf("-bank must be the bank's ws:// or wss:// wallet address, got %q", a.bank))
	}
	if len(problems) > 0 {
		return fmt.Errorf("wallet %s: %s", verb, strings.Join(problems, "; "))
	}
	return nil
}

func connectWallet(ctx context.Context, verb string, a *walletArgs, key ed25519.PrivateKey) (*wallet.Client, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	d, err := a.tls.wsDialer()
	if err != nil {
		return nil, fmt.Errorf("wallet %s: %w", verb, err)
	}
	opts := wallet.DialOptions{Dialer: d}
	if verb == "register" {
		return wallet.Register(dctx, a.bank, key, a.name, a.person, opts)
	}
	return wallet.Dial(dctx, a.bank, key, opts)
}

func newKeyFile(a *walletArgs, stderr io.Writer) error {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	params := wallet.DefaultKDFParams
	params.MemoryKiB = uint32(a.kdfMemory)
	data, err := wallet.EncryptKey(key, passphrase(stderr), params)
	if err != nil {
		return err
	}
	if err := wallet.WriteKeyFile(a.keyFile, data); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "new wallet key in %s (key id %s); register it with: cbdc wallet register -key %s -name NAME -person ID\n",
		a.keyFile, protocol.WalletKeyID(key.Public().(ed25519.PublicKey)), a.keyFile)
	return nil
}

// passphrase comes from the environment or one line of standard input.
func passphrase(stderr io.Writer) []byte {
	if p := os.Getenv(walletPassphraseEnv); p != "" {
		return []byte(p)
	}
	fmt.Fprint(stderr, "passphrase: ")
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	return []byte(strings.TrimRight(line, "\r\n"))
}

func approveRequest(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error) {
	list, err := c.Requests(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range list.Incoming {
		if r.Ref == a.ref {
			return c.Approve(ctx, a.id, r)
		}
	}
	return nil, fmt.Errorf("wallet approve: no request %q addressed to this wallet", a.ref)
}

// changeSettings changes only the settings named on the command line and
// keeps the others as the bank has them.
func changeSettings(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error) {
	now := c.Welcome().Settings
	if a.set["waterfall"] {
		now.Waterfall = a.waterfall
	}
	if a.set["auto-charge"] {
		now.AutoCharge = a.autoCharge
	}
	return c.SetSettings(ctx, "", now.Waterfall, now.AutoCharge)
}

func schedulePayment(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error) {
	at, err := parseWhen(a.at, time.Now())
	if err != nil {
		return nil, err
	}
	var every time.Duration
	if a.every != "" {
		if every, err = time.ParseDuration(a.every); err != nil {
			return nil, fmt.Errorf("wallet schedule: -every: %w", err)
		}
	}
	return c.Schedule(ctx, a.id, a.to, a.amount, at, every, a.times)
}

func parseWhen(s string, now time.Time) (time.Time, error) {
	if d, ok := strings.CutPrefix(s, "+"); ok {
		dur, err := time.ParseDuration(d)
		if err != nil {
			return time.Time{}, fmt.Errorf("wallet schedule: -at %q: %w", s, err)
		}
		return now.Add(dur), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("wallet schedule: -at must be RFC 3339 or +DURATION: %w", err)
	}
	return t, nil
}

// watch prints what the bank pushes until the context ends.
func watch(ctx context.Context, a *walletArgs, c *wallet.Client) (any, error) {
	fmt.Fprintf(a.stdout, "watching %s; Ctrl-C to stop\n", c.Address())
	for {
		select {
		case <-ctx.Done():
			return nil, nil
		case <-c.Done():
			return nil, c.Err()
		case env := <-c.Events():
			fmt.Fprintf(a.stdout, "%s %s\n", env.Type, env.Body)
		}
	}
}

// printAnswer prints an answer as JSON, or as indented fields for people.
func printAnswer(a *walletArgs, v any) error {
	if v == nil {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if a.asJSON {
		_, err = fmt.Fprintln(a.stdout, string(b))
		return err
	}
	var fields map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // yen amounts print exactly
	if dec.Decode(&fields) != nil {
		_, err = fmt.Fprintln(a.stdout, string(b))
		return err
	}
	return printFields(a.stdout, "", fields)
}

func printFields(w io.Writer, indent string, fields map[string]any) error {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch v := fields[k].(type) {
		case map[string]any:
			fmt.Fprintf(w, "%s%s:\n", indent, k)
			printFields(w, indent+"  ", v)
		case []any:
			fmt.Fprintf(w, "%s%s: %d\n", indent, k, len(v))
			for _, item := range v {
				if m, ok := item.(map[string]any); ok {
					fmt.Fprintf(w, "%s  -\n", indent)
					printFields(w, indent+"    ", m)
				} else {
					fmt.Fprintf(w, "%s  - %v\n", indent, item)
				}
			}
		default:
			fmt.Fprintf(w, "%s%s: %v\n", indent, k, v)
		}
	}
	return nil
}
