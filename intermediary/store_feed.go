package intermediary

import (
	"github.com/digital-yen/cbdc-sandbox/protocol"
	bolt "go.etcd.io/bbolt"
)

// feedPage is what one page of the ledger's feed changes in the bank's
// file.
type feedPage struct {
	losses  int64           // paid from the float for the bank's devices' overspends
	credits []depositChange // to customers' deposit accounts, in order
	paid    []paidRef       // payments that may pay outgoing requests
	next    uint64          // the cursor past the page
}

type depositChange struct {
	customer string
	amount   int64
}

// applyFeedPage books a page of the feed and stores the cursor past it in
// one transaction, so a restart never credits twice nor skips a credit.
// It returns the requests the page paid.
func (s *store) applyFeedPage(p *feedPage) ([]protocol.PaymentRequest, error) {
	var updates []protocol.PaymentRequest
	err := s.update(func(tx *bolt.Tx) error {
		if p.losses > 0 {
			if err := addInt(tx.Bucket(bucketMeta), metaOfflineLosses, p.losses); err != nil {
				return err
			}
		}
		for _, c := range p.credits {
			if _, err := addDeposit(tx, c.customer, c.amount); err != nil {
				return err
			}
		}
		var err error
		if updates, err = markPaid(tx, p.paid); err != nil {
			return err
		}
		return putInt(tx.Bucket(bucketMeta), metaCursor, int64(p.next))
	})
	return updates, err
}
