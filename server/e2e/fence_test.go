package e2e

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/cache"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/objstore"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/stream"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// wantFenced checks err is a fenced refusal, by every way a caller tells
// one, naming the current token.
func wantFenced(t testing.TB, what string, err error, current uint64) {
	t.Helper()
	if !errors.Is(err, waymaker.ErrFenced) || !errors.Is(err, transport.ErrFenced) || !waymaker.IsServerCode(err, "fenced") {
		t.Fatalf("%s: %v, want a fenced refusal", what, err)
	}
	if want := "current token " + strconv.FormatUint(current, 10); !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: %v, want it to say %q", what, err, want)
	}
}

// fenceWorld is one resource of each kind a fence guards.
type fenceWorld struct {
	bucket *waymaker.KVBucket
	stream *waymaker.Stream
	hashes *waymaker.HashStore
	queue  *waymaker.Queue
	store  *waymaker.ObjectStore
}

func newFenceWorld(t *testing.T, c *waymaker.Client) fenceWorld {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	n := name(t)
	var w fenceWorld
	var err error
	if w.bucket, err = c.CreateKV(ctx, waymaker.KVConfig{Name: n}); err != nil {
		t.Fatal(err)
	}
	w.stream = newStream(t, c, waymaker.StreamConfig{Name: n})
	if w.hashes, err = c.CreateHashStore(ctx, waymaker.HashStoreConfig{Name: n + "_h"}); err != nil {
		t.Fatal(err)
	}
	if w.queue, err = c.CreateQueue(ctx, waymaker.QueueConfig{Name: n + "_q"}); err != nil {
		t.Fatal(err)
	}
	w.store = newObjectStore(t, c, waymaker.ObjectStoreConfig{Name: n + "_o"})
	return w
}

// writeAll makes one fenced write of each kind and answers the first error.
func (w fenceWorld) writeAll(ctx context.Context, f transport.Fence, tag string) error {
	if _, err := w.bucket.Put(ctx, "k", []byte(tag), kv.WithFence(f)); err != nil {
		return err
	}
	if _, err := w.stream.Publish(ctx, w.stream.Name()+".x", []byte(tag), stream.WithFence(f)); err != nil {
		return err
	}
	if _, err := w.hashes.WithFence(f).Set(ctx, "h", map[string][]byte{"f": []byte(tag)}); err != nil {
		return err
	}
	if _, err := w.queue.WithFence(f).Push(ctx, []byte(tag)); err != nil {
		return err
	}
	_, err := w.store.PutBytes(ctx, "o", []byte(tag), objstore.WithFence(f))
	return err
}

// snapshot is what the world holds, to tell that a refusal changed nothing.
type fenceState struct {
	kv, hash, object string
	streamMsgs       int64
	queued           int64
}

func (w fenceWorld) state(t *testing.T, ctx context.Context) fenceState {
	t.Helper()
	var s fenceState
	if e, err := w.bucket.Get(ctx, "k"); err == nil {
		s.kv = string(e.Value)
	} else if !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatal(err)
	}
	info, err := w.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.streamMsgs = info.State.Msgs
	if v, err := w.hashes.Get(ctx, "h", "f"); err == nil {
		s.hash = string(v)
	} else if !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatal(err)
	}
	ql, err := w.queue.Len(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.queued = ql.Ready
	if b, err := w.store.GetBytes(ctx, "o"); err == nil {
		s.object = string(b)
	} else if !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatal(err)
	}
	return s
}

// expectRefusedEverywhere makes each kind of write under the stale fence f
// and checks each is refused, naming current, and that nothing changed.
func (w fenceWorld) expectRefusedEverywhere(t *testing.T, ctx context.Context, f transport.Fence, current uint64) {
	t.Helper()
	before := w.state(t, ctx)
	_, err := w.bucket.Put(ctx, "k", []byte("stale"), kv.WithFence(f))
	wantFenced(t, "kv put", err, current)
	_, err = w.bucket.Delete(ctx, "k", kv.WithFence(f))
	wantFenced(t, "kv delete", err, current)
	_, err = w.stream.Publish(ctx, w.stream.Name()+".x", []byte("stale"), stream.WithFence(f))
	wantFenced(t, "publish", err, current)
	fut, err := w.stream.PublishAsync(ctx, w.stream.Name()+".x", []byte("stale"), stream.WithFence(f))
	if err != nil {
		t.Fatal(err)
	}
	_, err = fut.Wait(ctx)
	wantFenced(t, "async publish", err, current)
	_, err = w.stream.PublishBatch(ctx, []stream.Message{{Subject: w.stream.Name() + ".x", Data: []byte("stale")}}, stream.WithFence(f))
	wantFenced(t, "batch publish", err, current)
	_, err = w.hashes.WithFence(f).Set(ctx, "h", map[string][]byte{"f": []byte("stale")})
	wantFenced(t, "hash set", err, current)
	_, err = w.queue.WithFence(f).Push(ctx, []byte("stale"))
	wantFenced(t, "queue push", err, current)
	err = w.store.Delete(ctx, "o", objstore.WithFence(f))
	wantFenced(t, "object delete", err, current)
	_, err = w.store.PutBytes(ctx, "o", []byte("stale"), objstore.WithFence(f))
	wantFenced(t, "object put", err, current)
	if after := w.state(t, ctx); after != before {
		t.Fatalf("refused writes changed the state: %+v, was %+v", after, before)
	}
}

