package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
	"github.com/digital-yen/cbdc-sandbox/sandbox"
)

// OperatorTokenFile holds the token that changes a replicated ledger's
// group, in the credentials directory the replicas share.
const OperatorTokenFile = "operator.token"

// runReplicas is `cbdc replicas`.
func runReplicas(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runCommand(ctx, &ReplicasCommand{stdout: stdout, stderr: stderr}, args)
}

// ReplicasCommand lists a replicated ledger's group, adds a replica to it
// or removes one, through any of its replicas.
type ReplicasCommand struct {
	stdout, stderr io.Writer
	ledger         string
	tokenFile      string

	verb, id, raft string
}

func (c *ReplicasCommand) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("replicas", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.ledger, "ledger", "", "the replicas' addresses, comma-separated, as the banks are given them")
	fs.StringVar(&c.tokenFile, "token", "", "the operator's token file: "+OperatorTokenFile+" in the replicas' credentials directory (needed to add or remove)")
	fs.Usage = func() {
		fmt.Fprintln(c.stderr, `Usage: cbdc replicas -ledger URL,URL,... [-token FILE] list
       cbdc replicas -ledger URL,URL,... -token FILE add ID=HOST:PORT
       cbdc replicas -ledger URL,URL,... -token FILE remove ID

Lists a replicated ledger's group, or changes it at its leader. Start a new
replica first with cbdc ledger -replica ID -raft HOST:PORT -join; it
catches up once added. Removing a replica leaves a group of fewer: with
two, one failure stops the ledger.`)
		fs.PrintDefaults()
	}
	return fs
}

// ParseFlags reads the flags and the verb with its argument.
func (c *ReplicasCommand) ParseFlags(args []string) error {
	fs := c.flagSet()
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	args = fs.Args()
	bad := func(format string, a ...any) error {
		fmt.Fprintf(c.stderr, "cbdc replicas: "+format+"\n", a...)
		fs.Usage()
		return errUsage
	}
	if c.ledger == "" {
		return bad("-ledger is required")
	}
	if len(args) == 0 {
		return bad("say list, add or remove")
	}
	c.verb = args[0]
	switch {
	case c.verb == "list" && len(args) == 1:
	case c.verb == "add" && len(args) == 2:
		id, addr, ok := strings.Cut(args[1], "=")
		if !ok || id == "" || addr == "" {
			return bad("add takes ID=HOST:PORT, the new replica's id and Raft address; got %q", args[1])
		}
		c.id, c.raft = id, addr
	case c.verb == "remove" && len(args) == 2:
		c.id = args[1]
	default:
		return bad("%q: say list, add ID=HOST:PORT or remove ID", strings.Join(args, " "))
	}
	if c.verb != "list" && c.tokenFile == "" {
		return bad("%s needs -token, the operator's token file", c.verb)
	}
	return nil
}

// Run asks the replicas and prints the group.
func (c *ReplicasCommand) Run(ctx context.Context) error {
	op := &ledgerhttp.Operator{URLs: strings.Split(c.ledger, ",")}
	if c.tokenFile != "" {
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return fmt.Errorf("replicas: read the operator's token: %w", err)
		}
		op.Token = strings.TrimSpace(string(b))
	}
	var (
		members []ledgerhttp.ReplicaMember
		err     error
	)
	switch c.verb {
	case "list":
		members, err = op.Members(ctx)
	case "add":
		members, err = op.Add(ctx, c.id, c.raft)
	case "remove":
		members, err = op.Remove(ctx, c.id)
	}
	if err != nil {
		return fmt.Errorf("replicas: %w", err)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REPLICA\tRAFT\tROLE")
	for _, m := range members {
		role := "follower"
		switch {
		case m.Leader:
			role = "leader"
		case !m.Voter:
			role = "non-voter"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", m.ID, m.Raft, role)
	}
	return tw.Flush()
}

// operatorToken reads or makes the operator's token in the credentials
// directory.
func operatorToken(credentials string) (string, error) {
	tok, err := sandbox.LoadOrCreateSecret(filepath.Join(credentials, OperatorTokenFile), sandbox.RandomHex(32))
	if err != nil {
		return "", fmt.Errorf("ledger: operator token: %w", err)
	}
	return tok, nil
}
