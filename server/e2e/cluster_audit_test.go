package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/lock"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// The audit of issue 15's named parts that no other test covered: a
// TransferLeadership and a RemoveServer through client.Cluster() that
// really move the cluster, a not_leader hint naming the leader's client
// address, and a follower (not the old leader) cut off from the others
// that answers stale reads only.

// nodeIndex is the StartCluster index of node id ("node<i+1>").
func nodeIndex(t *testing.T, id string) int {
	t.Helper()
	var i int
	if _, err := fmt.Sscanf(id, "node%d", &i); err != nil || i < 1 {
		t.Fatalf("node id %q is not StartCluster's", id)
	}
	return i - 1
}

// TransferLeadership through client.Cluster() to a named follower makes it
// the leader every node reports, writes go on at once through the SDK,
// and a transfer with no id moves leadership off the current leader.
func TestClusterAuditTransferLeadershipThenWrites(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 60*time.Second)
	b, err := cl.KeyValue().Create(ctx, kv.Config{Name: name(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "k", []byte("before")); err != nil {
		t.Fatal(err)
	}
	l := c.Leader()
	target := fmt.Sprintf("node%d", (l+1)%3+1)
	got, err := cl.Cluster().TransferLeadership(ctx, target)
	if err != nil {
		t.Fatalf("TransferLeadership(%s): %v (%s)", target, err, c.State())
	}
	if got != target {
		t.Fatalf("TransferLeadership(%s) answered leader %q", target, got)
	}
	waitFor(t, 10*time.Second, target+" leading on every node", func() bool {
		for i := range 3 {
			st, err := connect(t, c.Node(i).Addr()).Cluster().Status(ctx)
			if err != nil || st.LeaderID != target || st.LeaderAddress != c.Node(nodeIndex(t, target)).Addr() {
				return false
			}
		}
		return true
	})
	if nl := c.Leader(); nl != nodeIndex(t, target) {
		t.Fatalf("after the transfer node %d leads; want %s (%s)", nl, target, c.State())
	}
	for i := range 20 {
		if _, err := b.Put(ctx, "k", []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("put %d after the transfer: %v (%s)", i, err, c.State())
		}
	}
	if e, err := b.Get(ctx, "k"); err != nil || string(e.Value) != "19" {
		t.Fatalf("get after the transfer: %+v, %v; want 19", e, err)
	}

	// No id: raft picks; leadership leaves the current leader.
	from := c.Leader()
	got, err = cl.Cluster().TransferLeadership(ctx, "")
	if err != nil {
		t.Fatalf("TransferLeadership(\"\"): %v (%s)", err, c.State())
	}
	if got == fmt.Sprintf("node%d", from+1) {
		t.Fatalf("TransferLeadership(\"\") answered the leader it was asked on, %s", got)
	}
	if _, err := b.Put(ctx, "k", []byte("after-any")); err != nil {
		t.Fatalf("put after the second transfer: %v (%s)", err, c.State())
	}
	if nl := c.Leader(); nl == from {
		t.Fatalf("node %d still leads after TransferLeadership(\"\") (%s)", from, c.State())
	}
}

// RemoveServer through client.Cluster() of a follower and then of the
// leader itself: each leaves the members the others report, writes and
// linearizable reads go on through the SDK after each, and the last
// node, alone a voter, serves by itself.
func TestClusterAuditRemoveServerThenServes(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 60*time.Second)
	bname := name(t)
	b, err := cl.KeyValue().Create(ctx, kv.Config{Name: bname})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "k", []byte("v0")); err != nil {
		t.Fatal(err)
	}
	settledStatus(t, ctx, cl)

	left := map[int]bool{0: true, 1: true, 2: true}
	remove := func(i int, what string) {
		t.Helper()
		id := fmt.Sprintf("node%d", i+1)
		if err := cl.Cluster().RemoveServer(ctx, id); err != nil {
			t.Fatalf("RemoveServer(%s), %s: %v (%s)", id, what, err, c.State())
		}
		delete(left, i)
		c.Kill(i) // a removed server is gone for good
		for j := range left {
			waitFor(t, 10*time.Second, fmt.Sprintf("node %d to report %s removed", j, id), func() bool {
				st, err := connect(t, c.Node(j).Addr()).Cluster().Status(ctx)
				return err == nil && len(st.Members) == len(left) && member(st, id) == nil && st.LeaderID != "" && st.LeaderID != id
			})
		}
		v := "after-" + id
		if _, err := b.Put(ctx, "k", []byte(v)); err != nil {
			t.Fatalf("put after removing %s (%s): %v (%s)", id, what, err, c.State())
		}
		for j := range left {
			e, err := connect(t, c.Node(j).Addr()).KeyValue().Bucket(bname).Get(ctx, "k")
			if err != nil || string(e.Value) != v {
				t.Fatalf("linearizable get on node %d after removing %s: %+v, %v; want %q", j, id, e, err, v)
			}
		}
	}
	remove((c.Leader()+1)%3, "a follower")
	remove(c.Leader(), "the leader")
	if len(left) != 1 {
		t.Fatalf("left %v", left)
	}
	for j := range left {
		if c.Leader() != j {
			t.Fatalf("the last member, node %d, does not lead (%s)", j, c.State())
		}
	}
}

