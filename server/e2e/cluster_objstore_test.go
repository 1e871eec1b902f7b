package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/objstore"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

// record is what a test's interceptor saw, in order; safe for concurrent
// use.
type record[T any] struct {
	mu   sync.Mutex
	seen []T
}

func (r *record[T]) add(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, v)
}

// since is what was seen after the first n.
func (r *record[T]) since(n int) []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.seen[n:]...)
}

func (r *record[T]) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// getServers records which node served each object Get stream.
type getServers struct{ record[string] }

func (g *getServers) option() waymakertest.Option {
	return waymakertest.WithConfig(func(cfg *server.Config) {
		id := cfg.NodeID
		cfg.GRPCOptions = append(cfg.GRPCOptions, grpc.ChainStreamInterceptor(
			func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				if info.FullMethod == "/waymaker.v1.ObjectStoreService/Get" {
					g.add(id)
				}
				return h(srv, ss)
			}))
		// Short, so the test sees an abandoned upload collected.
		cfg.Limits.ObjectUploadTimeoutMs = 1500
		// Megabytes through raft under -race on a loaded 2-core machine
		// starve 150 ms timeouts into elections now and then.
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, time.Second
	})
}

// blobFiles counts the blob files in a node's data dir.
func blobFiles(t *testing.T, c *waymakertest.Cluster, i int) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(c.Node(i).DataDir(), "objstore", "blobs"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(entries)
}

// gatedReader yields head, then blocks until release is closed, then
// yields tail.
type gatedReader struct {
	head, tail []byte
	reached    chan struct{}
	release    chan struct{}
	gated      bool
}

func (r *gatedReader) Read(p []byte) (int, error) {
	if len(r.head) > 0 {
		n := copy(p, r.head)
		r.head = r.head[n:]
		return n, nil
	}
	if !r.gated {
		r.gated = true
		close(r.reached)
		<-r.release
	}
	if len(r.tail) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.tail)
	r.tail = r.tail[n:]
	return n, nil
}

