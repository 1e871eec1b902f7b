package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/cluster"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// withStabilization gives every node of a test cluster the promotion
// stabilization time d.
func withStabilization(t *testing.T, d time.Duration) []waymakertest.Option {
	return withSuite(t, waymakertest.WithConfig(func(cfg *server.Config) { cfg.PromotionStabilization = d }))
}

// nodeClients keeps one client per node address for a test's polls.
var nodeClients sync.Map // testing.TB+addr -> *waymaker.Client

func nodeClient(t *testing.T, addr string) *waymaker.Client {
	key := t.Name() + "|" + addr
	if cl, ok := nodeClients.Load(key); ok {
		return cl.(*waymaker.Client)
	}
	cl := connect(t, addr)
	nodeClients.Store(key, cl)
	t.Cleanup(func() { nodeClients.Delete(key) })
	return cl
}

// leaderStatus is the Status the current leader answers: only the leader
// reports health.
func leaderStatus(t *testing.T, ctx context.Context, c *waymakertest.Cluster) cluster.Status {
	t.Helper()
	for {
		st, err := nodeClient(t, c.Node(c.Leader()).Addr()).Cluster().Status(ctx)
		if err == nil && st.State == "leader" {
			return st
		}
		if ctx.Err() != nil {
			t.Fatalf("no leader's Status: %v (%s)", err, c.State())
		}
		<-time.After(10 * time.Millisecond) // a poll interval while leadership settles
	}
}

// suffrageOn polls the leader until member id has suffrage want.
func suffrageOn(t *testing.T, ctx context.Context, c *waymakertest.Cluster, id, want string, within time.Duration) cluster.Status {
	t.Helper()
	var st cluster.Status
	waitFor(t, within, fmt.Sprintf("%s to be %s on the leader", id, want), func() bool {
		st = leaderStatus(t, ctx, c)
		m := member(st, id)
		return m != nil && m.Suffrage == want
	})
	return st
}

// stays checks, on the leader, for d, that member id keeps suffrage want.
func stays(t *testing.T, ctx context.Context, c *waymakertest.Cluster, id, want string, d time.Duration) cluster.Status {
	t.Helper()
	var st cluster.Status
	for end := time.Now().Add(d); time.Now().Before(end); {
		st = leaderStatus(t, ctx, c)
		if m := member(st, id); m == nil || m.Suffrage != want {
			t.Fatalf("%s on the leader: %+v; want it to stay %s", id, m, want)
		}
		<-time.After(50 * time.Millisecond) // a poll interval while watching that nothing changes
	}
	return st
}

// A node that joins is staged: a non-voter (suffrage "staging") the
// leader reports healthy once it has caught up, promoted to voter only
// after it stayed healthy for the stabilization time. Health is reported
// by the leader alone.
func TestClusterJoinIsStagedThenPromoted(t *testing.T) {
	const stable = 2 * time.Second
	c := waymakertest.StartCluster(t, 3, withStabilization(t, stable)...)
	ctx := testCtx(t, 60*time.Second)
	j := c.JoinStaged()
	id := fmt.Sprintf("node%d", j+1)
	st := leaderStatus(t, ctx, c)
	m := member(st, id)
	if m == nil || m.Suffrage != "staging" || m.StagedAt.IsZero() || st.Stabilization != stable {
		t.Fatalf("leader's Status right after the join: %+v (stabilization %v); want %s staging, with its staging time, and %v", m, st.Stabilization, id, stable)
	}
	// A follower knows the staging intent (replicated) but not the health.
	fst, err := nodeClient(t, c.Node((c.Leader()+1)%4).Addr()).Cluster().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, fm := range fst.Members {
		if fm.Health != nil {
			t.Fatalf("a follower's Status reports health: %+v", fm)
		}
	}
	var healthy cluster.Member
	waitFor(t, 10*time.Second, id+" healthy on the leader", func() bool {
		st = leaderStatus(t, ctx, c)
		m := member(st, id)
		if m != nil && m.Health != nil && m.Health.Healthy {
			healthy = *m
			return true
		}
		return false
	})
	if healthy.Suffrage == "voter" && healthy.Health.HealthyFor < stable {
		t.Fatalf("%s promoted after being healthy for %v; want at least %v", id, healthy.Health.HealthyFor, stable)
	}
	if h := healthy.Health; h.LastIndex == 0 || h.AppliedIndex == 0 || h.LastContact < 0 {
		t.Fatalf("health of %s: %+v; want its indexes and a last contact", id, h)
	}
	st = suffrageOn(t, ctx, c, id, "voter", 15*time.Second)
	if m := member(st, id); !m.StagedAt.IsZero() || m.Health == nil || !m.Health.Healthy {
		t.Fatalf("%s after its promotion: %+v; want a healthy voter, no longer staged", id, m)
	}
	for _, m := range st.Members {
		if m.Health == nil || !m.Health.Healthy || m.Suffrage != "voter" {
			t.Fatalf("member %s after the promotion: %+v; want every member a healthy voter", m.ID, m)
		}
	}
	// The SDK's way to wait for it, through the new node itself.
	if _, err := nodeClient(t, c.Node(j).Addr()).Cluster().WaitVoter(ctx, id); err != nil {
		t.Fatal(err)
	}
}

