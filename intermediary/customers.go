package intermediary

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// HolderToken is the pseudonymous token the central ledger sees for a
// person: an HMAC of the person's identity under the key the banks share.
// Every bank derives the same token for the same person; without the key
// it cannot be linked back to anyone.
func HolderToken(key []byte, personID string) ledger.HolderID {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("cbdc-holder/v1\n" + strings.ToUpper(strings.TrimSpace(personID))))
	return ledger.HolderID("h-" + hex.EncodeToString(m.Sum(nil)[:16]))
}

// Onboard opens a customer with its deposit account and wallets. Each
// wallet is opened at the central ledger under its address, tagged with
// the holder token and the tier's holding limit, waterfall on.
func (b *Bank) Onboard(ctx context.Context, spec bankadmin.CustomerSpec) (bankadmin.CustomerInfo, error) {
	ids, err := b.OnboardMany(ctx, []bankadmin.CustomerSpec{spec})
	if err != nil {
		return bankadmin.CustomerInfo{}, err
	}
	return b.Customer(ids[0])
}

// OnboardMany onboards customers in bulk, as a migration or a simulation
// sets up its population: their wallets are opened at the ledger
// concurrently, so they share group commits, and the bank stores them all
// in one transaction. It returns the new customer ids in order. Nothing is
// stored unless every spec is valid and every wallet opened; opening a
// wallet again on a retry is harmless.
func (b *Bank) OnboardMany(ctx context.Context, specs []bankadmin.CustomerSpec) ([]string, error) {
	tiers := make([]string, len(specs))
	holders := make([]string, len(specs))
	seen := map[string]bool{}
	for i := range specs {
		var err error
		if tiers[i], err = b.checkSpec(&specs[i]); err != nil {
			return nil, fmt.Errorf("customer %d: %w", i, err)
		}
		holders[i] = string(HolderToken(b.cfg.HolderKey, specs[i].PersonID))
		if specs[i].Unverified {
			holders[i] = randomHolder()
		}
		if seen[holders[i]] {
			return nil, fail(protocol.CodeBadCustomer, "customer %d: the same person appears twice", i)
		}
		seen[holders[i]] = true
	}
	b.onboardMu.Lock()
	defer b.onboardMu.Unlock()
	b.mu.RLock()
	for i, h := range holders {
		if existing, dup := b.persons[h]; dup {
			b.mu.RUnlock()
			return nil, fail(protocol.CodeBadCustomer, "customer %d: this person is already customer %s; add a wallet to that customer instead", i, existing)
		}
	}
	b.mu.RUnlock()
	recs, err := b.openWallets(ctx, specs, holders, tiers)
	if err != nil {
		return nil, err
	}
	customers, err := b.storeCustomers(specs, holders, tiers, recs)
	if err != nil {
		return nil, fmt.Errorf("intermediary: onboard: %w", err)
	}
	ids := make([]string, len(customers))
	b.mu.Lock()
	for i, c := range customers {
		ids[i] = c.ID
		b.customers[c.ID] = &customer{id: c.ID, personID: c.PersonID, holder: c.Holder, tier: c.Tier, wallets: c.Wallets}
		b.persons[c.Holder] = c.ID
		for _, w := range recs[i] {
			b.wallets[w.KeyID] = b.newWallet(w)
		}
	}
	b.mu.Unlock()
	b.log.Info("customers onboarded", "customers", len(ids))
	return ids, nil
}

// openWallets opens every spec's wallets at the central ledger, many at once.
func (b *Bank) openWallets(ctx context.Context, specs []bankadmin.CustomerSpec, holders, tiers []string) ([][]*walletRec, error) {
	recs := make([][]*walletRec, len(specs))
	keys := map[string]bool{}
	for i, spec := range specs {
		recs[i] = make([]*walletRec, len(spec.PublicKeys))
		for _, pub := range spec.PublicKeys {
			k := string(pub)
			if keys[k] {
				return nil, fail(protocol.CodeWalletExists, "customer %d: a key appears twice", i)
			}
			keys[k] = true
		}
	}
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i, spec := range specs {
		for j, pub := range spec.PublicKeys {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				w, err := b.openWallet(ctx, pub, "", holders[i], tiers[i])
				mu.Lock()
				defer mu.Unlock()
				if err != nil && first == nil {
					first = fmt.Errorf("customer %d: %w", i, err)
				}
				recs[i][j] = w
			})
		}
	}
	wg.Wait()
	return recs, first
}