// A holder's fenced writes land; once its lease expired and another holds
// the lock, every write under the old token is refused and changes
// nothing, and the new holder's token works.
func TestFenceRefusesTheHolderWhoseLeaseExpired(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	w := newFenceWorld(t, c)
	key := name(t)
	a, err := c.AcquireLock(ctx, key, waymaker.LockConfig{LeaseTTL: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.writeAll(ctx, a.Fence(), "a"); err != nil {
		t.Fatalf("the holder's fenced writes: %v", err)
	}
	if s := w.state(t, ctx); s.kv != "a" || s.hash != "a" || s.object != "a" || s.streamMsgs != 1 || s.queued != 1 {
		t.Fatalf("after the holder's writes: %+v", s)
	}
	// No renewal: the server expires A's lease, and B, waiting, gets the key.
	b, err := c.AcquireLock(ctx, key, waymaker.LockConfig{MaxWait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Unlock(context.Background()) }()
	if b.FenceToken() <= a.FenceToken() {
		t.Fatalf("token %d after %d", b.FenceToken(), a.FenceToken())
	}
	w.expectRefusedEverywhere(t, ctx, a.Fence(), b.FenceToken())
	if err := w.writeAll(ctx, b.Fence(), "b"); err != nil {
		t.Fatalf("the new holder's fenced writes: %v", err)
	}
	if err := w.store.Delete(ctx, "o", objstore.WithFence(b.Fence())); err != nil {
		t.Fatalf("the new holder's fenced object delete: %v", err)
	}
	if s := w.state(t, ctx); s.kv != "b" || s.hash != "b" || s.object != "" || s.streamMsgs != 2 || s.queued != 2 {
		t.Fatalf("after the new holder's writes: %+v", s)
	}
}

// After Unlock the token is refused (nobody holds the key), and stays
// refused once another holder takes the key.
func TestFenceRefusesAfterUnlock(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	w := newFenceWorld(t, c)
	key := name(t)
	a, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.writeAll(ctx, a.Fence(), "a"); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = w.bucket.Put(ctx, "k", []byte("late"), kv.WithFence(a.Fence()))
	wantFenced(t, "put after unlock", err, 0)
	if !strings.Contains(err.Error(), "not held") {
		t.Fatalf("put after unlock: %v, want it to say the lock is not held", err)
	}
	b, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Unlock(context.Background()) }()
	w.expectRefusedEverywhere(t, ctx, a.Fence(), b.FenceToken())
	// A token never granted, a read lock's, and another key's are refused too.
	_, err = w.bucket.Put(ctx, "k", []byte("x"), kv.WithFence(transport.Fence{Key: key, Token: b.FenceToken() + 1}))
	wantFenced(t, "a newer token", err, b.FenceToken())
	r, err := c.Locks().AcquireRead(ctx, key+"_r", waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Unlock(context.Background()) }()
	_, err = w.bucket.Put(ctx, "k", []byte("x"), kv.WithFence(r.Fence()))
	wantFenced(t, "a read lock's token", err, 0)
	_, err = w.bucket.Put(ctx, "k", []byte("x"), kv.WithFence(transport.Fence{Key: key + "_other", Token: b.FenceToken()}))
	wantFenced(t, "another key", err, 0)
	if _, err := w.bucket.Put(ctx, "k", []byte("b"), kv.WithFence(b.Fence())); err != nil {
		t.Fatal(err)
	}
}

// The check is part of apply: through a leader kill it still refuses a
// stale token and accepts the current one.
func TestFenceThroughALeaderKill(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 30*time.Second)
	b, err := cl.KeyValue().Create(ctx, kv.Config{Name: "fenced"})
	if err != nil {
		t.Fatal(err)
	}
	old, err := cl.AcquireLock(ctx, "leader", waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	cur, err := cl.AcquireLock(ctx, "leader", waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "k", []byte("before"), kv.WithFence(cur.Fence())); err != nil {
		t.Fatal(err)
	}
	c.Kill(c.Leader())
	_, err = b.Put(ctx, "k", []byte("stale"), kv.WithFence(old.Fence()))
	wantFenced(t, "stale token after the leader kill", err, cur.FenceToken())
	if _, err := b.Put(ctx, "k", []byte("after"), kv.WithFence(cur.Fence())); err != nil {
		t.Fatalf("current token after the leader kill: %v", err)
	}
	if e, err := b.Get(ctx, "k"); err != nil || string(e.Value) != "after" {
		t.Fatalf("value %+v, %v; want after", e, err)
	}
}

// A fence without a key or with token 0 is refused as invalid, naming the
// field, by the SDK before sending and by the server for any client.
func TestFenceBadInputIsInvalid(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 10*time.Second)
	w := newFenceWorld(t, c)
	for _, bad := range []struct {
		f     transport.Fence
		field string
	}{{transport.Fence{Token: 1}, "fence.key"}, {transport.Fence{Key: "k"}, "fence.token"}} {
		errs := map[string]error{}
		_, errs["kv put"] = w.bucket.Put(ctx, "k", []byte("x"), kv.WithFence(bad.f))
		_, errs["publish"] = w.stream.Publish(ctx, w.stream.Name()+".x", nil, stream.WithFence(bad.f))
		_, errs["hash set"] = w.hashes.WithFence(bad.f).Set(ctx, "h", map[string][]byte{"f": nil})
		_, errs["queue push"] = w.queue.WithFence(bad.f).Push(ctx, nil)
		errs["object delete"] = w.store.Delete(ctx, "o", objstore.WithFence(bad.f))
		for what, err := range errs {
			var e *waymaker.Error
			if !errors.As(err, &e) || e.Kind != transport.KindInvalid || !strings.Contains(e.Message, bad.field) {
				t.Errorf("%s with fence %+v: %v, want invalid naming %s", what, bad.f, err, bad.field)
			}
		}
	}
	// The server's own check, for clients that skip the SDK's.
	raw := kvpb.NewKVServiceClient(c.Conn())
	for _, bad := range []struct {
		f     *commonpb.Fence
		field string
	}{
		{&commonpb.Fence{Token: 1}, "fence.key"},
		{&commonpb.Fence{Key: "k"}, "fence.token"},
		{&commonpb.Fence{Key: strings.Repeat("k", 2000), Token: 1}, "fence.key"},
	} {
		resp, err := raw.Put(ctx, &kvpb.KVServicePutRequest{Bucket: w.bucket.Name(), Key: "k", Value: []byte("x"), Fence: bad.f})
		r := resp.GetResult()
		if err != nil || r.GetResultCode() != "invalid_argument" || !strings.HasPrefix(r.GetMessage(), bad.field) {
			t.Errorf("raw put with fence %.20q/%d: %v %v, want invalid_argument naming %s", bad.f.GetKey(), bad.f.GetToken(), r, err, bad.field)
		}
	}
	praw := objstorepb.NewObjectStoreServiceClient(c.Conn())
	st, err := praw.Put(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hdr := &objstorepb.ObjectPutHeader{Store: w.store.Name(), Meta: &objstorepb.ObjectMeta{Name: "o"}, Fence: &commonpb.Fence{Key: "k"}}
	if err := st.Send(&objstorepb.ObjectStoreServicePutRequest{Part: &objstorepb.ObjectStoreServicePutRequest_Header{Header: hdr}}); err != nil {
		t.Fatal(err)
	}
	resp, err := st.CloseAndRecv()
	if err != nil || resp.GetResult().GetResultCode() != "invalid_argument" || !strings.Contains(resp.GetResult().GetMessage(), "header.fence.token") {
		t.Fatalf("object put with a bad fence: %v %v", resp, err)
	}
	if _, err := w.store.GetInfo(ctx, "o"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("a refused put stored something: %v", err)
	}
}

// The check reads replicated lock state, which a restart replays: a stale
// token stays refused and the current one accepted, and a refused write
// retried with its request id is answered the same.
func TestFenceHoldsAcrossRestart(t *testing.T) {
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir())
	ctx := testCtx(t, 30*time.Second)
	b, err := c.CreateKV(ctx, waymaker.KVConfig{Name: name(t)})
	if err != nil {
		t.Fatal(err)
	}
	old, err := c.AcquireLock(ctx, "leader", waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	cur, err := c.AcquireLock(ctx, "leader", waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	raw := kvpb.NewKVServiceClient(c.Conn())
	stale := &kvpb.KVServicePutRequest{RequestId: "fenced-retry", Bucket: b.Name(), Key: "k", Value: []byte("stale"), Fence: &commonpb.Fence{Key: "leader", Token: old.FenceToken()}}
	resp, err := raw.Put(ctx, stale)
	if err != nil || resp.GetResult().GetResultCode() != "fenced" {
		t.Fatalf("stale put: %v %v", resp, err)
	}
	srv.Restart()
	_, err = b.Put(ctx, "k", []byte("stale"), kv.WithFence(old.Fence()))
	wantFenced(t, "stale token after a restart", err, cur.FenceToken())
	again, err := raw.Put(ctx, stale)
	if err != nil || again.GetResult().GetResultCode() != "fenced" || again.GetResult().GetMessage() != resp.GetResult().GetMessage() {
		t.Fatalf("retry of the refused put after a restart: %v %v, want %v", again, err, resp)
	}
	if _, err := b.Put(ctx, "k", []byte("cur"), kv.WithFence(cur.Fence())); err != nil {
		t.Fatalf("current token after a restart: %v", err)
	}
}

// An object Put whose writer loses the lock while its data streams in
// commits nothing: the fence is checked at the commit.
func TestFencedObjectPutLosingTheLockMidwayStoresNothing(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	w := newFenceWorld(t, c)
	key := name(t)
	a, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := w.store.Put(ctx, waymaker.ObjectMeta{Name: "o"}, pr, objstore.WithFence(a.Fence()))
		done <- err
	}()
	// The first chunk has been read by Put once this write returns.
	if _, err := pw.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Unlock(context.Background()) }()
	_ = pw.Close()
	wantFenced(t, "object put that lost its lock midway", <-done, b.FenceToken())
	if _, err := w.store.GetInfo(ctx, "o"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("the refused put stored something: %v", err)
	}
}

// Cache policy changes take a fence too.
func TestFencedCachePolicy(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	w := newFenceWorld(t, c)
	stale, b := staleAndCurrent(t, ctx, c, name(t))
	p := waymaker.CachePolicy{Bucket: w.bucket.Name(), MaxEntries: 3}
	_, err := c.Cache().AttachPolicy(ctx, p, cache.WithFence(stale))
	wantFenced(t, "attach with a stale token", err, b.FenceToken())
	if _, err := c.Cache().Policy(ctx, w.bucket.Name()); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("a refused attach attached: %v", err)
	}
	if _, err := c.Cache().AttachPolicy(ctx, p, cache.WithFence(b.Fence())); err != nil {
		t.Fatal(err)
	}
	err = c.Cache().DetachPolicy(ctx, w.bucket.Name(), cache.WithFence(stale))
	wantFenced(t, "detach with a stale token", err, b.FenceToken())
	if err := c.Cache().DetachPolicy(ctx, w.bucket.Name(), cache.WithFence(b.Fence())); err != nil {
		t.Fatal(err)
	}
}

