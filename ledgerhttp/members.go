package ledgerhttp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// A replicated ledger's group changes at the operator's word: GET
// /v1/replicas lists it at any replica, POST /v1/replicas adds a replica
// and DELETE /v1/replicas/{id} removes one, at the leader, with the
// operator's token (not a bank's session).

// ReplicaMember is one replica of the group.
type ReplicaMember struct {
	ID     string `json:"id"`
	Raft   string `json:"raft"`   // its Raft address
	Voter  bool   `json:"voter"`  // it counts towards the majority
	Leader bool   `json:"leader"` // it leads, as the replica asked knows
}

// Membership is a replicated ledger's group as the operator changes it.
type Membership interface {
	Members() ([]ReplicaMember, error)
	AddReplica(id, raftAddr string) error // at the leader; ledger.ErrNotLeader elsewhere
	RemoveReplica(id string) error        // at the leader; ledger.ErrNotLeader elsewhere
}

type membersResponse struct {
	Replicas []ReplicaMember `json:"replicas"`
}

type addReplicaRequest struct {
	ID   string `json:"id"`
	Raft string `json:"raft"`
}

func (s *Server) memberRoutes() []route {
	if s.members == nil {
		return nil
	}
	return []route{
		{"GET /v1/replicas", s.handleMembers},
		{"POST /v1/replicas", s.operator(s.handleAddReplica)},
		{"DELETE /v1/replicas/{id}", s.operator(s.handleRemoveReplica)},
	}
}

func (s *Server) handleMembers(w http.ResponseWriter, _ *http.Request) {
	m, err := s.members.Members()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, membersResponse{Replicas: m})
}

func (s *Server) handleAddReplica(w http.ResponseWriter, r *http.Request) {
	var req addReplicaRequest
	if !decode(w, r, &req) {
		return
	}
	s.changeMembers(w, s.members.AddReplica(req.ID, req.Raft))
}

func (s *Server) handleRemoveReplica(w http.ResponseWriter, r *http.Request) {
	s.changeMembers(w, s.members.RemoveReplica(r.PathValue("id")))
}

func (s *Server) changeMembers(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ledger.ErrNotLeader):
		writeError(w, http.StatusServiceUnavailable, ledger.ErrNotLeader.Code, err.Error())
	case err != nil:
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
	default:
		s.handleMembers(w, nil)
	}
}

// Operator is the central bank's operator at a ledger, reached through
// any of its replicas (one for a lone ledger). A change to the group
// goes to each in turn until the leader takes it; a read (operator_client.go)
// goes to the replica that last answered, and to the next when that one
// cannot. It is safe for concurrent use.
type Operator struct {
	URLs  []string // one per replica, as the banks are given them
	Token string   // the operator's token
	HTTP  *http.Client

	at atomic.Int32 // the replica reads go to now
}

// Members lists the group as the first replica that answers knows it.
func (o *Operator) Members(ctx context.Context) ([]ReplicaMember, error) {
	var out membersResponse
	err := o.each(ctx, func(base string) error { return o.call(ctx, http.MethodGet, base+"/v1/replicas", nil, &out) })
	return out.Replicas, err
}

// Add adds a replica, started with -join, to the group.
func (o *Operator) Add(ctx context.Context, id, raftAddr string) ([]ReplicaMember, error) {
	var out membersResponse
	err := o.each(ctx, func(base string) error {
		return o.call(ctx, http.MethodPost, base+"/v1/replicas", addReplicaRequest{ID: id, Raft: raftAddr}, &out)
	})
	return out.Replicas, err
}

// Remove takes a replica out of the group.
func (o *Operator) Remove(ctx context.Context, id string) ([]ReplicaMember, error) {
	var out membersResponse
	err := o.each(ctx, func(base string) error {
		return o.call(ctx, http.MethodDelete, base+"/v1/replicas/"+id, nil, &out)
	})
	return out.Replicas, err
}

// each tries the replicas in turn while they answer not_leader or cannot
// be reached, and returns the first other answer.
func (o *Operator) each(ctx context.Context, f func(base string) error) error {
	if len(o.URLs) == 0 {
		return errors.New("ledgerhttp: no ledger addresses")
	}
	var errs []error
	for _, u := range o.URLs {
		err := f(strings.TrimRight(u, "/"))
		var oe *OperatorError
		if err == nil || ctx.Err() != nil || errors.As(err, &oe) && oe.Code != ledger.ErrNotLeader.Code {
			return err
		}
		errs = append(errs, fmt.Errorf("%s: %w", u, err))
	}
	return fmt.Errorf("ledgerhttp: no replica took it: %w", errors.Join(errs...))
}

// call is a change to the group, or its listing: a replica's refusal is
// an *OperatorError, which names its code.
func (o *Operator) call(ctx context.Context, method, url string, body, out any) error {
	err := o.roundTrip(ctx, method, url, body, 30*time.Second, out)
	var re *RemoteError
	if errors.As(err, &re) {
		return &OperatorError{Code: re.Code, Message: re.Message}
	}
	return err
}

// OperatorError is a replica's refusal of an operator's request.
type OperatorError struct {
	Code    string // not_leader, unauthenticated, forbidden, bad_request, unavailable
	Message string
}

func (e *OperatorError) Error() string { return e.Code + ": " + e.Message }