// An object's chunks travel through raft, so every node holds it and
// serves its Get from its own copy; a download resumes on another node at
// the next chunk when the node serving it (the leader) is killed, and the
// digest matches; a Put cut by a leader kill leaves nothing visible, the
// old version readable everywhere, and its chunks collected by a tick.
func TestClusterObjectsOnEveryReplica(t *testing.T) {
	var gets getServers
	c := waymakertest.StartCluster(t, 3, withSuite(t, gets.option())...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 60*time.Second)
	s := newObjectStore(t, cl, waymaker.ObjectStoreConfig{ChunkSize: 256 << 10})
	data := objRandBytes(4<<20+12345, 7)
	putSetup(t, ctx, s, "big", data)
	old := objRandBytes(300<<10, 8)
	oldInfo := putSetup(t, ctx, s, "doc", old)

	// Every node serves both from its own copy (a follower no longer
	// forwards the Get).
	for i := range 3 {
		one, err := waymaker.Connect(ctx, c.Node(i).Addr(), suiteClientOptions()...)
		if err != nil {
			t.Fatal(err)
		}
		n := gets.count()
		st := newObjectStoreHandle(t, one, s.Name())
		if got, err := st.GetBytes(ctx, "big"); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("node %d: Get: %d bytes, %v", i, len(got), err)
		}
		if by := gets.since(n); len(by) != 1 || by[0] != "node"+strconv.Itoa(i+1) {
			t.Fatalf("node %d's Get was served by %v", i, by)
		}
		if got := blobFiles(t, c, i); got != 2 {
			t.Fatalf("node %d holds %d blob files, want 2", i, got)
		}
		one.Close()
	}

	// Mid-Get: the node serving the download is made the leader and
	// killed; the Reader resumes on another node. Small flow-control
	// windows keep most of the object on the server when the kill comes.
	small, err := waymaker.ConnectMulti(ctx, c.Addrs(), append(suiteClientOptions(),
		waymaker.WithBackoff(waymaker.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}),
		waymaker.WithDialOptions(grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10)))...)
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	n := gets.count()
	r, err := newObjectStoreHandle(t, small, s.Name()).Get(ctx, "big", objstore.WithReadAhead(1))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatal(err)
	}
	serving := gets.since(n)[0]
	idx, _ := strconv.Atoi(serving[len("node"):])
	idx--
	if c.Leader() != idx {
		if _, err := cl.Cluster().TransferLeadership(ctx, serving); err != nil {
			t.Fatalf("transfer leadership to %s: %v", serving, err)
		}
		waitFor(t, 10*time.Second, serving+" leading", func() bool { return c.Leader() == idx })
	}
	c.Kill(idx)
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading across the kill of the leader: %v", err)
	}
	if got := append(head, rest...); !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes across the kill, want the %d bytes put, each once", len(got), len(data))
	}
	resumed := gets.since(n)[1:]
	if len(resumed) == 0 || resumed[0] == serving {
		t.Fatalf("after the kill of %s the download was served by %v: it never resumed elsewhere", serving, resumed)
	}
	c.Restart(idx)

	// Mid-Put: a new version of doc is half sent when the leader dies.
	leader := c.Leader()
	gr := &gatedReader{head: objRandBytes(1<<20, 9), tail: objRandBytes(1<<20, 10), reached: make(chan struct{}), release: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Put(ctx, waymaker.ObjectMeta{Name: "doc"}, gr)
		errc <- err
	}()
	select {
	case <-gr.reached:
	case err := <-errc:
		t.Fatalf("Put ended before the kill: %v", err)
	}
	c.Kill(leader)
	close(gr.release)
	if err := <-errc; err == nil {
		t.Fatal("a Put cut by the leader's kill succeeded")
	}
	info, err := s.GetInfo(ctx, "doc")
	if err != nil || info.Revision != oldInfo.Revision || info.Digest() != oldInfo.Digest() {
		t.Fatalf("after the cut Put: %+v, %v; want the old version", info, err)
	}
	for _, i := range c.Running() {
		one, err := waymaker.Connect(ctx, c.Node(i).Addr(), suiteClientOptions()...)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := newObjectStoreHandle(t, one, s.Name()).GetBytes(ctx, "doc"); err != nil || !bytes.Equal(got, old) {
			t.Fatalf("node %d: old version: %d bytes, %v", i, len(got), err)
		}
		one.Close()
		// The cut upload's chunks that reached raft are collected.
		waitFor(t, 15*time.Second, "the cut upload collected on node "+strconv.Itoa(i), func() bool { return blobFiles(t, c, i) == 2 })
	}
	// A new Put on the new leader works, and the restarted node has it.
	next := objRandBytes(1<<20, 11)
	putSetup(t, ctx, s, "doc", next)
	c.Restart(leader)
	one, err := waymaker.Connect(ctx, c.Node(leader).Addr(), suiteClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if got, err := newObjectStoreHandle(t, one, s.Name()).GetBytes(ctx, "doc"); err != nil || !bytes.Equal(got, next) {
		t.Fatalf("restarted node %d: %d bytes, %v", leader, len(got), err)
	}
	waitFor(t, 15*time.Second, "the restarted node's blobs settled", func() bool { return blobFiles(t, c, leader) == 2 })
	if err := context.Cause(ctx); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("the test ran out of time")
	}
}

