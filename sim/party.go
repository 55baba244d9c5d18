package sim

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// Party is one wallet or merchant of a scenario: wallets first, then
// merchants, party n at bank n modulo the banks.
type Party struct {
	N        int
	Bank     int
	Merchant bool
	Key      ed25519.PrivateKey
	Address  string // its wallet's account at the ledger
	PersonID string // who it is at its bank
	Start    int64  // its starting balance
}

// DrawParties derives every party of the scenario from its seed, so the
// same scenario has the same wallet addresses; bankIDs are the banks'
// accounts at the ledger. A salt, when not empty, also goes into the keys
// and person ids, so parties of a second run on the same banks are new to
// them.
func DrawParties(sc *Scenario, bankIDs []string, salt []byte) []Party {
	start := StartingBalances(sc)
	out := make([]Party, len(start))
	for i := range out {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:], uint64(sc.Seed))
		binary.BigEndian.PutUint64(b[8:], uint64(i))
		seed := sha256.Sum256(append(append([]byte("cbdc-sim/party\x00"), b[:]...), salt...))
		key := ed25519.NewKeyFromSeed(seed[:])
		person := fmt.Sprintf("sim-%d", i)
		if len(salt) > 0 {
			person = fmt.Sprintf("sim-%x-%d", salt[:min(6, len(salt))], i)
		}
		out[i] = Party{N: i, Bank: i % sc.Banks, Merchant: i >= sc.Wallets, Key: key,
			Address:  protocol.WalletAddress(key.Public().(ed25519.PublicKey), bankIDs[i%sc.Banks]),
			PersonID: person, Start: start[i]}
	}
	return out
}

// Customer is how the party is onboarded at its bank, with deposit in its
// deposit account: a standard customer, or a merchant at the merchant
// tier, with its key as its wallet.
func (p Party) Customer(deposit int64) bankadmin.CustomerSpec {
	tier := "standard"
	if p.Merchant {
		tier = "merchant"
	}
	return bankadmin.CustomerSpec{Name: fmt.Sprintf("party %d", p.N), PersonID: p.PersonID, Tier: tier,
		Deposit: deposit, PublicKeys: []ed25519.PublicKey{p.Key.Public().(ed25519.PublicKey)}}
}

// Session opens the party's wallet session at its bank as a payer uses
// it: the waterfall and auto-charge on and, where the sandbox left its
// starting balance on deposit, that balance withdrawn into the wallet
// (asked again under the same request id while the bank's answer decides
// nothing: see askAgain).
// events is as in wallet.DialOptions.
func Session(ctx context.Context, sb Sandbox, p Party, events int) (*wallet.Client, error) {
	c, err := dial(ctx, sb, p, events)
	if err != nil {
		return nil, err
	}
	if _, err = c.SetSettings(ctx, "", true, true); err == nil && sb.StartOnDeposit() && p.Start > 0 {
		err = askAgain(ctx, func() error {
			_, err := c.Withdraw(ctx, "sim-start", p.Start)
			return err
		})
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// askAgainFor bounds how long askAgain keeps asking: longer than a
// replicated ledger's election and a bank's turn to the new leader.
const askAgainFor = 30 * time.Second

// askAgain makes a request, and makes it again under the same request id
// while the bank answers that nothing was decided for now (its ledger
// electing a leader or out of reach, or the connection busy), as the
// protocol asks: after the wait the answer names, or one growing from
// 100 ms to a second, until ctx ends or askAgainFor has passed. Any other
// answer is returned at once.
func askAgain(ctx context.Context, request func() error) error {
	deadline := time.Now().Add(askAgainFor)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := request()
		asked, again := protocol.AskAgain(err)
		if !again || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(max(wait, asked)):
		}
	}
}

// dial opens a session for the party's wallet at its bank.
func dial(ctx context.Context, sb Sandbox, p Party, events int) (*wallet.Client, error) {
	b := sb.Banks()[p.Bank]
	return wallet.Dial(ctx, b.WalletURL, p.Key, wallet.DialOptions{Bank: b.ID, Events: events, Dialer: sb.Dialer()})
}