// storeCustomers stores customers and their wallets in one transaction.
func (b *Bank) storeCustomers(specs []bankadmin.CustomerSpec, holders, tiers []string, recs [][]*walletRec) ([]*customerRec, error) {
	out := make([]*customerRec, len(specs))
	err := b.st.addCustomers(len(specs), func(i int, n uint64) (*customerRec, []*walletRec) {
		spec := specs[i]
		c := &customerRec{ID: "c-" + strconv.FormatUint(n, 10), Name: spec.Name, PersonID: spec.PersonID, Holder: holders[i], Unverified: spec.Unverified,
			Tier: tiers[i], Deposit: spec.Deposit, Created: b.now().UTC()}
		for _, w := range recs[i] {
			w.Customer = c.ID
			c.Wallets = append(c.Wallets, w.KeyID)
		}
		out[i] = c
		return c, recs[i]
	})
	return out, err
}

func (b *Bank) checkSpec(spec *bankadmin.CustomerSpec) (string, error) {
	switch {
	case spec.Name == "" || !protocol.ValidText(spec.Name, 100):
		return "", fail(protocol.CodeBadCustomer, "a name is 1 to 100 characters without control characters")
	case strings.TrimSpace(spec.PersonID) == "" || !protocol.ValidText(spec.PersonID, 64):
		return "", fail(protocol.CodeBadCustomer, "a person id is 1 to 64 characters without control characters")
	case spec.Deposit < 0:
		return "", fail(protocol.CodeInvalidAmount, "an opening deposit cannot be negative")
	case len(spec.PublicKeys) == 0 || len(spec.PublicKeys) > 10:
		return "", fail(protocol.CodeBadCustomer, "a customer opens with 1 to 10 wallets")
	}
	name := spec.Tier
	if name == "" {
		name = b.cfg.Tiers[0].Name
	}
	if _, ok := b.cfg.tier(name); !ok {
		return "", fail(protocol.CodeBadCustomer, "no tier %q (tiers: %s)", name, b.tierNames())
	}
	return name, nil
}

