package replica

import (
	"errors"
	"fmt"
	"net"

	"github.com/hashicorp/raft"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// Member is one replica in the group's configuration.
type Member struct {
	ID     string
	Addr   string // its Raft address
	Voter  bool   // it counts towards the majority
	Leader bool
}

// membershipTimeout bounds a change of the group: it commits like any
// entry, and a new replica is then sent the log in the background.
const membershipTimeout = 10 * DefaultHeartbeatTimeout

// Members is the group's configuration as this replica knows it.
func (r *Replica) Members() ([]Member, error) {
	f := r.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("replica: read the group's configuration: %w", err)
	}
	_, leader := r.raft.LeaderWithID()
	var out []Member
	for _, s := range f.Configuration().Servers {
		out = append(out, Member{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter, Leader: s.ID == leader})
	}
	return out, nil
}

// AddReplica adds a replica to the group as a voter, at the leader; the
// replica must run already (started with Config.Join), and catches up
// from the log or a snapshot. Adding one that is in the group at the same
// address changes nothing.
func (r *Replica) AddReplica(id, addr string) error {
	if err := r.leading(); err != nil {
		return err
	}
	if id == "" {
		return errors.New("replica: a new replica needs an id")
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("replica: the Raft address %q is not host:port", addr)
	}
	members, err := r.Members()
	if err != nil {
		return err
	}
	for _, m := range members {
		switch {
		case m.ID == id && m.Addr == addr:
			return nil
		case m.ID == id:
			return fmt.Errorf("replica: %s is in the group already, at %s; remove it first to move it", id, m.Addr)
		case m.Addr == addr:
			return fmt.Errorf("replica: %s already listens at %s", m.ID, addr)
		}
	}
	return r.membership(r.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, membershipTimeout))
}

// RemoveReplica takes a replica out of the group, at the leader. The
// leader may remove itself: it steps down once the change commits, and
// the others elect a leader among themselves. The last replica is not
// removed.
func (r *Replica) RemoveReplica(id string) error {
	if err := r.leading(); err != nil {
		return err
	}
	members, err := r.Members()
	if err != nil {
		return err
	}
	found := false
	for _, m := range members {
		found = found || m.ID == id
	}
	switch {
	case !found:
		return fmt.Errorf("replica: no replica %q in the group", id)
	case len(members) == 1:
		return fmt.Errorf("replica: %s is the group's last replica", id)
	}
	return r.membership(r.raft.RemoveServer(raft.ServerID(id), 0, membershipTimeout))
}

// leading refuses a change of the group anywhere but at the leader,
// whose view of the group is the one that counts: another replica's may
// be out of date and would answer for a group that is no longer.
func (r *Replica) leading() error {
	if r.raft.State() != raft.Leader {
		leader, _ := r.Leader()
		return fmt.Errorf("%w (the leader is %q)", ledger.ErrNotLeader, leader)
	}
	return nil
}

// membership waits for a change of the group; at a follower, or when its
// outcome is in doubt (leadership lost or being handed on, Raft stopped
// or too busy to take it), it fails as not the leader: ask the leader.
func (r *Replica) membership(f raft.IndexFuture) error {
	err := f.Error()
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrRaftShutdown) ||
		errors.Is(err, raft.ErrEnqueueTimeout) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
		leader, _ := r.Leader()
		return fmt.Errorf("%w (the leader is %q; the change may have been made: list the group): %v", ledger.ErrNotLeader, leader, err)
	}
	if err != nil {
		return fmt.Errorf("replica: change the group: %w", err)
	}
	return nil
}
