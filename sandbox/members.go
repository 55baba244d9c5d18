package sandbox

import (
	"github.com/digital-yen/cbdc-sandbox/ledger/replica"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
)

// Membership offers a replica's group to the ledger service, which lists
// and changes it at /v1/replicas.
func Membership(r *replica.Replica) ledgerhttp.Membership { return replicaMembers{r} }

type replicaMembers struct{ r *replica.Replica }

func (m replicaMembers) Members() ([]ledgerhttp.ReplicaMember, error) {
	ms, err := m.r.Members()
	out := make([]ledgerhttp.ReplicaMember, 0, len(ms))
	for _, x := range ms {
		out = append(out, ledgerhttp.ReplicaMember{ID: x.ID, Raft: x.Addr, Voter: x.Voter, Leader: x.Leader})
	}
	return out, err
}

func (m replicaMembers) AddReplica(id, addr string) error { return m.r.AddReplica(id, addr) }
func (m replicaMembers) RemoveReplica(id string) error    { return m.r.RemoveReplica(id) }
