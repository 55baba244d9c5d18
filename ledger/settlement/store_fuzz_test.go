package settlement

import (
	"bytes"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// FuzzStoredRecords decodes arbitrary bytes as each of settlement's stored
// records: voucher entries, devices, conflicts and ledger operations in
// flight. A damaged record must be refused with an error, never crash
// reopening; one that is accepted encodes back to the same bytes, so
// nothing is read that was not written.
func FuzzStoredRecords(f *testing.F) {
	c := Conflict{Kind: offline.DoubleSpend, Device: offline.Serial{1, 2, 3}, Bank: "bank-a", Evidence: []offline.Hash{{9}, {8}},
		Detail: "two vouchers with counter 2", Time: time.Unix(1_800_000_000, 5).UTC(), Revokes: true}
	f.Add(byte(2), c.marshal())
	e := entry{class: classRejected, reason: offline.ReasonForged, raw: []byte("not a voucher"), hash: offline.Hash{7}}
	f.Add(byte(0), e.marshal())
	o := op{id: "v:00", transfers: []ledger.Transfer{{From: "escrow-x", To: "w-y", Amount: 5}},
		effects: []effect{{hash: offline.Hash{1}, fromEscrow: 5, closed: true}}, reserve: map[ledger.AccountID]int64{"escrow-x": 5},
		credits: []offline.Serial{{4}}}
	f.Add(byte(3), o.marshal())
	d := device{bank: "bank-a", wallet: "w-1", escrow: "escrow-1", revoked: offline.Retired, receipt: 4, release: 1, released: 9}
	f.Add(byte(1), d.marshal())
	f.Add(byte(0), []byte{entryFormat})
	f.Fuzz(func(t *testing.T, kind byte, b []byte) {
		switch kind % 4 {
		case 0:
			e, err := unmarshalEntry([]byte("k"), b)
			if err == nil && !bytes.Equal(e.marshal(), b) {
				t.Fatalf("voucher entry accepted but encodes differently:\n in %x\nout %x", b, e.marshal())
			}
		case 1:
			d, err := unmarshalDevice(offline.Serial{1}, b)
			if err == nil && !bytes.Equal(d.marshal(), b) {
				t.Fatalf("device accepted but encodes differently:\n in %x\nout %x", b, d.marshal())
			}
		case 2:
			c, err := unmarshalConflict(1, b)
			if err == nil && !bytes.Equal(c.marshal(), b) {
				t.Fatalf("conflict accepted but encodes differently:\n in %x\nout %x", b, c.marshal())
			}
		case 3:
			o, err := unmarshalOp("v:00", b)
			if err == nil && !bytes.Equal(o.marshal(), b) {
				t.Fatalf("operation accepted but encodes differently:\n in %x\nout %x", b, o.marshal())
			}
		}
	})
}
