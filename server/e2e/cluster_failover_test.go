package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/collections"
	"git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/lock"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

// A held lock with SpawnRenewal rides through an abrupt kill of the
// leader: it is not lost, keeps its fence token, its Watch reports no
// loss, and a contender trying all along never gets it. It is still held
// well past a full TTL after the kill, so the renewals work on the new
// leader, and once unlocked the contender gets a higher token.
func TestClusterFailoverLockSurvivesLeaderKill(t *testing.T) {
	const ttl = 3 * time.Second
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	holder, contender := connectCluster(t, c), connectCluster(t, c)
	ctx := testCtx(t, 60*time.Second)
	key := name(t)
	l, err := holder.Locks().Acquire(ctx, key, lock.Config{LeaseTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	token, leaseID := l.FenceToken(), l.State().LeaseID
	renewal := l.SpawnRenewal(ttl / 4)
	defer renewal.Stop()

	// Watch reports every change; the loss, if any, must never come.
	var renewals atomic.Int64
	watchDone := make(chan struct{})
	lost := make(chan lock.State, 1)
	go func() {
		for {
			select {
			case <-l.Watch():
			case <-watchDone:
				return
			}
			if l.IsLost() {
				lost <- l.State()
				return
			}
			renewals.Add(1)
		}
	}()
	defer close(watchDone)
	waitFor(t, 5*time.Second, "a first renewal before the kill", func() bool { return renewals.Load() >= 1 })

	// The contender tries (MaxWait 0) all through the failover.
	stopContending := make(chan struct{})
	type tries struct{ refused, other int }
	contended := make(chan tries, 1)
	var stolen atomic.Pointer[lock.Lock]
	go func() {
		var n tries
		defer func() { contended <- n }()
		for {
			select {
			case <-stopContending:
				return
			default:
			}
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			got, err := contender.Locks().Acquire(cctx, key, lock.Config{LeaseTTL: ttl})
			cancel()
			switch {
			case err == nil:
				stolen.Store(got)
				return
			case errors.Is(err, waymaker.ErrExpired):
				n.refused++
			default:
				n.other++ // no leader reachable within 2 s: not a grant either
			}
		}
	}()

	old := c.Leader()
	killed := time.Now()
	c.Kill(old)
	before := renewals.Load()
	// Held past a full TTL after the kill: only renewals on the new
	// leader can have kept it.
	waitFor(t, 3*ttl, "renewals on the new leader", func() bool {
		return renewals.Load() >= before+3 && time.Since(killed) > ttl+ttl/2
	})
	close(stopContending)
	n := <-contended
	if s := stolen.Load(); s != nil {
		t.Fatalf("the contender acquired the held lock during the failover: token %d (holder's %d, holder state %+v)", s.FenceToken(), token, l.State())
	}
	select {
	case st := <-lost:
		t.Fatalf("the lock was lost through the leader kill: %+v", st)
	default:
	}
	st := l.State()
	if st.Lost || st.FenceToken != token || st.LeaseID != leaseID {
		t.Fatalf("after the kill: %+v; want held with token %d, lease %s", st, token, leaseID)
	}
	if n.refused == 0 {
		t.Fatalf("the contender was never refused by a leader (%d other failures): the test did not contend", n.other)
	}
	info, err := contender.Locks().Inspect(ctx, key, lock.ScopeQuorum)
	if err != nil || len(info.Holders) != 1 || info.Holders[0].LeaseID != leaseID || info.Holders[0].FenceToken != token {
		t.Fatalf("Inspect on the new leader: %+v, %v; want the one holder %s with token %d", info, err, leaseID, token)
	}
	t.Logf("held through the kill of node %d: %d renewals after it, contender refused %d times (%d calls found no leader in time)",
		old, renewals.Load()-before, n.refused, n.other)

	renewal.Stop()
	if err := l.Unlock(ctx); err != nil {
		t.Fatalf("unlock after the failover: %v", err)
	}
	next, err := contender.Locks().Acquire(ctx, key, lock.Config{LeaseTTL: ttl})
	if err != nil {
		t.Fatalf("acquire after unlock: %v", err)
	}
	if next.FenceToken() <= token {
		t.Fatalf("token after the failover %d, want above %d", next.FenceToken(), token)
	}
	_ = next.Unlock(ctx)
}

// A KV watch delivers every change exactly once, in revision order, while
// the leader is killed and writes go on before, during and after the kill.
// Three watchers are opened back to back on a client of every node, which
// round-robin spreads over the nodes; a fourth is on a client of the
// leader alone, so its stream surely dies with it and resumes on the
// restarted node.
func TestClusterFailoverKVWatchExactlyOnce(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 60*time.Second)
	b, err := cl.KeyValue().Create(ctx, kv.Config{Name: name(t), History: 8})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // every node's connection ready, so round-robin covers them all
		if _, err := b.Status(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var watchers []*kv.Watcher
	for range 3 {
		w, err := b.WatchAll(ctx, kv.UpdatesOnly())
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if ev, err := w.Next(); err != nil || !ev.InitialDone {
			t.Fatalf("first watch event %+v, %v; want InitialDone", ev, err)
		}
		watchers = append(watchers, w)
	}
	old := c.Leader()
	alone, err := connect(t, c.Node(old).Addr()).KeyValue().Bucket(b.Name()).WatchAll(ctx, kv.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer alone.Stop()
	if ev, err := alone.Next(); err != nil || !ev.InitialDone {
		t.Fatalf("first watch event %+v, %v; want InitialDone", ev, err)
	}

	const total, killAt = 300, 100
	type put struct {
		key string
		rev uint64
	}
	acked := make([]put, 0, total)
	killed := make(chan struct{})
	writes := make(chan error, 1)
	var ackedMu sync.Mutex
	go func() {
		for i := range total {
			if i == killAt {
				close(killed)
			}
			k := fmt.Sprintf("k%03d", i)
			rev, err := b.Put(ctx, k, []byte(k))
			if err != nil {
				writes <- fmt.Errorf("put %s: %w", k, err)
				return
			}
			ackedMu.Lock()
			acked = append(acked, put{k, rev})
			ackedMu.Unlock()
		}
		writes <- nil
	}()
	<-killed
	c.Kill(old)
	if err := <-writes; err != nil {
		t.Fatal(err)
	}
	c.Restart(old)
	last := acked[len(acked)-1].rev
	for wi, w := range append(watchers, alone) {
		var got []put
		for len(got) == 0 || got[len(got)-1].rev < last {
			ev := nextEvent(t, w)
			if ev.Put == nil {
				t.Fatalf("watcher %d: event %s, want puts only", wi, kvDescribe(ev))
			}
			got = append(got, put{ev.Put.Key, ev.Put.Revision})
		}
		if len(got) != len(acked) {
			t.Fatalf("watcher %d got %d events up to revision %d, want the %d acked puts: first differences %v", wi, len(got), last, len(acked), firstDiff(got, acked))
		}
		for i := range got {
			if got[i] != acked[i] {
				t.Fatalf("watcher %d event %d = %+v, want %+v (the acked puts in order, each once)", wi, i, got[i], acked[i])
			}
		}
	}
	st, err := b.Status(ctx)
	if err != nil || st.Revision != last || st.Entries != total {
		t.Fatalf("bucket after the failover: %+v, %v; want revision %d and %d entries (no put applied twice)", st, err, last, total)
	}
	t.Logf("%d puts (node %d killed after %d, then restarted), every one delivered once to each of 4 watchers", total, old, killAt)
}

// nextEvent is kvNextEvent for a kv.Watcher.
func nextEvent(t *testing.T, w *kv.Watcher) kv.Event {
	t.Helper()
	type res struct {
		ev  kv.Event
		err error
	}
	ch := make(chan res, 1)
	go func() {
		ev, err := w.Next()
		ch <- res{ev, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("watch: %v", r.err)
		}
		return r.ev
	case <-time.After(10 * time.Second):
		w.Stop()
		<-ch
		t.Fatal("no watch event within 10s")
		return kv.Event{}
	}
}

func firstDiff[T comparable](a, b []T) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("at %d: %v vs %v", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("one is a prefix of the other (%d vs %d)", len(a), len(b))
}

// A durable consumer receives every acked publish through a leader kill,
// with no gap: publishes are acked before and after the kill, and the
// consumer, acking as it goes, sees every stream sequence. Delivery is at
// least once: a message whose AckWait ran out before its ack committed
// (under load, the consumer's buffered messages wait while acks ride out
// the failover) may come again, even after its ack succeeded. What must
// hold is the server's state at the end: every ack kept, the ack floor at
// the last sequence, nothing awaiting an ack.
func TestClusterFailoverConsumerNoGap(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	pub, sub := connectCluster(t, c), connectCluster(t, c)
	ctx := testCtx(t, 60*time.Second)
	sname := name(t)
	s, err := pub.Streams().Create(ctx, stream.Config{Name: sname})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := sub.Streams().Stream(sname).CreateConsumer(ctx, stream.ConsumerConfig{DurableName: "d", AckWait: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := cons.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer msgs.Stop()

	const total, killAt = 200, 80
	var published sync.Map // seq → payload
	pubErr := make(chan error, 1)
	killed := make(chan struct{})
	go func() {
		for i := range total {
			if i == killAt {
				close(killed)
			}
			p := fmt.Sprintf("m%03d", i)
			ack, err := s.Publish(ctx, sname, []byte(p))
			if err != nil {
				pubErr <- fmt.Errorf("publish %s: %w", p, err)
				return
			}
			if ack.Duplicate {
				pubErr <- fmt.Errorf("publish %s answered Duplicate (seq %d)", p, ack.Sequence)
				return
			}
			published.Store(ack.Sequence, p)
		}
		pubErr <- nil
	}()

	acked := map[uint64]bool{}
	redelivered, lateCopies := 0, 0
	received := func(m *stream.Msg) {
		t.Helper()
		if acked[m.StreamSeq] {
			// At least once: a redelivery the server sent when AckWait
			// ran out before the ack was committed (the consumer's
			// buffered messages wait while acks ride out the failover)
			// may arrive after the ack succeeded. That the server keeps
			// every ack is checked at the end, on its own state.
			lateCopies++
			return
		}
		if m.NumDelivered > 1 {
			redelivered++
		}
		if err := m.AckSync(ctx); err != nil {
			t.Logf("ack of seq %d failed (it comes again): %v", m.StreamSeq, err)
			return
		}
		acked[m.StreamSeq] = true
	}
	<-killed
	old := c.Leader()
	c.Kill(old)
	var done error
	for done == nil || len(acked) < total {
		if done == nil {
			select {
			case done = <-pubErr:
				if done != nil {
					t.Fatal(done)
				}
				done = errors.New("all published")
			default:
			}
		}
		received(next(t, msgs, 10*time.Second))
	}
	for seq := uint64(1); seq <= total; seq++ {
		p, ok := published.Load(seq)
		if !ok {
			t.Fatalf("stream seq %d was never acked to the publisher: a publish was stored twice or a sequence skipped", seq)
		}
		if !acked[seq] {
			t.Fatalf("seq %d (%s) never received", seq, p)
		}
	}
	info, err := s.Info(ctx)
	if err != nil || info.State.Msgs != total {
		t.Fatalf("stream after the failover: %+v, %v; want %d messages", info, err, total)
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.AckFloor.Stream != total || ci.NumAckPending != 0 || ci.NumPending != 0 {
		t.Fatalf("consumer after every ack succeeded: ack floor %+v, %d awaiting an ack, %d pending; want floor at stream seq %d and none waiting",
			ci.AckFloor, ci.NumAckPending, ci.NumPending, total)
	}
	t.Logf("%d publishes (node %d killed after %d), all received and acked; %d redeliveries, %d copies arrived after their ack",
		total, old, killAt, redelivered, lateCopies)
}

// A blocking queue pop waiting on the leader when it is killed is not
// lost: the SDK retries it (same request id) on the new leader, and the
// item pushed after the failover reaches it exactly once.
func TestClusterFailoverQueuePopNotLost(t *testing.T) {
	var entered atomic.Int64 // QueuePop handlers entered on the node serving them
	countPops := waymakertest.WithConfig(func(cfg *server.Config) {
		cfg.GRPCOptions = append(cfg.GRPCOptions, grpc.ChainUnaryInterceptor(
			func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
				if info.FullMethod == collectionspb.CollectionsService_QueuePop_FullMethodName {
					entered.Add(1)
				}
				return next(ctx, req)
			}))
	})
	c := waymakertest.StartCluster(t, 3, withSuite(t, countPops)...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 60*time.Second)
	q, err := cl.Collections().CreateQueue(ctx, collections.QueueConfig{Name: name(t), VisibilityTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	type popped struct {
		m   *collections.Message
		err error
	}
	pop := make(chan popped, 1)
	go func() {
		m, err := q.Pop(ctx, 20*time.Second)
		pop <- popped{m, err}
	}()
	waitFor(t, 5*time.Second, "the pop to reach the leader", func() bool { return entered.Load() >= 1 })
	old := c.Leader()
	c.Kill(old)
	// The pop is retried on the new leader and waits there.
	waitFor(t, 10*time.Second, "the pop retried on the new leader", func() bool { return entered.Load() >= 2 })
	if _, err := q.Push(ctx, []byte("item")); err != nil {
		t.Fatal(err)
	}
	var p popped
	select {
	case p = <-pop:
	case <-time.After(15 * time.Second):
		t.Fatal("the pop in flight through the kill did not return within 15s")
	}
	if p.err != nil || string(p.m.Payload) != "item" || p.m.ReceiveCount != 1 {
		t.Fatalf("pop through the kill = %+v, %v; want the item, received once", p.m, p.err)
	}
	if m, err := q.Pop(ctx, 0); !errors.Is(err, waymaker.ErrExpired) {
		t.Fatalf("a second pop = %+v, %v; want nothing (the item was handed out once)", m, err)
	}
	if n, err := q.Len(ctx); err != nil || n.Ready != 0 || n.InFlight != 1 {
		t.Fatalf("queue after the pop: %+v, %v; want 1 in flight", n, err)
	}
	if err := p.m.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := q.Len(ctx); err != nil || n.Total() != 0 {
		t.Fatalf("queue after the ack: %+v, %v; want empty", n, err)
	}
	t.Logf("pop entered %d times (node %d killed), item delivered once", entered.Load(), old)
}