// A write that reaches a follower which must not forward it (a call
// already forwarded once, as from a leader that lost its role) answers
// not_leader with a hint naming the leader's client address, the address
// the SDK can dial, not its raft address.
func TestClusterAuditNotLeaderHintIsTheClientAddress(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	ctx := testCtx(t, 30*time.Second)
	l := c.Leader()
	f := (l + 1) % 3
	bname := name(t)
	if _, err := connectCluster(t, c).KeyValue().Create(ctx, kv.Config{Name: bname}); err != nil {
		t.Fatal(err)
	}
	fc := connect(t, c.Node(f).Addr())
	st := settledStatus(t, ctx, fc) // the follower knows every client address
	if st.LeaderAddress != c.Node(l).Addr() {
		t.Fatalf("the follower's Status names leader %s at %q; want %q", st.LeaderID, st.LeaderAddress, c.Node(l).Addr())
	}
	fctx := metadata.AppendToOutgoingContext(ctx, "waymaker-forwarded", "1")
	var resp kvpb.KVServicePutResponse
	err := fc.Conn().Invoke(fctx, "/waymaker.v1.KVService/Put",
		&kvpb.KVServicePutRequest{Bucket: bname, Key: "k", Value: []byte("v"), RequestId: name(t)}, &resp)
	if err != nil {
		t.Fatalf("forwarded put on a follower: %v", err)
	}
	r := resp.GetResult()
	if r.GetSuccess() || r.GetResultCode() != "not_leader" || r.GetLeaderHint() != c.Node(l).Addr() {
		t.Fatalf("forwarded put on follower %d: %+v; want not_leader with hint %q (leader %d's client address)", f, r, c.Node(l).Addr(), l)
	}
	// Nothing was applied.
	if _, err := connectCluster(t, c).KeyValue().Bucket(bname).Get(ctx, "k"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("get k after the refused put: %v; want not found", err)
	}
}

// A follower cut off alone (not the old leader): through a client that
// reaches it alone, a linearizable read and a write fail clearly within a
// short deadline, a stale read answers its local state, also after the
// majority wrote, and once healed it serves the majority's write. A
// cluster configured for stale reads by default answers the cut-off
// follower's reads locally unless the call asks for a linearizable one.
func TestClusterAuditStaleReadOnCutOffFollower(t *testing.T) {
	for _, staleDefault := range []bool{false, true} {
		t.Run(fmt.Sprintf("StaleReads=%v", staleDefault), func(t *testing.T) {
			c := waymakertest.StartCluster(t, 3, withSuite(t, waymakertest.WithConfig(func(cfg *server.Config) { cfg.StaleReads = staleDefault }))...)
			ctx := testCtx(t, 60*time.Second)
			bname := name(t)
			maj := connectCluster(t, c)
			b, err := maj.KeyValue().Create(ctx, kv.Config{Name: bname, History: 8})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Put(ctx, "k", []byte("before")); err != nil {
				t.Fatal(err)
			}
			l := c.Leader()
			f := (l + 1) % 3
			// The client reaches the follower alone: the test's partition
			// leaves clients reaching every node, and the SDK would follow
			// the follower's hint to the leader it still remembers.
			fb := connectAlone(t, c.Node(f).Addr()).KeyValue().Bucket(bname)
			// The follower has applied the put before it is cut off.
			waitFor(t, 10*time.Second, "the follower to apply the first put", func() bool {
				e, err := fb.Get(waymaker.StaleRead(ctx), "k")
				return err == nil && string(e.Value) == "before"
			})
			c.Partition([]int{f}, []int{l, (l + 2) % 3})
			defer c.Heal()
			if _, err := b.Put(ctx, "k", []byte("majority")); err != nil {
				t.Fatalf("write through the majority: %v (%s)", err, c.State())
			}
			linear := ctx
			if staleDefault {
				linear = waymaker.LinearizableRead(ctx)
			}
			rctx, cancel := context.WithTimeout(linear, 2*time.Second)
			e, err := fb.Get(rctx, "k")
			cancel()
			if err == nil || !clearNoLeader(err) {
				t.Fatalf("linearizable read on the cut-off follower = %+v, %v; want a clear no-leader failure", e, err)
			}
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err = fb.Put(wctx, "k", []byte("minority"))
			cancel()
			if !clearNoLeader(err) {
				t.Fatalf("write on the cut-off follower = %v; want a clear no-leader failure", err)
			}
			stale := waymaker.StaleRead(ctx)
			if staleDefault {
				stale = ctx // the server's default
			}
			if e, err := fb.Get(stale, "k"); err != nil || string(e.Value) != "before" {
				t.Fatalf("stale read on the cut-off follower = %+v, %v; want its local %q", e, err, "before")
			}
			c.Heal()
			waitFor(t, 10*time.Second, "the healed follower to serve the majority's write", func() bool {
				rctx, cancel := context.WithTimeout(linear, time.Second)
				defer cancel()
				e, err := fb.Get(rctx, "k")
				return err == nil && string(e.Value) == "majority"
			})
			h, err := b.History(ctx, "k")
			if err != nil || len(h) != 2 {
				t.Fatalf("history of k: %d entries, %v; want 2 (no write through the minority)", len(h), err)
			}
		})
	}
}

