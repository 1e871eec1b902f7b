package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// connectCluster dials every node of c with short retry waits.
func connectCluster(t testing.TB, c *waymakertest.Cluster) *waymaker.Client {
	t.Helper()
	cl, err := waymaker.ConnectMulti(context.Background(), c.Addrs(),
		append(suiteClientOptions(), waymaker.WithSessions(sessionsOn()), waymaker.WithBackoff(waymaker.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Every node serves every call: writes through a follower are forwarded,
// reads through a follower see every write acknowledged before them.
func TestClusterEveryNodeServes(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	ctx := testCtx(t, 30*time.Second)
	var clients []*waymaker.Client
	for _, a := range c.Addrs() {
		clients = append(clients, connect(t, a))
	}
	if _, err := clients[0].KeyValue().Create(ctx, kv.Config{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		w, r := clients[i%3].KeyValue().Bucket("b"), clients[(i+1)%3].KeyValue().Bucket("b")
		v := fmt.Sprintf("v%d", i)
		rev, err := w.Put(ctx, "k", []byte(v))
		if err != nil {
			t.Fatalf("put %d through node %d: %v", i, i%3, err)
		}
		e, err := r.Get(ctx, "k")
		if err != nil || string(e.Value) != v || e.Revision != rev {
			t.Fatalf("get after put %d through node %d: %+v, %v; want %q@%d", i, (i+1)%3, e, err, v, rev)
		}
	}
}

// After an abrupt kill of the leader, a write through the SDK succeeds
// again, and nothing acknowledged is lost.
func TestClusterLeaderKill(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 30*time.Second)
	b, err := cl.KeyValue().Create(ctx, kv.Config{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := b.Put(ctx, fmt.Sprintf("k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	l := c.Leader()
	killed := time.Now()
	c.Kill(l)
	if _, err := b.Put(ctx, "after", []byte("kill")); err != nil {
		t.Fatalf("put after leader kill: %v", err)
	}
	t.Logf("first write after the leader kill took %v", time.Since(killed))
	for i := range 20 {
		if _, err := b.Get(ctx, fmt.Sprintf("k%d", i)); err != nil {
			t.Fatalf("k%d after kill: %v", i, err)
		}
	}
	c.Restart(l)
	if e, err := b.Get(ctx, "after"); err != nil || string(e.Value) != "kill" {
		t.Fatalf("after restart of the old leader: %+v, %v", e, err)
	}
}

// TestClusterKVLinearizableUnderFaults checks a KV history of 8 clients
// (each connected to every node) against the register model while the
// leader is killed and restarted, cut off from the others, and while one
// node's messages to another are lost one way. At least 10,000 operations;
// a write without a reply is modelled as unknown.
func TestClusterKVLinearizableUnderFaults(t *testing.T) {
	const phase = 200 * time.Millisecond // at least this much load per phase
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	var clients []*waymaker.Client
	for range 8 {
		clients = append(clients, connectCluster(t, c))
	}
	load := startKVLoad(t, clients)
	load.describe = c.State
	faults := map[string]int{}
	for round := 0; load.ops.count() < 10000 || round < 4; round++ {
		load.wait(t, 1500, phase, fmt.Sprintf("round %d, no fault", round))
		l := c.Leader()
		f := (l + 1) % 3
		switch round % 4 {
		case 0, 2: // abrupt leader kill, then restart on its data dir
			c.Kill(l)
			load.wait(t, 500, phase, fmt.Sprintf("round %d, node %d killed", round, l))
			c.Restart(l)
			faults["leader kills"]++
		case 1: // the leader alone in a minority, then healed
			c.Partition([]int{l}, []int{f, (l + 2) % 3})
			load.wait(t, 500, phase, fmt.Sprintf("round %d, leader %d partitioned", round, l))
			c.Heal()
			faults["leader partitions"]++
		case 3: // the leader hears a follower but cannot reach it
			c.CutOneWay(l, f)
			load.wait(t, 500, phase, fmt.Sprintf("round %d, leader %d cut off from %d one way", round, l, f))
			c.Heal()
			faults["one-way cuts"]++
		}
	}
	load.wait(t, 500, phase, "after the last fault")
	load.check(t, fmt.Sprint(faults))
}

// While the leader's messages to one follower are lost (a one-way cut),
// that follower learns read indexes it cannot reach. A read sent to it
// must give up there within the hold time, so the SDK retries it on a
// node that can serve it, instead of waiting out the caller's deadline.
func TestClusterReadsDuringOneWayCut(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 60*time.Second)
	b, err := cl.KeyValue().Create(ctx, kv.Config{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "k", []byte("before")); err != nil {
		t.Fatal(err)
	}
	l := c.Leader()
	c.CutOneWay(l, (l+1)%3)
	defer c.Heal()
	var wg sync.WaitGroup
	errs := make(chan error, 8*10)
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				octx, cancel := context.WithTimeout(ctx, 20*time.Second)
				if g == 0 {
					_, err := b.Put(octx, "k", []byte(fmt.Sprint(i)))
					errs <- err
				} else {
					_, err := b.Get(octx, "k")
					errs <- err
				}
				cancel()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("call during a one-way cut from the leader: %v (%s)", err, c.State())
		}
	}
}
