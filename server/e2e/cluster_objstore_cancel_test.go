package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// putHandlers records, on every node, each Put stream that reached the
// object store's handler (the router runs before the interceptors of
// Config.GRPCOptions, so a follower that forwards a Put never records it)
// and whether a follower forwarded it there.
type putHandlers struct{ record[handledPut] }

type handledPut struct {
	node      string
	forwarded bool
}

// forwardedMD is the metadata key a follower marks a forwarded call with
// (server's forwardedKey).
const forwardedMD = "waymaker-forwarded"

func (p *putHandlers) option() waymakertest.Option {
	return waymakertest.WithConfig(func(cfg *server.Config) {
		id := cfg.NodeID
		cfg.GRPCOptions = append(cfg.GRPCOptions, grpc.ChainStreamInterceptor(
			func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				if info.FullMethod == "/waymaker.v1.ObjectStoreService/Put" {
					md, _ := metadata.FromIncomingContext(ss.Context())
					p.add(handledPut{node: id, forwarded: len(md.Get(forwardedMD)) > 0})
				}
				return h(srv, ss)
			}))
		// The upload timeout stays the default (minutes): the abandoned
		// uploads here must be collected by the Put's own discard, not by
		// the tick that would hide a missing one.
		//
		// Object data through raft under -race on a loaded 2-core machine
		// starves 150 ms timeouts into elections now and then.
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, time.Second
	})
}

// blobDir lists the blob files in a node's data dir, name → size.
func blobDir(t *testing.T, c *waymakertest.Cluster, i int) map[string]int64 {
	t.Helper()
	dir := filepath.Join(c.Node(i).DataDir(), "objstore", "blobs")
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, e := range entries {
		fi, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue // removed since the listing
		}
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fi.Size()
	}
	return out
}

func sameBlobs(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// cutProxy relays TCP connections to target until cut, which drops every
// connection abruptly (a reset, no goodbye) and accepts no more: to the
// server, its client vanished.
type cutProxy struct {
	lis    net.Listener
	target string
	mu     sync.Mutex
	conns  []*net.TCPConn
	wg     sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{lis: lis, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) addr() string { return p.lis.Addr().String() }

func (p *cutProxy) accept() {
	for {
		in, err := p.lis.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in.(*net.TCPConn), out.(*net.TCPConn))
		p.mu.Unlock()
		for _, dir := range [][2]net.Conn{{in, out}, {out, in}} {
			p.wg.Go(func() {
				_, _ = io.Copy(dir[1], dir[0])
				dir[0].Close()
				dir[1].Close()
			})
		}
	}
}

func (p *cutProxy) cut() {
	p.lis.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.SetLinger(0) // close with a reset
		c.Close()
	}
}

