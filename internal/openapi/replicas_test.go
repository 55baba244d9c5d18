package openapi_test

import (
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/freeport"
	"github.com/digital-yen/cbdc-sandbox/internal/openapi"
	"github.com/digital-yen/cbdc-sandbox/ledger/replica"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
	"github.com/digital-yen/cbdc-sandbox/sandbox"
)

// operatorToken is the replicas' operator token, as cbdc ledger -replica
// writes operator.token.
const operatorToken = "5be2c1d07a9e4f3816d0b7c2e4a91f63"

// replicas is a replicated ledger as `cbdc ledger -replica` runs it: a
// group of one, ledger-1, served over HTTP with its group's routes, and
// ledger-2 started with -join, for the examples to add and remove.
type replicas struct {
	url        string
	srv        *ledgerhttp.Server
	joinerRaft string // ledger-2's Raft address
}

func startReplicas(t *testing.T) *replicas {
	t.Helper()
	dir := t.TempDir()
	raftAddrs := freeport.Loopback(t, 2)
	first, second := raftAddrs[0], raftAddrs[1]
	open := func(id, bind string, join bool) *replica.Replica {
		cfg := replica.Config{ID: id, Dir: filepath.Join(dir, id), Bind: bind, Join: join,
			HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond}
		if !join {
			cfg.Peers = []replica.Peer{{ID: id, Addr: bind}}
		}
		r, err := replica.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	leader := open("ledger-1", first, false)
	open("ledger-2", second, true)
	for deadline := time.Now().Add(10 * time.Second); !leader.Ledger().Leading(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the group of one elected no leader within 10 s")
		}
	}
	srv := ledgerhttp.NewServer(leader.Ledger(), nil, ledgerhttp.ServerOptions{Replica: leader,
		Members: sandbox.Membership(leader), OperatorToken: operatorToken})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.CloseClientConnections(); hs.Close() })
	return &replicas{url: hs.URL, srv: srv, joinerRaft: second}
}

// replicatedOnly says whether only a replicated ledger's replicas serve
// the operation's path.
func replicatedOnly(op openapi.Operation) bool { return op.Item["x-replicated-only"] == true }