// A staged node cut off from the cluster right after it joined, so it
// falls behind while writes go on, is not promoted however long it waits;
// once healed it catches up and is.
func TestClusterStagedBehindIsNotPromoted(t *testing.T) {
	const stable = 2 * time.Second
	c := waymakertest.StartCluster(t, 3, withStabilization(t, stable)...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 60*time.Second)
	j := c.JoinStaged()
	id := fmt.Sprintf("node%d", j+1)
	c.Partition([]int{0, 1, 2}, []int{j})
	suffrageOn(t, ctx, c, id, "staging", 5*time.Second)
	b, err := cl.KeyValue().Create(ctx, kv.Config{Name: name(t)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := b.Put(ctx, fmt.Sprintf("k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	st := stays(t, ctx, c, id, "staging", 2*stable)
	if m := member(st, id); m.Health == nil || m.Health.Healthy || m.Health.HealthyFor != 0 {
		t.Fatalf("health of the cut-off %s: %+v; want unhealthy", id, m.Health)
	}
	c.Heal()
	suffrageOn(t, ctx, c, id, "voter", 20*time.Second)
}

// The staging intent is replicated: when the leader is killed while a
// node is staged, the next leader promotes it.
func TestClusterStagedPromotedAfterLeaderChange(t *testing.T) {
	const stable = 2 * time.Second
	c := waymakertest.StartCluster(t, 3, withStabilization(t, stable)...)
	ctx := testCtx(t, 60*time.Second)
	j := c.JoinStaged()
	id := fmt.Sprintf("node%d", j+1)
	suffrageOn(t, ctx, c, id, "staging", 5*time.Second)
	old := c.Leader()
	c.Kill(old)
	waitFor(t, 10*time.Second, "a new leader", func() bool { return c.Leader() != old })
	// Promoted by the new leader (three voters of four are up).
	suffrageOn(t, ctx, c, id, "voter", 20*time.Second)
}

// AddNonvoter keeps a member a non-voter however healthy it is, and
// cancels the staging of one that AddVoter staged; AddVoter of a
// non-voter stages it and it is promoted through the same path.
func TestClusterNonvoterIsNotPromoted(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withStabilization(t, 2*time.Second)...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 60*time.Second)
	j := c.JoinStaged()
	id := fmt.Sprintf("node%d", j+1)
	n := c.Node(j)
	raftAddr := member(leaderStatus(t, ctx, c), id).RaftAddress
	if err := cl.Cluster().AddNonvoter(ctx, id, raftAddr, n.Addr()); err != nil {
		t.Fatal(err)
	}
	// Healthy for well past the stabilization time, and still a non-voter.
	waitFor(t, 20*time.Second, id+" healthy on the leader for twice the stabilization time", func() bool {
		st := leaderStatus(t, ctx, c)
		m := member(st, id)
		if m != nil && m.Suffrage != "nonvoter" {
			t.Fatalf("%s after AddNonvoter: %+v; want a non-voter", id, m)
		}
		return m != nil && m.Health != nil && m.Health.HealthyFor > 2*st.Stabilization
	})
	if err := cl.Cluster().AddVoter(ctx, id, raftAddr, ""); err != nil {
		t.Fatal(err)
	}
	if st, err := cl.Cluster().WaitVoter(ctx, id); err != nil {
		t.Fatalf("WaitVoter after AddVoter of the non-voter: %v (%+v)", err, st)
	}
}

// A member that never answers (nothing serves its raft address) is staged
// by AddVoter, reported unhealthy, and never promoted; removing it clears
// the intent, so adding it back as a non-voter does not stage it.
func TestClusterSilentStagedMemberIsNotPromoted(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withStabilization(t, 200*time.Millisecond)...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 30*time.Second)
	addr := silentRaftAddr(t)
	if err := cl.Cluster().AddVoter(ctx, "node9", addr, ""); err != nil {
		t.Fatal(err)
	}
	// Re-adding it as it is changes nothing.
	if err := cl.Cluster().AddVoter(ctx, "node9", addr, ""); err != nil {
		t.Fatalf("AddVoter again: %v", err)
	}
	suffrageOn(t, ctx, c, "node9", "staging", 5*time.Second)
	st := stays(t, ctx, c, "node9", "staging", 2*time.Second)
	if m := member(st, "node9"); m.Health == nil || m.Health.Healthy || m.Health.LastContact >= 0 {
		t.Fatalf("health of a member that never answered: %+v; want unhealthy, never contacted", m.Health)
	}
	if err := cl.Cluster().RemoveServer(ctx, "node9"); err != nil {
		t.Fatal(err)
	}
	if err := cl.Cluster().AddNonvoter(ctx, "node9", addr, ""); err != nil {
		t.Fatal(err)
	}
	suffrageOn(t, ctx, c, "node9", "nonvoter", 5*time.Second)
	if err := cl.Cluster().RemoveServer(ctx, "node9"); err != nil {
		t.Fatal(err)
	}
}

// Bad input to AddVoter and AddNonvoter is refused naming the field, and
// stages nothing.
func TestClusterStagingRefusesBadInput(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 30*time.Second)
	before := settledStatus(t, ctx, cl)
	wantRefused(t, "AddVoter with a bad id", cl.Cluster().AddVoter(ctx, "bad id!", "127.0.0.1:1", ""), waymaker.ErrInvalidArgument, "id")
	wantRefused(t, "AddVoter with a bad raft address", cl.Cluster().AddVoter(ctx, "node9", "127.0.0.1:70000", ""), waymaker.ErrInvalidArgument, "raft_address")
	wantRefused(t, "AddVoter with a bad client address", cl.Cluster().AddVoter(ctx, "node9", "127.0.0.1:1", "nohost"), waymaker.ErrInvalidArgument, "client_address")
	wantRefused(t, "AddNonvoter with a bad id", cl.Cluster().AddNonvoter(ctx, "", "127.0.0.1:1", ""), waymaker.ErrInvalidArgument, "id")
	if _, err := cl.Cluster().WaitVoter(ctx, "node9"); err == nil {
		t.Fatal("WaitVoter of a non-member succeeded")
	}
	wantMembers(t, ctx, cl, before, "after the refused changes")
}