// A Put abandoned mid-stream in a three-node cluster, through a follower
// that forwards it to the leader, leaves nothing visible on any node, and
// its chunks, which raft had already written into every node's blob store,
// are collected on every node by the leader's discard; the previous
// version stays readable everywhere, during the abandoned Put and after.
// The writer abandons it three ways: its context is cancelled, its client
// is closed, its connection is cut under it.
func TestClusterObjstoreCancelledPutLeavesNothing(t *testing.T) {
	var puts putHandlers
	c := waymakertest.StartCluster(t, 3, withSuite(t, puts.option())...)
	ctx := testCtx(t, 90*time.Second)
	const cs = 4 << 10 // 17 chunks for version 1, 10 sent of the next
	s := newObjectStore(t, connectCluster(t, c), waymaker.ObjectStoreConfig{ChunkSize: cs})
	v1 := objRandBytes(16*cs+123, 21)
	info1 := putSetup(t, ctx, s, "o", v1)
	if info1.Chunks != 17 || info1.ChunkSize != cs {
		t.Fatalf("version 1 stored as %d chunks of %d bytes, want 17 of %d", info1.Chunks, info1.ChunkSize, cs)
	}
	// One client per node, to read each node's own copy.
	var readers []*waymaker.ObjectStore
	for i := range 3 {
		readers = append(readers, newObjectStoreHandle(t, connect(t, c.Node(i).Addr()), s.Name()))
	}
	// Every node holds version 1's blob and nothing else.
	var base map[string]int64
	waitFor(t, 10*time.Second, "version 1's blob on every node", func() bool {
		base = blobDir(t, c, 0)
		for i := range 3 {
			if len(base) != 1 || !sameBlobs(blobDir(t, c, i), base) {
				return false
			}
		}
		return true
	})

	// onlyVersion1 checks that every node serves version 1 exactly, and
	// lists and describes it alone.
	onlyVersion1 := func(when string) {
		t.Helper()
		for i, r := range readers {
			got, err := r.GetBytes(ctx, "o")
			if err != nil {
				t.Fatalf("%s: node%d: Get: %v", when, i+1, err)
			}
			if sum := sha256.Sum256(got); hex.EncodeToString(sum[:]) != info1.Digest() || !bytes.Equal(got, v1) {
				t.Fatalf("%s: node%d: Get returned %d bytes of digest %x, want version 1's %d bytes of digest %s", when, i+1, len(got), sum, len(v1), info1.Digest())
			}
			info, err := r.GetInfo(ctx, "o")
			if err != nil || info.Revision != info1.Revision || info.Digest() != info1.Digest() || info.Size != int64(len(v1)) {
				t.Fatalf("%s: node%d: Info %+v, %v; want version 1 (revision %d)", when, i+1, info, err, info1.Revision)
			}
			objs, err := r.Objects(ctx)
			if err != nil || len(objs) != 1 || objs[0].Name != "o" || objs[0].Revision != info1.Revision || objs[0].Digest() != info1.Digest() {
				t.Fatalf("%s: node%d: List %+v, %v; want version 1 of o only", when, i+1, objs, err)
			}
			st, err := r.Status(ctx)
			if err != nil || st.Objects != 1 || st.Bytes != int64(len(v1)) {
				t.Fatalf("%s: node%d: Status %+v, %v; want 1 object of %d bytes", when, i+1, st, err, len(v1))
			}
		}
	}

	for n, abandon := range []struct {
		name string
		// writer returns the store handle the Put goes through (connected
		// to follower f only) and the way to abandon the Put.
		writer func(t *testing.T, f int) (*waymaker.ObjectStore, func(cancelPut context.CancelFunc))
		// wantErr checks the Put's error.
		wantErr func(err error) bool
	}{
		{
			name: "cancel",
			writer: func(t *testing.T, f int) (*waymaker.ObjectStore, func(context.CancelFunc)) {
				return readers[f], func(cancelPut context.CancelFunc) { cancelPut() }
			},
			wantErr: func(err error) bool { return errors.Is(err, context.Canceled) },
		},
		{
			name: "close",
			writer: func(t *testing.T, f int) (*waymaker.ObjectStore, func(context.CancelFunc)) {
				cl := connect(t, c.Node(f).Addr())
				return newObjectStoreHandle(t, cl, s.Name()), func(context.CancelFunc) { _ = cl.Close() }
			},
			wantErr: func(err error) bool { return err != nil },
		},
		{
			name: "cut",
			writer: func(t *testing.T, f int) (*waymaker.ObjectStore, func(context.CancelFunc)) {
				p := newCutProxy(t, c.Node(f).Addr())
				return newObjectStoreHandle(t, connect(t, p.addr()), s.Name()), func(context.CancelFunc) { p.cut() }
			},
			wantErr: func(err error) bool { return err != nil },
		},
	} {
		t.Run(abandon.name, func(t *testing.T) {
			for i := range 3 {
				if got := blobDir(t, c, i); !sameBlobs(got, base) {
					t.Fatalf("before the Put, node%d holds the blobs %v; want version 1's alone, %v", i+1, got, base)
				}
			}
			leader := c.Leader()
			f := (leader + 1) % 3
			w, abandonPut := abandon.writer(t, f)
			handled := puts.count()

			head := objRandBytes(10*cs, uint64(30+n))
			gr := &gatedReader{head: head, tail: objRandBytes(6*cs, uint64(40+n)), reached: make(chan struct{}), release: make(chan struct{})}
			pctx, cancelPut := context.WithCancel(ctx)
			defer cancelPut()
			errc := make(chan error, 1)
			go func() {
				_, err := w.Put(pctx, waymaker.ObjectMeta{Name: "o"}, gr)
				errc <- err
			}()
			released := false
			defer func() {
				if !released {
					close(gr.release)
				}
			}()
			select {
			case <-gr.reached:
			case err := <-errc:
				t.Fatalf("the Put ended before its reader blocked: %v", err)
			}
			// The ten chunks sent went through raft: every node has
			// written them into a second blob, the upload's.
			var upload string
			waitFor(t, 15*time.Second, "the upload's chunks on every node", func() bool {
				for i := range 3 {
					blobs := blobDir(t, c, i)
					if len(blobs) != 2 {
						return false
					}
					for id, size := range blobs {
						if _, old := base[id]; old {
							continue
						}
						if size != int64(len(head)) || upload != "" && id != upload {
							return false
						}
						upload = id
					}
				}
				return true
			})
			if got := puts.since(handled); len(got) != 1 || !got[0].forwarded || got[0].node != "node"+strconv.Itoa(leader+1) {
				t.Fatalf("the Put through node%d was handled as %+v; want once, forwarded, by the leader node%d", f+1, got, leader+1)
			}
			// The Put is in flight, its reader blocked: version 1 is what
			// every node serves.
			onlyVersion1("during the Put")

			abandonPut(cancelPut)
			released = true
			close(gr.release)
			select {
			case err := <-errc:
				if !abandon.wantErr(err) {
					t.Fatalf("the abandoned Put returned %v", err)
				}
				t.Logf("the abandoned Put returned: %v", err)
			case <-ctx.Done():
				t.Fatal("the abandoned Put never returned")
			}
			onlyVersion1("after the abandoned Put")
			// Its chunks are collected on every node: each blob store is
			// back to version 1's blob alone.
			for i := range 3 {
				waitFor(t, 10*time.Second, "the abandoned upload "+upload+" collected on node"+strconv.Itoa(i+1), func() bool {
					return sameBlobs(blobDir(t, c, i), base)
				})
			}
			onlyVersion1("after the collection")
			if got := puts.since(handled); len(got) != 1 {
				t.Fatalf("Put handlers after the abandoned Put: %+v; want the one", got)
			}
		})
	}
	// Nothing was left behind that stops a new version: one Put through a
	// follower replaces version 1 on every node.
	v2 := objRandBytes(5*cs, 50)
	f := (c.Leader() + 1) % 3
	info2 := putSetup(t, ctx, readers[f], "o", v2)
	for i, r := range readers {
		if got, err := r.GetBytes(ctx, "o"); err != nil || !bytes.Equal(got, v2) {
			t.Fatalf("node%d: version 2: %d bytes, %v", i+1, len(got), err)
		}
	}
	if info2.Revision <= info1.Revision {
		t.Fatalf("version 2 at revision %d, version 1 at %d", info2.Revision, info1.Revision)
	}
	for i := range 3 {
		waitFor(t, 10*time.Second, "version 1's blob replaced by version 2's on node"+strconv.Itoa(i+1), func() bool {
			blobs := blobDir(t, c, i)
			for id := range base {
				if _, old := blobs[id]; old {
					return false
				}
			}
			return len(blobs) == 1
		})
	}
}