// The paused leader: A holds the lock, renews it and writes fenced puts;
// A pauses (no renewal, no writes) past its lease; B takes the lock and
// writes; A resumes and keeps writing with its token, concurrently with B.
// Every write of A after the pause is refused, every write of B lands, and
// the key's history, in revision order, holds A's writes from before the
// pause and then only B's.
func TestFencePausedLeaderCannotWriteAfterItsSuccessor(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	bucket, err := c.CreateKV(ctx, waymaker.KVConfig{Name: name(t), History: 64})
	if err != nil {
		t.Fatal(err)
	}
	key := name(t)
	a, err := c.AcquireLock(ctx, key, waymaker.LockConfig{LeaseTTL: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	renewal := a.SpawnRenewal(100 * time.Millisecond)
	const n = 10
	for i := range n {
		if _, err := bucket.Put(ctx, "w", []byte("a"+strconv.Itoa(i)), kv.WithFence(a.Fence())); err != nil {
			t.Fatalf("A's write %d while holding: %v", i, err)
		}
	}
	renewal.Stop() // the pause: A neither renews nor writes
	b, err := c.AcquireLock(ctx, key, waymaker.LockConfig{MaxWait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Unlock(context.Background()) }()
	aErrs := make(chan error, n)
	go func() { // A resumes, unaware
		for i := range n {
			_, err := bucket.Put(ctx, "w", []byte("A"+strconv.Itoa(i)), kv.WithFence(a.Fence()))
			aErrs <- err
		}
	}()
	for i := range n {
		if _, err := bucket.Put(ctx, "w", []byte("b"+strconv.Itoa(i)), kv.WithFence(b.Fence())); err != nil {
			t.Fatalf("B's write %d: %v", i, err)
		}
	}
	for range n {
		wantFenced(t, "A's write after the pause", <-aErrs, b.FenceToken())
	}
	hist, err := bucket.History(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range hist {
		got = append(got, string(e.Value))
	}
	want := make([]string, 0, 2*n)
	for i := range n {
		want = append(want, "a"+strconv.Itoa(i))
	}
	for i := range n {
		want = append(want, "b"+strconv.Itoa(i))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("history %v, want %v", got, want)
	}
}