// newObjectStoreHandle opens the existing store name through cl.
func newObjectStoreHandle(t testing.TB, cl *waymaker.Client, name string) *waymaker.ObjectStore {
	t.Helper()
	s, err := cl.Objects().Store(testCtx(t, 10*time.Second), name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// putSetup puts data, retrying a Put cut by an election: on this loaded
// 2-core machine, a test cluster's 150 ms timeouts now and then elect a
// new leader mid-upload, and a Put is not retried by the SDK (its reader
// cannot be rewound). Only Unavailable is retried.
func putSetup(t *testing.T, ctx context.Context, s *waymaker.ObjectStore, name string, data []byte) waymaker.ObjectInfo {
	t.Helper()
	for attempt := 1; ; attempt++ {
		info, err := s.PutBytes(ctx, name, data)
		if err == nil {
			return info
		}
		if !errors.Is(err, waymaker.ErrUnavailable) && !waymaker.IsServerCode(err, "unavailable") || attempt == 3 {
			t.Fatalf("put %s: %v", name, err)
		}
		t.Logf("put %s, attempt %d: %v", name, attempt, err)
	}
}

// A node that joins after the log was compacted catches up by snapshot
// install, and the snapshot carries everything: object data (the joiner
// had none of it), KV keys and stream messages. Scaled to fit CI: 8 MiB of
// objects, 2,000 keys, 20,000 messages (the figures are 256 MiB,
// 100,000 and 1,000,000).
func TestClusterJoinInstallsObjectsKVAndStreams(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	c := waymakertest.StartCluster(t, 3, withSuite(t, waymakertest.WithConfig(func(cfg *server.Config) {
		cfg.SnapshotThreshold, cfg.SnapshotInterval, cfg.TrailingLogs = 64, 50*time.Millisecond, 16
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, time.Second
		if cfg.NodeID == "node4" {
			cfg.Logger = zap.New(core)
		}
	}))...)
	cl := connect(t, c.Node(c.Leader()).Addr())
	ctx := testCtx(t, 120*time.Second)
	objs := newObjectStore(t, cl, waymaker.ObjectStoreConfig{ChunkSize: 128 << 10})
	want := map[string][]byte{}
	for i := range 4 {
		n := "o" + strconv.Itoa(i)
		want[n] = objRandBytes(2<<20+i, uint64(100+i))
		putSetup(t, ctx, objs, n, want[n])
	}
	const keys, msgs = 2000, 20000
	b, err := cl.KeyValue().Create(ctx, kv.Config{Name: name(t)})
	if err != nil {
		t.Fatal(err)
	}
	forEachInParallel(t, 16, keys, func(i int) error {
		_, err := b.Put(ctx, "k"+strconv.Itoa(i), []byte(strconv.Itoa(i)))
		return err
	})
	sname := name(t)
	st, err := cl.Streams().Create(ctx, stream.Config{Name: sname, Subjects: []string{sname}})
	if err != nil {
		t.Fatal(err)
	}
	publishInThousands(t, ctx, st, sname, msgs, func(i int) []byte { return []byte(strconv.Itoa(i)) })

	start := time.Now()
	j := c.Join()
	t.Logf("node4 joined and caught up in %v", time.Since(start))
	if logs.FilterMessage("Installed remote snapshot").Len() == 0 {
		t.Fatal("node4 caught up from the log: the test did not exercise a snapshot install")
	}
	one := connect(t, c.Node(j).Addr())
	ostore := newObjectStoreHandle(t, one, objs.Name())
	for n, data := range want {
		if got, err := ostore.GetBytes(ctx, n); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("node4: object %s: %d bytes, %v", n, len(got), err)
		}
	}
	if got := blobFiles(t, c, j); got != len(want) {
		t.Fatalf("node4 holds %d blob files, want %d", got, len(want))
	}
	jb, err := one.KeyValue().Open(ctx, b.Name())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < keys; i += 97 {
		e, err := jb.Get(ctx, "k"+strconv.Itoa(i))
		if err != nil || string(e.Value) != strconv.Itoa(i) {
			t.Fatalf("node4: key k%d: %v, %v", i, e, err)
		}
	}
	js, err := one.Streams().Get(ctx, sname)
	if err != nil {
		t.Fatal(err)
	}
	info, err := js.Info(ctx)
	if err != nil || info.State.Msgs != msgs || info.State.LastSeq != msgs {
		t.Fatalf("node4: stream state %+v, %v", info, err)
	}
	if m, err := js.GetMsg(ctx, msgs); err != nil || string(m.Payload) != strconv.Itoa(msgs-1) {
		t.Fatalf("node4: last message %v, %v", m, err)
	}
}
