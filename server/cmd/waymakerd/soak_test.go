package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/collections"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/lock"
	"git.awesomike.com/pub/waymaker-client/go/stream"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

var soakFor = flag.Duration("soak", 0, "TestSoakMixedLoadThroughKills: keep killing nodes for at least this long (a longer soak, e.g. 10m; WAYMAKER_SOAK sets it too); 0 stops after soakKills kills")

// soakKills is the fewest kills of a run; the default run is sized to do
// them in about a minute on a loaded 2-core machine.
const soakKills = 20

// outcome is what a writer knows of one write.
type outcome int

const (
	acked   outcome = iota // answered: it must be there, exactly once
	failed                 // refused by the server: it must not be there
	unknown                // no answer (a kill cut it): there at most once
)

// outcomeOf sorts a write's error: a refusal the server answered (or the
// SDK's own validation) means nothing was stored; anything else (a
// transport error, a deadline, a server that was going away) leaves the
// write's fate unknown.
func outcomeOf(err error) outcome {
	if err == nil {
		return acked
	}
	var e *transport.Error
	if errors.As(err, &e) {
		switch {
		case e.Kind == transport.KindInvalid:
			return failed
		case e.Kind == transport.KindServer:
			switch e.Code {
			case transport.CodeUnavailable, transport.CodeNotLeader, transport.CodeInternal, transport.CodeClosed:
			default:
				return failed
			}
		}
	}
	return unknown
}

// grant is one acquisition of a lock: it was granted after start and
// before end.
type grant struct {
	key        string
	token      uint64
	start, end time.Time
}

// soakHistory is what the writers did, for the final check.
type soakHistory struct {
	mu                   sync.Mutex
	keys, msgs, pushes   map[string]outcome
	objects              map[string]outcome
	digests              map[string][32]byte // every object's, whatever its outcome
	grants               []grant
	lockErrs, unlockErrs int
	first                chan struct{} // closed at the first acked write
	firstOnce            sync.Once
}

func (h *soakHistory) note(m map[string]outcome, name string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o := outcomeOf(err)
	m[name] = o
	if o == acked {
		h.firstOnce.Do(func() { close(h.first) })
	}
}

func (h *soakHistory) count(m map[string]outcome) (n [3]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range m {
		n[o]++
	}
	return n
}

// soakDuration is -soak, or WAYMAKER_SOAK when the flag is not given.
func soakDuration(t *testing.T) time.Duration {
	if *soakFor > 0 {
		return *soakFor
	}
	if v := os.Getenv("WAYMAKER_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			t.Fatalf("WAYMAKER_SOAK=%q: want a duration such as 10m", v)
		}
		return d
	}
	return 0
}

