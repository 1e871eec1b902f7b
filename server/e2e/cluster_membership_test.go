package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/cluster"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// joinKeys is how many keys the cluster holds when a fourth node joins:
// the 100,000, or under the race detector, which makes every put
// several times slower, as many as load in a few seconds there.
func joinKeys() int64 {
	if raceEnabled {
		return 8_000
	}
	return 100_000
}

// A fourth node joins a running cluster holding joinKeys KV keys, whose
// log has been compacted by snapshots, so it catches up by installing the
// leader's snapshot. Through a client connected to it alone, a
// linearizable read finds the last key written and the bucket holds every
// key, and Status lists the node as a voter at its client address.
func TestClusterJoinCatchesUpBySnapshot(t *testing.T) {
	const threshold, trailing = 2048, 1024
	keys := joinKeys()
	// The joiner's raft log says whether it installed a snapshot (at
	// debug, where the server puts raft's own chatter).
	core, logs := observer.New(zapcore.DebugLevel)
	installs := func() int { return logs.FilterMessage("Installed remote snapshot").Len() }
	c := waymakertest.StartCluster(t, 3, withSuite(t, waymakertest.WithConfig(func(cfg *server.Config) {
		cfg.SnapshotThreshold, cfg.SnapshotInterval, cfg.TrailingLogs = threshold, 100*time.Millisecond, trailing
		if cfg.NodeID == "node4" {
			cfg.Logger = zap.New(core)
		}
	}))...)
	// The load goes straight to the leader: no forwarding hop.
	cl := connect(t, c.Node(c.Leader()).Addr())
	ctx := testCtx(t, 180*time.Second)
	bname := name(t)
	b, err := cl.KeyValue().Create(ctx, kv.Config{Name: bname})
	if err != nil {
		t.Fatal(err)
	}
	const workers = 64
	loaded := time.Now()
	forEachInParallel(t, workers, int(keys), func(i int) error {
		k := fmt.Sprintf("k%06d", i)
		if _, err := b.Put(ctx, k, []byte(k)); err != nil {
			return fmt.Errorf("put %s: %w", k, err)
		}
		return nil
	})
	load := time.Since(loaded)
	lastKey := fmt.Sprintf("k%06d", keys-1)
	rev, err := b.Put(ctx, lastKey, []byte("last"))
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent puts share raft entries (group commit), so the load may
	// not have filled the log past a compaction: fill it with one put an
	// entry, in another bucket, until a snapshot taken past threshold
	// entries has compacted away the first ones.
	filler, err := cl.KeyValue().Create(ctx, kv.Config{Name: bname + "-fill"})
	if err != nil {
		t.Fatal(err)
	}
	before, err := cl.Cluster().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for before.LastIndex < 2*threshold+trailing {
		if _, err := filler.Put(ctx, "f", []byte("f")); err != nil {
			t.Fatal(err)
		}
		if before, err = cl.Cluster().Status(ctx); err != nil {
			t.Fatal(err)
		}
	}

	joined := time.Now()
	j := c.Join()
	join := time.Since(joined)
	t.Logf("%d keys loaded in %v (%.0f puts/s, %d goroutines; race detector %v); node4 joined and caught up in %v",
		keys, load, float64(keys)/load.Seconds(), workers, raceEnabled, join)
	// Raft logs the install just after the restore that let node4 catch up.
	waitFor(t, 5*time.Second, fmt.Sprintf("node4 to have installed a snapshot (log compacted every %d entries, keeping %d)", threshold, trailing),
		func() bool { return installs() > 0 })
	only := connect(t, c.Node(j).Addr())
	e, err := only.KeyValue().Bucket(bname).Get(ctx, lastKey)
	if err != nil || string(e.Value) != "last" || e.Revision != rev {
		t.Fatalf("linearizable read of %s through the new node: %+v, %v; want %q @%d", lastKey, e, err, "last", rev)
	}
	st, err := only.KeyValue().Bucket(bname).Status(ctx)
	if err != nil || st.Values != keys {
		t.Fatalf("bucket through the new node: %+v, %v; want %d keys", st, err, keys)
	}
	var after cluster.Status
	waitFor(t, 10*time.Second, "node4's client address in Status", func() bool {
		after, err = only.Cluster().Status(ctx)
		m := member(after, "node4")
		return err == nil && m != nil && m.ClientAddress != ""
	})
	m := member(after, "node4")
	if after.NodeID != "node4" || m == nil || m.Suffrage != "voter" || m.ClientAddress != c.Node(j).Addr() {
		t.Fatalf("Status through the new node: %+v; want node4 a voter at client address %s", after, c.Node(j).Addr())
	}
	if len(after.Members) != len(before.Members)+1 {
		t.Fatalf("members after the join: %+v; want those before (%+v) and node4", after.Members, before.Members)
	}
	// The joined node is a member like the others: it restarts on its
	// data, and the four voters ride out the kill of the leader (unless
	// node4 itself leads).
	c.Restart(j)
	if l := c.Leader(); l != j { // the client below reaches node4 only
		c.Kill(l)
	}
	if e, err := only.KeyValue().Bucket(bname).Get(ctx, lastKey); err != nil || string(e.Value) != "last" {
		t.Fatalf("read through the new node after its restart and a leader kill: %+v, %v", e, err)
	}
}