// A lock held with SpawnRenewal through the kill of the leader keeps its
// fence: a write fenced with it is accepted by the new leader, with the
// same token as before the kill; once the lock is released, the next
// holder's token is higher and a write fenced with the old one is
// refused, on the new leader as on the restarted old one.
func TestClusterAuditFenceHoldsAcrossLeaderKill(t *testing.T) {
	const ttl = 2 * time.Second
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 60*time.Second)
	b, err := cl.KeyValue().Create(ctx, kv.Config{Name: name(t)})
	if err != nil {
		t.Fatal(err)
	}
	key := name(t)
	l, err := cl.Locks().Acquire(ctx, key, lock.Config{LeaseTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	renewal := l.SpawnRenewal(ttl / 4)
	defer renewal.Stop()
	fence := l.Fence()
	if _, err := b.Put(ctx, "guarded", []byte("before"), kv.WithFence(fence)); err != nil {
		t.Fatalf("fenced put before the kill: %v", err)
	}
	old := c.Leader()
	c.Kill(old)
	if _, err := b.Put(ctx, "guarded", []byte("after"), kv.WithFence(fence)); err != nil {
		t.Fatalf("fenced put with the held lock's fence after the leader kill: %v (%s)", err, c.State())
	}
	if l.IsLost() || l.FenceToken() != fence.Token {
		t.Fatalf("after the kill: %+v; want held with token %d", l.State(), fence.Token)
	}
	renewal.Stop()
	if err := l.Unlock(ctx); err != nil {
		t.Fatalf("unlock after the kill: %v", err)
	}
	next, err := cl.Locks().Acquire(ctx, key, lock.Config{LeaseTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = next.Unlock(ctx) }()
	if next.FenceToken() <= fence.Token {
		t.Fatalf("next holder's token %d, want above %d", next.FenceToken(), fence.Token)
	}
	c.Restart(old)
	for _, via := range []*waymaker.Client{cl, connect(t, c.Node(old).Addr())} {
		if _, err := via.KeyValue().Bucket(b.Name()).Put(ctx, "guarded", []byte("stale"), kv.WithFence(fence)); !errors.Is(err, waymaker.ErrFenced) {
			t.Fatalf("put fenced with the released token %d = %v; want ErrFenced", fence.Token, err)
		}
	}
	if e, err := b.Get(ctx, "guarded"); err != nil || string(e.Value) != "after" {
		t.Fatalf("guarded after the stale writes: %+v, %v; want %q", e, err, "after")
	}
}

// Pre-vote stays on: a follower cut off alone until it campaigns, then
// healed, does not disrupt the healthy leader. The term does not move
// (without pre-vote the lone node would bump it with every election it
// starts, and the leader would step down on hearing the higher term).
func TestClusterAuditPreVoteKeepsTheLeaderThroughARejoin(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	ctx := testCtx(t, 30*time.Second)
	l := c.Leader()
	f := (l + 1) % 3
	lc, fc := connect(t, c.Node(l).Addr()).Cluster(), connect(t, c.Node(f).Addr()).Cluster()
	before, err := lc.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Partition([]int{f}, []int{l, (l + 2) % 3})
	waitFor(t, 10*time.Second, "the cut-off follower to campaign", func() bool {
		st, err := fc.Status(ctx)
		return err == nil && st.State == "candidate"
	})
	// Let it time out a few elections more while alone.
	campaigns := time.Now()
	waitFor(t, 10*time.Second, "several election timeouts alone", func() bool {
		st, err := fc.Status(ctx)
		return err == nil && st.State == "candidate" && time.Since(campaigns) > time.Second
	})
	c.Heal()
	waitFor(t, 10*time.Second, "the healed follower to follow the leader", func() bool {
		st, err := fc.Status(ctx)
		return err == nil && st.State == "follower" && st.LeaderID == before.LeaderID
	})
	after, err := lc.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.State != "leader" || after.Term != before.Term {
		t.Fatalf("leader after the rejoin: state %s, term %d; want still leader in term %d (%s)", after.State, after.Term, before.Term, c.State())
	}
}

// connectAlone connects a client that can reach addr and no other address,
// as a client on a cut-off node's side of a real partition: a leader hint
// naming another node fails to dial.
func connectAlone(t testing.TB, addr string) *waymaker.Client {
	t.Helper()
	dial := func(ctx context.Context, target string) (net.Conn, error) {
		if target != addr {
			return nil, fmt.Errorf("test partition: %s is unreachable from this client", target)
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", target)
	}
	opts := append(suiteClientOptions(), waymaker.WithSessions(sessionsOn()),
		waymaker.WithBackoff(waymaker.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond}),
		waymaker.WithDialOptions(grpc.WithContextDialer(dial)))
	c, err := waymaker.Connect(context.Background(), addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
