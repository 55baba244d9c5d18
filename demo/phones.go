package demo

import (
	"net/http"
	"slices"
	"time"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
)

// The room's phones: wallets that signed in from the banks' wallet app
// in a browser. The presenter's page shows each joining, paying, going
// offline and reconciling, as its bank sees it.

// PhonesView is the panel of phones.
type PhonesView struct {
	Phones []PhoneView `json:"phones"`
}

// PhoneView is one phone: its wallet as its bank follows it, and its
// status: offline, or what it did last: joined, purse (set up its
// offline purse), paid, funded (its purse), synced (its purse's vouchers
// handed in to be reconciled) or refused (its last instruction was).
type PhoneView struct {
	Bank string `json:"bank"`
	bankadmin.AppWallet
	Status string `json:"status"`
}

// status words a phone's status from its last instruction.
func status(w bankadmin.AppWallet) string {
	switch {
	case !w.Online:
		return "offline"
	case w.LastCode != "":
		return "refused"
	}
	switch w.Last {
	case "pay", "approve":
		return "paid"
	case "purse_provision":
		return "purse"
	case "purse_fund":
		return "funded"
	case "purse_sync":
		return "synced"
	}
	return "joined"
}

// phonesView gathers the phones of every bank that follows them; nil
// when none does.
func (s *Server) phonesView() *PhonesView {
	var v *PhonesView
	for _, b := range s.cfg.Banks {
		if b.Phones == nil {
			continue
		}
		if v == nil {
			v = &PhonesView{Phones: []PhoneView{}}
		}
		for _, w := range b.Phones() {
			v.Phones = append(v.Phones, PhoneView{Bank: string(b.Bank.ID()), AppWallet: w, Status: status(w)})
		}
	}
	if v != nil {
		slices.SortStableFunc(v.Phones, func(a, b PhoneView) int { return a.Joined.Compare(b.Joined) })
	}
	return v
}

// watchPhones tells the open pages whenever a phone joins, acts, or
// comes and goes.
func (s *Server) watchPhones() {
	tick := time.NewTicker(phonesEvery)
	defer tick.Stop()
	var last *PhonesView
	for {
		if v := s.phonesView(); v != nil && (last == nil || !slices.Equal(v.Phones, last.Phones)) {
			last = v
			s.live.send(message{Type: "phones", Phones: v})
		}
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// phonesEvery is how often the banks' lists are read: a phone's tap
// shows on the big screen well within a second.
const phonesEvery = 300 * time.Millisecond

func (s *Server) handlePhones(w http.ResponseWriter, r *http.Request) {
	v := s.phonesView()
	if v == nil {
		v = &PhonesView{Phones: []PhoneView{}}
	}
	writeJSON(w, http.StatusOK, v)
}