func member(st cluster.Status, id string) *cluster.Member {
	i := slices.IndexFunc(st.Members, func(m cluster.Member) bool { return m.ID == id })
	if i < 0 {
		return nil
	}
	return &st.Members[i]
}

// members is the part of a Status that a refused change must not touch.
func members(st cluster.Status) string {
	var out []string
	for _, m := range st.Members {
		out = append(out, m.ID+"="+m.RaftAddress+"/"+m.ClientAddress+"/"+m.Suffrage)
	}
	return strings.Join(out, ",")
}

// settledStatus asks cl's node for its Status until every member's client
// address is there: Status answers from the node's local state, which may
// not have applied the latest announcements yet.
func settledStatus(t *testing.T, ctx context.Context, cl *waymaker.Client) cluster.Status {
	t.Helper()
	var st cluster.Status
	waitFor(t, 10*time.Second, "every member's client address in Status", func() bool {
		var err error
		st, err = cl.Cluster().Status(ctx)
		return err == nil && !slices.ContainsFunc(st.Members, func(m cluster.Member) bool { return m.ClientAddress == "" })
	})
	return st
}

// wantMembers waits until cl's node reports the members of want (its
// local state may lag), failing the test if it does not within 10 s.
func wantMembers(t *testing.T, ctx context.Context, cl *waymaker.Client, want cluster.Status, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := cl.Cluster().Status(ctx)
		if err == nil && members(st) == members(want) && st.LeaderID == want.LeaderID {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members %s: %s led by %s, %v; want %s led by %s", what, members(st), st.LeaderID, err, members(want), want.LeaderID)
		}
		<-time.After(20 * time.Millisecond) // a poll interval, not a synchronisation
	}
}

// wantRefused checks that err matches target and that its message names
// field.
func wantRefused(t *testing.T, what string, err, target error, field string) {
	t.Helper()
	var e *waymaker.Error
	if !errors.Is(err, target) || !errors.As(err, &e) || !strings.Contains(e.Message, field) {
		t.Fatalf("%s = %v; want %v naming %q", what, err, target, field)
	}
	t.Logf("%s: %v", what, err)
}

// Membership changes that make no sense are refused with a clear error
// naming the field, and leave the members as they were: a node id already
// used at another address, the leader adding itself, removing or handing
// leadership to an unknown id.
func TestClusterMembershipRefusesBadChanges(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 30*time.Second)
	before := settledStatus(t, ctx, cl)
	leader := member(before, before.LeaderID)
	other := before.Members[slices.IndexFunc(before.Members, func(m cluster.Member) bool { return m.ID != before.LeaderID })]

	wantRefused(t, "AddVoter with an id in use at another address",
		cl.Cluster().AddVoter(ctx, other.ID, "127.0.0.1:1", ""), waymaker.ErrInvalidArgument, "id")
	wantRefused(t, "AddNonvoter with an id in use at another address",
		cl.Cluster().AddNonvoter(ctx, other.ID, "127.0.0.1:1", ""), waymaker.ErrInvalidArgument, "id")
	wantRefused(t, "AddVoter of a new id at a member's address",
		cl.Cluster().AddVoter(ctx, "node9", other.RaftAddress, ""), waymaker.ErrInvalidArgument, "raft_address")
	wantRefused(t, "AddVoter of the leader itself",
		cl.Cluster().AddVoter(ctx, leader.ID, leader.RaftAddress, ""), waymaker.ErrInvalidArgument, "id")
	wantRefused(t, "AddVoter with a bad raft address",
		cl.Cluster().AddVoter(ctx, "node9", "no-port", ""), waymaker.ErrInvalidArgument, "raft_address")
	wantRefused(t, "RemoveServer of an unknown id",
		cl.Cluster().RemoveServer(ctx, "node9"), waymaker.ErrNotFound, "id")
	_, err := cl.Cluster().TransferLeadership(ctx, "node9")
	wantRefused(t, "TransferLeadership to an unknown id", err, waymaker.ErrNotFound, "id")
	wantMembers(t, ctx, cl, before, "after the refused changes")
}