// The crash-safety soak: three waymakerd processes with data dirs (fsync
// on) under a steady mixed load through the SDK (KV puts with distinct
// keys, publishes with msg ids, queue pushes with ids, object Puts of 1
// to 4 MiB, lock acquire and unlock), while a random node (the leader
// half the time) is killed with SIGKILL at a random moment and restarted
// on its data dir, at least soakKills times (and for at least -soak).
// Every writer records each write as acked, failed or unknown (a write
// whose answer a kill cut). At the end:
//   - every node started every time (SERVING after each restart);
//   - every acked key is there with its value on every node, no failed
//     one is, and no key nobody wrote;
//   - every acked publish is in the stream exactly once, an unknown one at
//     most once, and every node holds the same count;
//   - draining the queue yields every acked push exactly once and an
//     unknown one at most once;
//   - every acked object reads back with its digest (an unknown one, if
//     there, with its digest too), from every node in turn;
//   - fence tokens never go backwards: an acquisition that began after
//     another of the same lock was granted got a higher token, and no two
//     grants of a lock share one.
func TestSoakMixedLoadThroughKills(t *testing.T) {
	soak := soakDuration(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, soak %v", seed, soak)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	pc := startProcCluster(t, "soak")
	nodes, addrs := pc.nodes, pc.addrs()

	ctx, cancel := context.WithTimeout(context.Background(), soak+6*time.Minute)
	defer cancel()
	c, err := waymaker.ConnectMulti(ctx, addrs, waymaker.WithBackoff(waymaker.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bucket, err := c.KeyValue().Create(ctx, kv.Config{Name: "soak"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Streams().Create(ctx, stream.Config{Name: "soak", DuplicateWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	queue, err := c.Collections().CreateQueue(ctx, collections.QueueConfig{Name: "soak", DedupeWindow: time.Hour, VisibilityTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	store, err := c.CreateObjectStore(ctx, waymaker.ObjectStoreConfig{Name: "soak", ChunkSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}

	h := &soakHistory{
		keys: map[string]outcome{}, msgs: map[string]outcome{}, pushes: map[string]outcome{},
		objects: map[string]outcome{}, digests: map[string][32]byte{}, first: make(chan struct{}),
	}
	// Each write gets its own deadline: the SDK retries it (with its
	// request id) through a failover until then, and a write still
	// unanswered is unknown.
	const opTimeout = 20 * time.Second
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	loop := func(do func(i int)) {
		wg.Go(func() {
			for i := 0; lctx.Err() == nil; i++ {
				do(i)
			}
		})
	}
	// The writes are paced, to keep the restarts and the final check
	// (every key, message and push) to seconds: load shaping, not
	// synchronisation.
	paced := func(every time.Duration, do func(i int)) {
		loop(func(i int) {
			select {
			case <-time.After(every):
			case <-lctx.Done():
				return
			}
			do(i)
		})
	}
	op := func(f func(ctx context.Context) error) error {
		octx, ocancel := context.WithTimeout(lctx, opTimeout)
		defer ocancel()
		return f(octx)
	}
	for w := range 2 {
		paced(20*time.Millisecond, func(i int) {
			k := fmt.Sprintf("w%d.k%d", w, i)
			err := op(func(ctx context.Context) error { _, err := bucket.Put(ctx, k, []byte(k)); return err })
			h.note(h.keys, k, err)
		})
	}
	paced(20*time.Millisecond, func(i int) {
		id := fmt.Sprintf("m%d", i)
		err := op(func(ctx context.Context) error {
			_, err := st.Publish(ctx, "soak", []byte(id), stream.WithMsgID(id))
			return err
		})
		h.note(h.msgs, id, err)
	})
	paced(20*time.Millisecond, func(i int) {
		id := fmt.Sprintf("q%d", i)
		err := op(func(ctx context.Context) error {
			_, err := queue.Push(ctx, []byte(id), collections.WithID(id))
			return err
		})
		h.note(h.pushes, id, err)
	})
	var objSeed [32]byte
	for i := range objSeed {
		objSeed[i] = byte(rng.Uint32())
	}
	objRng := rand.New(rand.NewPCG(seed, seed>>2)) // the object writer's own
	// Objects one at a time, a pause between them: every restart replays
	// (and every snapshot rewrites) all object data, which would grow past
	// what a 2-core machine restarts in seconds.
	paced(2*time.Second, func(i int) {
		name := fmt.Sprintf("o%d", i)
		data := objectData(objSeed, i, (1<<20)+objRng.IntN(3<<20))
		h.mu.Lock()
		h.digests[name] = sha256.Sum256(data)
		h.mu.Unlock()
		err := op(func(ctx context.Context) error { _, err := store.PutBytes(ctx, name, data); return err })
		h.note(h.objects, name, err)
	})
	// Locks: two workers contend for one key, a third has its own. A lease
	// whose grant or unlock a kill cut expires after its TTL, well inside
	// the next acquisition's MaxWait.
	for _, key := range []string{"shared", "shared", "solo"} {
		loop(func(int) {
			var l *lock.Lock
			start := time.Now()
			err := op(func(ctx context.Context) error {
				var err error
				l, err = c.Locks().Acquire(ctx, key, lock.Config{MaxWait: 10 * time.Second, LeaseTTL: 2 * time.Second})
				return err
			})
			end := time.Now()
			h.mu.Lock()
			if err == nil {
				h.grants = append(h.grants, grant{key: key, token: l.FenceToken(), start: start, end: end})
			} else {
				h.lockErrs++
			}
			h.mu.Unlock()
			if err != nil {
				return
			}
			if err := op(l.Unlock); err != nil {
				h.mu.Lock()
				h.unlockErrs++
				h.mu.Unlock()
			}
		})
	}
	select {
	case <-h.first:
	case <-ctx.Done():
		t.Fatal("no write acknowledged before the first kill")
	}

	// The kills: a random node at a random moment, each restarted on its
	// data dir, and the next kill only once it is SERVING again, so the
	// cluster keeps its quorum and the load keeps going.
	began := time.Now()
	kills, leaderKills := 0, 0
	for kills < soakKills || time.Since(began) < soak {
		// A random moment of the load: fault timing, not synchronisation.
		<-time.After(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		victim := rng.IntN(3)
		l, ok := soakLeader(ctx, c, addrs)
		if ok && rng.IntN(2) == 0 {
			victim = l
		}
		if ok && l == victim {
			leaderKills++
		}
		nodes[victim].kill()
		kills++
		// Down for a random while, the load carrying on with two nodes.
		<-time.After(time.Duration(rng.IntN(300)) * time.Millisecond)
		pc.start(victim)
		waitServingWithin(t, nodes[victim].addr, time.Minute) // fails the test past its bound
		t.Logf("kill %d: node %d (leader: %v) SERVING again at %v", kills, victim+1, ok && l == victim, time.Since(began).Round(time.Millisecond))
	}
	loadFor := time.Since(began)
	stopLoad()
	wg.Wait()
	for _, a := range addrs {
		waitServingWithin(t, a, time.Minute)
	}
	t.Logf("%d kills (%d of the leader) in %v", kills, leaderKills, loadFor)

	checkSoak(t, ctx, h, addrs, c, queue)
}

// objectData is object i's bytes: size bytes of a stream seeded by seed
// and i, so no object's data has to be kept to check its digest.
func objectData(seed [32]byte, i, size int) []byte {
	seed[0] ^= byte(i)
	seed[1] ^= byte(i >> 8)
	seed[2] ^= byte(i >> 16)
	data := make([]byte, size)
	_, _ = rand.NewChaCha8(seed).Read(data)
	return data
}

// soakLeader is the index of the node the cluster names its leader, if
// one is known within a short while.
func soakLeader(ctx context.Context, c *waymaker.Client, addrs []string) (int, bool) {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := c.Cluster().Status(sctx)
	if err != nil {
		return 0, false
	}
	i := slices.Index(addrs, s.LeaderAddress)
	return i, i >= 0
}

func checkSoak(t *testing.T, ctx context.Context, h *soakHistory, addrs []string, c *waymaker.Client, queue *collections.Queue) {
	t.Helper()
	for what, m := range map[string]map[string]outcome{"keys": h.keys, "publishes": h.msgs, "pushes": h.pushes, "objects": h.objects} {
		n := h.count(m)
		t.Logf("%s: %d acked, %d failed, %d unknown", what, n[acked], n[failed], n[unknown])
		if n[acked] == 0 {
			t.Errorf("no %s acknowledged under the load", what)
		}
	}
	t.Logf("locks: %d grants, %d failed acquisitions, %d failed unlocks", len(h.grants), h.lockErrs, h.unlockErrs)

	// expect checks one write seen n times against its outcome.
	expect := func(what, name string, o outcome, seen bool, n int) {
		t.Helper()
		switch {
		case !seen:
			t.Errorf("%s %s is there but nobody wrote it", what, name)
		case o == acked && n != 1:
			t.Errorf("%s %s was acknowledged and is there %d times, want exactly once", what, name, n)
		case o == failed && n != 0:
			t.Errorf("%s %s was refused and is there %d times, want none", what, name, n)
		case o == unknown && n > 1:
			t.Errorf("%s %s (unknown outcome) is there %d times, want at most once", what, name, n)
		}
	}
	expectAll := func(what string, m map[string]outcome, got map[string]int) {
		t.Helper()
		for name, o := range m {
			expect(what, name, o, true, got[name])
		}
		for name, n := range got {
			if _, ok := m[name]; !ok {
				expect(what, name, 0, false, n)
			}
		}
	}

	var streamMsgs int64 = -1
	var queueLen int64 = -1
	for i, addr := range addrs {
		one, err := waymaker.Connect(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer one.Close()
		// KV: the keys this node lists, and every acked key's value.
		b, err := one.KeyValue().Open(ctx, "soak")
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		keys := map[string]int{}
		for k, err := range b.Keys(ctx).All() {
			if err != nil {
				t.Fatalf("node %d: keys: %v", i+1, err)
			}
			keys[k]++
		}
		expectAll(fmt.Sprintf("node %d: key", i+1), h.keys, keys)
		j := 0
		for k, o := range h.keys {
			j++
			if o == failed || (o == unknown && keys[k] == 0) || j%len(addrs) != i {
				continue // each value read on one node
			}
			// A stale read: this node's own copy, which its start-up
			// barrier and the quiet cluster have brought up to date.
			e, err := b.Get(waymaker.StaleRead(ctx), k)
			if err != nil || string(e.Value) != k {
				t.Fatalf("node %d: key %s: %+v, %v", i+1, k, e, err)
			}
		}

		// Streams and the queue: every node holds the same count.
		s, err := one.Streams().Get(ctx, "soak")
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		if streamMsgs >= 0 && info.State.Msgs != streamMsgs {
			t.Errorf("node %d holds %d messages, node 1 %d", i+1, info.State.Msgs, streamMsgs)
		}
		streamMsgs = info.State.Msgs
		q, err := one.Collections().Queue(ctx, "soak")
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		ql, err := q.Len(ctx)
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		if queueLen >= 0 && ql.Total() != queueLen {
			t.Errorf("node %d holds %d queued messages, node 1 %d", i+1, ql.Total(), queueLen)
		}
		queueLen = ql.Total()

		// Objects, each read from one node in turn.
		ostore, err := one.Objects().Store(ctx, "soak")
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		j = 0
		for name, o := range h.objects {
			j++
			if o == failed || j%len(addrs) != i {
				continue
			}
			got, err := ostore.GetBytes(ctx, name)
			if o == unknown && errors.Is(err, transport.ErrNotFound) {
				continue
			}
			if err != nil || sha256.Sum256(got) != h.digests[name] {
				t.Errorf("node %d: object %s (%d bytes): digest differs or %v", i+1, name, len(got), err)
			}
		}
	}

	// Every message once: read the whole stream with an ephemeral
	// consumer that needs no acks.
	cons, err := c.Streams().Stream("soak").CreateConsumer(ctx, stream.ConsumerConfig{AckPolicy: stream.AckNone, InactiveThreshold: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	msgs := map[string]int{}
	for read := int64(0); read < streamMsgs; {
		batch, err := cons.Fetch(ctx, 1000, 5*time.Second)
		if err != nil || len(batch) == 0 {
			t.Fatalf("stream: %d of %d messages read: %v", read, streamMsgs, err)
		}
		for _, m := range batch {
			msgs[m.MsgID]++
			if string(m.Payload) != m.MsgID {
				t.Errorf("message %s at seq %d carries %q", m.MsgID, m.StreamSeq, m.Payload)
			}
		}
		read += int64(len(batch))
	}
	expectAll("message", h.msgs, msgs)

	// Every push once: drain the queue (popped messages stay hidden for
	// its hour-long visibility timeout).
	pushes := map[string]int{}
	for {
		batch, err := queue.PopBatch(ctx, 0, 1000)
		if errors.Is(err, transport.ErrExpired) {
			break
		}
		if err != nil {
			t.Fatalf("queue: drain after %d messages: %v", len(pushes), err)
		}
		for _, m := range batch {
			pushes[m.ID]++
			if string(m.Payload) != m.ID {
				t.Errorf("queue message %s carries %q", m.ID, m.Payload)
			}
		}
	}
	expectAll("queue message", h.pushes, pushes)

	// Fence tokens: an acquisition that began after another of the same
	// lock had been granted (its Acquire returned) was granted later in
	// the log, so its token is higher.
	byKey := map[string][]grant{}
	for _, g := range h.grants {
		byKey[g.key] = append(byKey[g.key], g)
	}
	for key, gs := range byKey {
		tokens := map[uint64]bool{}
		for _, b := range gs {
			if tokens[b.token] {
				t.Errorf("lock %s: fence token %d granted twice", key, b.token)
			}
			tokens[b.token] = true
			for _, a := range gs {
				if a.end.Before(b.start) && a.token >= b.token {
					t.Errorf("lock %s: token %d granted after token %d went backwards", key, b.token, a.token)
				}
			}
		}
	}
}
