package raftnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

// testCluster is n raft nodes on loopback TCP with fault injection.
type testCluster struct {
	t       *testing.T
	nodes   []*Node
	journal []*journal
	faults  []*Faults
	peers   []Peer
}

func startCluster(t *testing.T, size int) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	lis := make([]net.Listener, size)
	for i := range size {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis[i] = l
		c.peers = append(c.peers, Peer{ID: fmt.Sprintf("n%d", i), Addr: l.Addr().String()})
	}
	for i := range size {
		logger := zaptest.NewLogger(t).Named(c.peers[i].ID)
		f := fsm.New(logger)
		j := &journal{}
		if err := f.Register(j); err != nil {
			t.Fatal(err)
		}
		fl := NewFaults()
		n, err := New(Config{
			NodeID: c.peers[i].ID, RaftListener: lis[i], Bootstrap: c.peers, Logger: logger,
			HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond,
			WrapTransport: fl.Wrap,
		}, f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Shutdown() })
		c.nodes, c.journal, c.faults = append(c.nodes, n), append(c.journal, j), append(c.faults, fl)
	}
	var wg sync.WaitGroup
	errs := make([]error, size)
	for i, n := range c.nodes {
		wg.Go(func() { errs[i] = n.Start(context.Background()) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return c
}

// leader waits for a ready leader among the nodes for which ok(i) holds.
func (c *testCluster) leader(ok func(int) bool) int {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		var waits []<-chan struct{}
		for i, n := range c.nodes {
			if !ok(i) {
				continue
			}
			if n.Ready() {
				return i
			}
			waits = append(waits, n.Changed())
		}
		select {
		case <-waits[0]:
		case <-waits[len(waits)-1]:
		case <-time.After(20 * time.Millisecond): // another node's change
		case <-deadline:
			c.t.Fatal("no ready leader within 10s")
		}
	}
}

func all(int) bool { return true }

// linearRead reads node i's journal after a read index from leader l.
func (c *testCluster) linearRead(i, l int) []string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	idx, err := c.nodes[l].ReadIndex(ctx)
	if err != nil {
		c.t.Fatalf("ReadIndex on n%d: %v", l, err)
	}
	if err := c.nodes[i].WaitApplied(ctx, idx); err != nil {
		c.t.Fatalf("WaitApplied(%d) on n%d: %v", idx, i, err)
	}
	got, _, _ := c.journal[i].snapshot()
	return got
}

func TestClusterReplicatesAndFailsOver(t *testing.T) {
	c := startCluster(t, 3)
	l := c.leader(all)
	proposeN(t, c.nodes[l], 0, 10)
	want := []string{"e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9"}
	for i := range c.nodes {
		if got := c.linearRead(i, l); !slices.Equal(got, want) {
			t.Fatalf("n%d after read index: %q", i, got)
		}
	}
	// A follower refuses writes and read indexes, naming the leader.
	f := (l + 1) % 3
	var nl *NotLeaderError
	if _, err := c.nodes[f].Propose(context.Background(), "journal", 1, []byte("x")); !errors.As(err, &nl) || nl.LeaderID != c.peers[l].ID {
		t.Fatalf("follower Propose: %v", err)
	}
	if _, err := c.nodes[f].ReadIndex(context.Background()); !errors.As(err, &nl) {
		t.Fatalf("follower ReadIndex: %v", err)
	}

	// Kill the leader: the others elect a new one, which re-arms leases
	// before it is ready, and keeps every committed entry.
	rearmsBefore := c.journal[f].rearmCount()
	if err := c.nodes[l].Shutdown(); err != nil {
		t.Fatal(err)
	}
	l2 := c.leader(func(i int) bool { return i != l })
	if c.journal[l2].rearmCount() <= rearmsBefore {
		t.Fatalf("new leader n%d is ready without a re-arm", l2)
	}
	proposeN(t, c.nodes[l2], 10, 12)
	for i := range c.nodes {
		if i == l {
			continue
		}
		if got := c.linearRead(i, l2); len(got) != 12 || got[11] != "e11" {
			t.Fatalf("n%d after failover: %q", i, got)
		}
	}
}