// The last voter of a cluster cannot be removed: refused, naming the id,
// and the node still serves.
func TestClusterMembershipRefusesRemovingLastVoter(t *testing.T) {
	c := waymakertest.StartCluster(t, 1, withSuite(t)...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 30*time.Second)
	before := settledStatus(t, ctx, cl)
	wantRefused(t, "RemoveServer of the last voter", cl.Cluster().RemoveServer(ctx, "node1"), waymaker.ErrInvalidArgument, "id")
	wantMembers(t, ctx, cl, before, "after the refused removal")
	b, err := cl.KeyValue().Create(ctx, kv.Config{Name: name(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("write after the refused removal: %v", err)
	}
}

// A node started with initial voters that differ from the cluster's is
// refused when it announces itself (its Start fails naming the bootstrap
// list), and the cluster's members are unchanged.
func TestClusterRefusesDisagreeingBootstrap(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 60*time.Second)
	before := settledStatus(t, ctx, cl)
	// A follower comes back on a fresh data dir, at its id and raft
	// address, but with one more initial voter than the others were given.
	i := (c.Leader() + 1) % 3
	fm := member(before, fmt.Sprintf("node%d", i+1)) // StartCluster's naming
	var boot []server.Peer
	for _, m := range before.Members {
		boot = append(boot, server.Peer{ID: m.ID, Addr: m.RaftAddress})
	}
	boot = append(boot, server.Peer{ID: "node9", Addr: "127.0.0.1:1"})
	c.Kill(i)
	raftLis, err := net.Listen("tcp", fm.RaftAddress)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		raftLis.Close()
		t.Fatal(err)
	}
	rogue, err := server.Open(server.Config{
		DataDir: t.TempDir(), NodeID: fm.ID, RaftListen: fm.RaftAddress, RaftListener: raftLis, Bootstrap: boot,
		HeartbeatTimeout: 150 * time.Millisecond, ElectionTimeout: 150 * time.Millisecond, UnsafeNoFsync: true,
		StartTimeout: 5 * time.Second,
	})
	if err != nil {
		lis.Close()
		raftLis.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- rogue.Serve(lis) }()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	err = rogue.Start(sctx)
	cancel()
	rogue.Kill()
	if serr := <-served; serr != nil {
		t.Errorf("Serve: %v", serr)
	}
	if err == nil || !strings.Contains(err.Error(), "bootstrap") {
		t.Fatalf("Start of a node with a different bootstrap list = %v; want a refusal naming the bootstrap list", err)
	}
	t.Logf("node started with a different bootstrap list: %v", err)

	// The real node comes back on its own data; leadership may have moved
	// meanwhile.
	c.Restart(i)
	before.LeaderID = fmt.Sprintf("node%d", c.Leader()+1)
	wantMembers(t, ctx, cl, before, "after the refused node")
	b, err := connect(t, c.Node(i).Addr()).KeyValue().Create(ctx, kv.Config{Name: name(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("write through the restarted node: %v", err)
	}
}

// A membership change is a raft entry the state machines never see; a
// linearizable read on a follower right after one, with no write since,
// must not wait for the next write to move the applied index past it.
func TestClusterReadOnFollowerAfterMembershipChange(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 30*time.Second)
	b, err := cl.KeyValue().Create(ctx, kv.Config{Name: name(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	l := c.Leader()
	follower := connect(t, c.Node((l+1)%3).Addr()).KeyValue().Bucket(b.Name())
	read := func(after string) {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if e, err := follower.Get(rctx, "k"); err != nil || string(e.Value) != "v" {
			t.Fatalf("linearizable read on a follower after %s: %+v, %v", after, e, err)
		}
	}
	if err := cl.Cluster().AddNonvoter(ctx, "node9", silentRaftAddr(t), ""); err != nil {
		t.Fatal(err)
	}
	read("adding a member")
	if err := cl.Cluster().RemoveServer(ctx, "node9"); err != nil {
		t.Fatal(err)
	}
	read("removing a member")
}

// silentRaftAddr is the raft address of a member that never answers raft:
// a closed port, or, when the suite runs with TLS (whose leader checks a
// new member's certificate before adding it), a port that completes the
// peer TLS handshake with the suite's node certificate and then says
// nothing.
func silentRaftAddr(t *testing.T) string {
	if !suiteTLS {
		return "127.0.0.1:1"
	}
	cert, err := tls.LoadX509KeyPair(suiteCA.CertFile, suiteCA.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(suiteCA.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	lis, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				_ = conn.(*tls.Conn).Handshake()
				<-done
			})
		}
	})
	t.Cleanup(func() {
		close(done)
		lis.Close()
		wg.Wait()
	})
	return lis.Addr().String()
}