func (b *Bank) tierNames() string {
	names := make([]string, len(b.cfg.Tiers))
	for i, t := range b.cfg.Tiers {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

// openWallet opens a wallet's account at the central ledger. The op id
// comes from the key, so a retry after a crash finds the first opening.
func (b *Bank) openWallet(ctx context.Context, pub ed25519.PublicKey, customerID, holder, tierName string) (*walletRec, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fail(protocol.CodeBadPublicKey, "a public key is %d bytes of ed25519, got %d", ed25519.PublicKeySize, len(pub))
	}
	if _, err := newSigKey(pub); err != nil {
		return nil, fail(protocol.CodeBadPublicKey, "not a usable ed25519 public key: %v", err)
	}
	keyID := protocol.WalletKeyID(pub)
	if b.wallet(keyID) != nil {
		return nil, fail(protocol.CodeWalletExists, "this key is already registered at %s", b.id)
	}
	tier, _ := b.cfg.tier(tierName)
	w := &walletRec{KeyID: keyID, Address: protocol.WalletAddress(pub, string(b.id)), Customer: customerID,
		PublicKey: pub, Waterfall: true}
	spec := ledger.AccountSpec{ID: ledger.AccountID(w.Address), Kind: ledger.KindWallet, Holder: ledger.HolderID(holder),
		Limits: ledger.Limits{Holding: tier.HoldingLimit, Sweep: true}}
	if _, err := b.led.OpenAccount(ctx, "open:"+keyID, spec); err != nil {
		return nil, fromLedger(err)
	}
	return w, nil
}

// registeredTo reports whether pub is already a wallet of a customer who
// registered with this person id, so a register whose welcome was lost can
// be sent again.
func (b *Bank) registeredTo(pub []byte, personID string) bool {
	w := b.wallet(protocol.WalletKeyID(pub))
	if w == nil {
		return false
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.customers[w.customer].personID == personID
}

// randomHolder is a holder token no other customer shares.
func randomHolder() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "h-" + hex.EncodeToString(b)
}

// AddWallet registers another wallet key for an existing customer.
func (b *Bank) AddWallet(ctx context.Context, customerID string, pub ed25519.PublicKey) (bankadmin.WalletInfo, error) {
	b.onboardMu.Lock()
	defer b.onboardMu.Unlock()
	b.mu.RLock()
	c := b.customers[customerID]
	b.mu.RUnlock()
	if c == nil {
		return bankadmin.WalletInfo{}, fail(protocol.CodeBadCustomer, "no customer %q", customerID)
	}
	w, err := b.openWallet(ctx, pub, customerID, c.holder, c.tier)
	if err != nil {
		return bankadmin.WalletInfo{}, err
	}
	if err := b.st.addWallet(customerID, w); err != nil {
		return bankadmin.WalletInfo{}, fmt.Errorf("intermediary: add wallet: %w", err)
	}
	b.mu.Lock()
	c.wallets = append(c.wallets, w.KeyID)
	b.wallets[w.KeyID] = b.newWallet(w)
	b.mu.Unlock()
	return bankadmin.WalletInfo{Address: w.Address, PublicKey: w.PublicKey, Waterfall: true}, nil
}

// SetTier moves a customer to another KYC tier and sets the new holding
// limit on each of its wallets at the central ledger.
func (b *Bank) SetTier(ctx context.Context, customerID, tierName string) (bankadmin.CustomerInfo, error) {
	tier, ok := b.cfg.tier(tierName)
	if !ok {
		return bankadmin.CustomerInfo{}, fail(protocol.CodeBadCustomer, "no tier %q (tiers: %s)", tierName, b.tierNames())
	}
	b.onboardMu.Lock()
	defer b.onboardMu.Unlock()
	b.mu.RLock()
	c := b.customers[customerID]
	b.mu.RUnlock()
	if c == nil {
		return bankadmin.CustomerInfo{}, fail(protocol.CodeBadCustomer, "no customer %q", customerID)
	}
	for _, keyID := range c.wallets {
		w := b.wallet(keyID)
		w.mu.Lock() // the wallet's settings instruction sets the same limits
		waterfall, _ := w.settings()
		err := b.setLimits(ctx, w, tier, waterfall)
		if err == nil {
			b.mu.Lock()
			c.tier = tierName // so a settings change after this keeps the new tier
			b.mu.Unlock()
		}
		w.mu.Unlock()
		if err != nil {
			return bankadmin.CustomerInfo{}, err
		}
	}
	if err := b.st.setTier(customerID, tierName); err != nil {
		return bankadmin.CustomerInfo{}, fmt.Errorf("intermediary: set tier: %w", err)
	}
	b.mu.Lock()
	c.tier = tierName
	b.mu.Unlock()
	return b.Customer(customerID)
}

// setLimits tells the central ledger a wallet's holding limit and waterfall
// choice. Setting the same limits twice is harmless, so the op id need only
// be fresh.
func (b *Bank) setLimits(ctx context.Context, w *Wallet, tier Tier, waterfall bool) error {
	opID := "lim:" + w.keyID + ":" + strconv.FormatInt(b.now().UnixNano(), 36)
	_, err := b.led.SetLimits(ctx, opID, ledger.AccountID(w.addr), ledger.Limits{Holding: tier.HoldingLimit, Sweep: waterfall})
	if err != nil {
		return fromLedger(err)
	}
	return nil
}

// Customer returns a customer with its deposit balance and wallets.
func (b *Bank) Customer(id string) (bankadmin.CustomerInfo, error) {
	c, wallets, err := b.st.customerWallets(id)
	if err != nil {
		return bankadmin.CustomerInfo{}, err
	}
	if c == nil {
		return bankadmin.CustomerInfo{}, fail(protocol.CodeBadCustomer, "no customer %q", id)
	}
	tier, _ := b.cfg.tier(c.Tier)
	info := bankadmin.CustomerInfo{ID: c.ID, Name: c.Name, Tier: tier, Deposit: c.Deposit}
	for _, w := range wallets {
		info.Wallets = append(info.Wallets, bankadmin.WalletInfo{Address: w.Address, PublicKey: w.PublicKey, Waterfall: w.Waterfall, AutoCharge: w.AutoCharge})
	}
	return info, nil
}

// Customers lists customer ids in order.
func (b *Bank) Customers() []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	ids := make([]string, 0, len(b.customers))
	for id := range b.customers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, _ := strconv.Atoi(strings.TrimPrefix(ids[i], "c-"))
		c, _ := strconv.Atoi(strings.TrimPrefix(ids[j], "c-"))
		return a < c
	})
	return ids
}

// CreditDeposit pays amount yen into a customer's deposit account, as money
// that reaches the bank from outside (a salary, cash paid in at a branch).
// A deposit is bank money, the bank's liability to its customer, not
// CBDC: the central ledger is not asked, and the bank's reserves rise with
// its deposits, so its books (Status) do not move.
//
// requestID is the operator's: a retry with the same id returns the first
// credit and never pays twice; the same id for another customer or amount
// is refused with request_id_reused.
func (b *Bank) CreditDeposit(requestID, customerID string, amount int64) (bankadmin.DepositCredit, error) {
	switch {
	case !protocol.ValidRequestID(requestID):
		return bankadmin.DepositCredit{}, fail(protocol.CodeBadRequestID, "a request id is 1 to 32 letters, digits or ._- (got %q)", requestID)
	case amount <= 0:
		return bankadmin.DepositCredit{}, fail(protocol.CodeInvalidAmount, "an amount must be a positive whole number of yen, got %d", amount)
	}
	c := bankadmin.DepositCredit{RequestID: requestID, Customer: customerID, Amount: amount}
	c, err := b.st.creditDeposit(c, b.now, func(first bankadmin.DepositCredit) error {
		if first.Customer != customerID || first.Amount != amount {
			return fail(protocol.CodeRequestIDReused, "request id %q already credited %d yen to %s", requestID, first.Amount, first.Customer)
		}
		return nil
	})
	if err != nil {
		return bankadmin.DepositCredit{}, err
	}
	return c, nil
}