func TestClusterMinorityLeaderStepsDown(t *testing.T) {
	c := startCluster(t, 3)
	l := c.leader(all)
	// Cut the leader off both ways.
	for i := range c.nodes {
		if i != l {
			c.faults[l].Cut(c.peers[i].ID, true, true)
			c.faults[i].Cut(c.peers[l].ID, true, true)
		}
	}
	l2 := c.leader(func(i int) bool { return i != l })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// The old leader can neither commit nor confirm a read.
	if _, err := c.nodes[l].Propose(ctx, "journal", 1, []byte("lost")); err == nil {
		t.Fatal("the cut-off leader committed a write")
	}
	if _, err := c.nodes[l].ReadIndex(ctx); err == nil {
		t.Fatal("the cut-off leader confirmed a read index")
	}
	proposeN(t, c.nodes[l2], 0, 1)
	for i := range c.faults {
		c.faults[i].Heal()
	}
	// After healing, the old leader follows and catches up; the write it
	// could not commit is gone.
	l3 := c.leader(all)
	if got := c.linearRead(l, l3); !slices.Equal(got, []string{"e0"}) {
		t.Fatalf("old leader after heal: %q", got)
	}
}

func TestClusterMembershipRefusesBadChanges(t *testing.T) {
	c := startCluster(t, 3)
	l := c.leader(all)
	n := c.nodes[l]
	ctx := context.Background()
	other := c.peers[(l+1)%3]
	cases := []struct {
		name string
		err  error
		is   error
		want string
	}{
		{"bad id", n.AddVoter(ctx, "bad id", "127.0.0.1:1"), ErrInvalid, "id"},
		{"bad addr", n.AddVoter(ctx, "n9", "nohost"), ErrInvalid, "raft_address"},
		{"itself", n.AddVoter(ctx, c.peers[l].ID, c.peers[l].Addr), ErrInvalid, "this node itself"},
		{"duplicate id", n.AddVoter(ctx, other.ID, "127.0.0.1:1"), ErrInvalid, "already a member"},
		{"address taken", n.AddVoter(ctx, "n9", other.Addr), ErrInvalid, "address"},
		{"remove unknown", n.RemoveServer(ctx, "n9"), ErrUnknownMember, "n9"},
	}
	_, terr := n.TransferLeadership(ctx, "n9")
	cases = append(cases, struct {
		name string
		err  error
		is   error
		want string
	}{"transfer to unknown", terr, ErrUnknownMember, "n9"})
	for _, tc := range cases {
		if !errors.Is(tc.err, tc.is) || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %v naming %q", tc.name, tc.err, tc.is, tc.want)
		}
	}
	ms, err := n.Members()
	if err != nil || len(ms) != 3 {
		t.Fatalf("members after refused changes: %v, %v", ms, err)
	}
	// Re-adding a voter as it is changes nothing and succeeds.
	if err := n.AddVoter(ctx, other.ID, other.Addr); err != nil {
		t.Fatalf("re-add: %v", err)
	}
	// Removing down to one voter works; removing the last one is refused.
	for i := range c.nodes {
		if i != l {
			if err := n.RemoveServer(ctx, c.peers[i].ID); err != nil {
				t.Fatalf("remove n%d: %v", i, err)
			}
		}
	}
	if err := n.RemoveServer(ctx, c.peers[l].ID); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "last voter") {
		t.Fatalf("remove last voter: %v", err)
	}
}

func TestClusterConfigRefusesBadBootstrap(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{NodeID: "a", Bootstrap: []Peer{{"a", "127.0.0.1:1"}}}, "RaftBind"},
		{Config{NodeID: "a", RaftListener: lis, Bootstrap: []Peer{{"b", "127.0.0.1:1"}}}, "not among"},
		{Config{NodeID: "a", RaftListener: lis, Bootstrap: []Peer{{"a", "127.0.0.1:1"}, {"a", "127.0.0.1:2"}}}, "twice"},
		{Config{NodeID: "a", RaftListener: lis, Bootstrap: []Peer{{"a", "127.0.0.1:1"}, {"b", "127.0.0.1:1"}}}, "both"},
		{Config{NodeID: "a", RaftListener: lis, Bootstrap: []Peer{{"a", "x"}}}, "host:port"},
		{Config{NodeID: "a", RaftListener: lis, Join: true, Bootstrap: []Peer{{"a", "127.0.0.1:1"}}}, "not both"},
		{Config{NodeID: "a", RaftListener: lis, ElectionTimeout: time.Microsecond}, "ElectionTimeout"},
	} {
		_, err := New(tc.cfg, fsm.New(nil))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want one naming %q", tc.cfg, err, tc.want)
		}
	}
}
