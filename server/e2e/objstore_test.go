package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/objstore"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// randBytes returns n deterministic pseudo-random bytes.
func objRandBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func newObjectStore(t testing.TB, c *waymaker.Client, cfg waymaker.ObjectStoreConfig) *waymaker.ObjectStore {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = name(t)
	}
	s, err := c.CreateObjectStore(testCtx(t, 10*time.Second), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestObjstoreRoundTrips(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 5*time.Minute)
	s := newObjectStore(t, c, waymaker.ObjectStoreConfig{})
	for i, size := range []int{0, 1, 1023, 128 << 10, 128<<10 + 1, 1<<20 + 7, 64 << 20} {
		data := objRandBytes(size, uint64(i))
		name := fmt.Sprintf("obj-%d", size)
		var progressed int64
		// One option value serves both calls: it is a PutOption and a GetOption.
		progress := objstore.WithProgress(func(done, _ int64) { progressed = done })
		info, err := s.Put(ctx, waymaker.ObjectMeta{Name: name, Description: "size " + fmt.Sprint(size), Metadata: map[string]string{"k": "v"}},
			bytes.NewReader(data), progress)
		if err != nil {
			t.Fatalf("Put %d bytes: %v", size, err)
		}
		sum := sha256.Sum256(data)
		if info.Size != int64(size) || !bytes.Equal(info.SHA256, sum[:]) || progressed != int64(size) {
			t.Fatalf("Put %d bytes: info size %d digest %x progress %d", size, info.Size, info.SHA256, progressed)
		}
		if want := (int64(size) + objstore.DefaultChunkSize - 1) / objstore.DefaultChunkSize; info.Chunks != want {
			t.Fatalf("Put %d bytes: %d chunks, want %d", size, info.Chunks, want)
		}
		progressed = 0
		r, err := s.Get(ctx, name, progress)
		if err != nil {
			t.Fatalf("Get %d bytes: %v", size, err)
		}
		if got := r.Info(); got.Size != int64(size) || got.Description != "size "+fmt.Sprint(size) || got.Metadata["k"] != "v" || got.Revision != info.Revision {
			t.Fatalf("Get %d bytes: info %+v", size, got)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data) || progressed != int64(size) {
			t.Fatalf("Get %d bytes: %d bytes back, err %v, progress %d", size, len(got), err, progressed)
		}
	}
	// The convenience forms.
	if _, err := s.PutBytes(ctx, "bytes", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if b, err := s.GetBytes(ctx, "bytes"); err != nil || string(b) != "hello" {
		t.Fatalf("GetBytes = %q, %v", b, err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	want := objRandBytes(300<<10, 99)
	if err := os.WriteFile(src, want, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutFile(ctx, "file", src); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "dst")
	if err := s.GetFile(ctx, "file", dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, want) {
		t.Fatal("GetFile wrote different data")
	}
	if _, err := s.Get(ctx, "missing"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("Get missing = %v, want ErrNotFound", err)
	}
}

func TestObjstoreChunkSizes(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	for _, cs := range []int{objstore.MinChunkSize, 7777, objstore.MaxChunkSize} {
		s := newObjectStore(t, c, waymaker.ObjectStoreConfig{Name: fmt.Sprintf("%s-%d", name(t), cs), ChunkSize: cs})
		data := objRandBytes(3*cs+5, uint64(cs))
		info, err := s.PutBytes(ctx, "x", data)
		if err != nil {
			t.Fatal(err)
		}
		if info.ChunkSize != cs || info.Chunks != 4 {
			t.Fatalf("chunk size %d: info %d chunks of %d", cs, info.Chunks, info.ChunkSize)
		}
		if got, err := s.GetBytes(ctx, "x"); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("chunk size %d: GetBytes %d bytes, %v", cs, len(got), err)
		}
	}
}

// objBlockingReader yields n bytes, then blocks until ctx ends.
type objBlockingReader struct {
	data    []byte
	ctx     context.Context
	reached chan struct{}
}

func (r *objBlockingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		close(r.reached)
		<-r.ctx.Done()
		return 0, r.ctx.Err()
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// objStagedFiles counts files in the object store's (legacy) staging and
// blob dirs.
func objStagedFiles(t *testing.T, dataDir string) (staging, blobs int) {
	t.Helper()
	for _, d := range []struct {
		dir string
		n   *int
	}{{"staging", &staging}, {"blobs", &blobs}} {
		entries, err := os.ReadDir(filepath.Join(dataDir, "objstore", d.dir))
		if err != nil && !os.IsNotExist(err) { // no staging dir: chunks go through raft
			t.Fatal(err)
		}
		*d.n = len(entries)
	}
	return staging, blobs
}

// waitFor polls cond (a cheap local look, not a sleep standing in for an
// event) until it holds or d passes.
func objWaitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-time.After(5 * time.Millisecond)
	}
}

func TestObjstoreFailedPutsKeepOldVersion(t *testing.T) {
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir())
	ctx := testCtx(t, time.Minute)
	s := newObjectStore(t, c, waymaker.ObjectStoreConfig{})
	old := objRandBytes(200<<10, 1)
	oldInfo, err := s.PutBytes(ctx, "doc", old)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		info, err := s.GetInfo(ctx, "doc")
		if err != nil || info.Revision != oldInfo.Revision || info.Digest() != oldInfo.Digest() {
			t.Fatalf("%s: info %+v, %v; want the old version", what, info, err)
		}
		if got, err := s.GetBytes(ctx, "doc"); err != nil || !bytes.Equal(got, old) {
			t.Fatalf("%s: data changed (%d bytes, %v)", what, len(got), err)
		}
		// Nothing staged is left behind, and only the old version's blob.
		objWaitFor(t, 5*time.Second, what+": staging emptied", func() bool {
			st, bl := objStagedFiles(t, srv.DataDir())
			return st == 0 && bl == 1
		})
	}

	// Cancelled half-way.
	pctx, cancel := context.WithCancel(ctx)
	br := &objBlockingReader{data: objRandBytes(1<<20, 2), ctx: pctx, reached: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Put(pctx, waymaker.ObjectMeta{Name: "doc"}, br)
		errc <- err
	}()
	<-br.reached
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Put = %v, want context.Canceled", err)
	}
	check("cancelled Put")

	// The reader fails mid-way.
	boom := errors.New("disk on fire")
	_, err = s.Put(ctx, waymaker.ObjectMeta{Name: "doc"}, io.MultiReader(bytes.NewReader(objRandBytes(300<<10, 3)), objErrReader{boom}))
	if !errors.Is(err, boom) || !errors.Is(err, waymaker.ErrInvalidArgument) || !strings.Contains(err.Error(), "reader") {
		t.Fatalf("failing reader Put = %v", err)
	}
	check("failing reader")

	// A digest that lies.
	bad := sha256.Sum256([]byte("something else"))
	_, err = s.PutBytes(ctx, "doc", objRandBytes(500<<10, 4), objstore.WithSHA256(bad[:]))
	if !errors.Is(err, waymaker.ErrDigestMismatch) || !waymaker.IsServerCode(err, "digest_mismatch") {
		t.Fatalf("lying digest Put = %v, want ErrDigestMismatch", err)
	}
	check("lying digest")

	// A size that lies.
	_, err = s.Put(ctx, waymaker.ObjectMeta{Name: "doc"}, bytes.NewReader(objRandBytes(10, 5)), objstore.WithSize(11))
	if !errors.Is(err, waymaker.ErrInvalidArgument) || !strings.Contains(err.Error(), "expected_size") {
		t.Fatalf("lying size Put = %v", err)
	}
	check("lying size")

	// The server restarts during a Put.
	pctx, cancel = context.WithCancel(ctx)
	defer cancel()
	br = &objBlockingReader{data: objRandBytes(1<<20, 6), ctx: pctx, reached: make(chan struct{})}
	go func() {
		_, err := s.Put(pctx, waymaker.ObjectMeta{Name: "doc"}, br)
		errc <- err
	}()
	<-br.reached
	srv.Restart()
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("Put across a restart succeeded")
	}
	check("Put across a restart")
}

type objErrReader struct{ err error }

func (r objErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestObjstoreGetResumesAcrossRestart(t *testing.T) {
	srv := waymakertest.Start(t, withSessionMode(), waymakertest.WithTempDataDir())
	// The transport logs each rebind at debug level: observe it, to know
	// the download really was cut and resumed.
	core, logs := observer.New(zap.DebugLevel)
	c, err := waymaker.Connect(context.Background(), srv.Addr(), waymaker.WithLogger(zap.New(core)),
		waymaker.WithBackoff(waymaker.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t, 5*time.Minute)
	s := newObjectStore(t, c, waymaker.ObjectStoreConfig{})
	// Larger than what gRPC's flow-control windows (16 MiB at most per
	// stream) let the server send ahead of a reader that stopped, so the
	// restart cuts the stream and the reader must rebind.
	data := objRandBytes(24<<20, 7)
	if _, err := s.PutBytes(ctx, "big", data); err != nil {
		t.Fatal(err)
	}
	r, err := s.Get(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading across the restart: %v", err)
	}
	if got := append(head, rest...); !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes across the restart, want the %d bytes put, each once", len(got), len(data))
	}
	if logs.FilterMessageSnippet("rebinding").Len() == 0 {
		t.Fatal("the download was never cut: the restart did not exercise a rebind")
	}
}

func TestObjstoreSnapshotKeepsBlobs(t *testing.T) {
	// A tiny snapshot threshold makes raft snapshot (blobs included) and
	// truncate its log, so the restart restores from the snapshot.
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir(), waymakertest.WithConfig(func(cfg *server.Config) {
		cfg.SnapshotThreshold = 4
		cfg.SnapshotInterval = 10 * time.Millisecond
	}))
	ctx := testCtx(t, time.Minute)
	s := newObjectStore(t, c, waymaker.ObjectStoreConfig{})
	want := map[string][]byte{}
	for i := range 12 {
		n := fmt.Sprintf("o%02d", i)
		want[n] = objRandBytes(10<<10*(i+1), uint64(i))
		if _, err := s.PutBytes(ctx, n, want[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "o00"); err != nil {
		t.Fatal(err)
	}
	delete(want, "o00")
	objWaitFor(t, 10*time.Second, "a raft snapshot", func() bool {
		entries, _ := os.ReadDir(filepath.Join(srv.DataDir(), "snapshots"))
		return len(entries) > 0
	})
	srv.Restart()
	for n, data := range want {
		if got, err := s.GetBytes(ctx, n); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("after restart %s: %d bytes, %v", n, len(got), err)
		}
	}
	if _, err := s.GetInfo(ctx, "o00"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("deleted object after restart: %v", err)
	}
	objWaitFor(t, 5*time.Second, "unreferenced blobs swept", func() bool {
		st, bl := objStagedFiles(t, srv.DataDir())
		return st == 0 && bl == len(want)
	})
}

func TestObjstoreMaxBytes(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	s := newObjectStore(t, c, waymaker.ObjectStoreConfig{MaxBytes: 10_000, ChunkSize: 1024})
	if _, err := s.PutBytes(ctx, "a", make([]byte, 6000)); err != nil {
		t.Fatal(err)
	}
	// Streamed without a known size: refused mid-way.
	_, err := s.Put(ctx, waymaker.ObjectMeta{Name: "b"}, bytes.NewReader(make([]byte, 6000)))
	if !errors.Is(err, waymaker.ErrLimitExceeded) {
		t.Fatalf("Put over MaxBytes = %v, want ErrLimitExceeded", err)
	}
	// With a known size: refused up front.
	if _, err := s.PutBytes(ctx, "b", make([]byte, 4001)); !errors.Is(err, waymaker.ErrLimitExceeded) {
		t.Fatalf("PutBytes over MaxBytes = %v, want ErrLimitExceeded", err)
	}
	if _, err := s.GetInfo(ctx, "b"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("refused object exists: %v", err)
	}
	// Replacing an object counts only the difference.
	if _, err := s.PutBytes(ctx, "a", make([]byte, 10_000)); err != nil {
		t.Fatalf("replacing within MaxBytes: %v", err)
	}
	st, err := s.Status(ctx)
	if err != nil || st.Bytes != 10_000 || st.Objects != 1 || st.Config.MaxBytes != 10_000 {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutBytes(ctx, "b", make([]byte, 4001)); err != nil {
		t.Fatalf("Put after freeing space: %v", err)
	}
}

func TestObjstoreStores(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	n := name(t)
	cfg := waymaker.ObjectStoreConfig{Name: n, Description: "d", MaxBytes: 1 << 20, TTL: time.Hour}
	if _, err := c.ObjectStore(ctx, n); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("ObjectStore before create = %v", err)
	}
	s, err := c.GetOrCreateObjectStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateObjectStore(ctx, cfg); err != nil {
		t.Fatalf("identical CreateObjectStore = %v, want success", err)
	}
	other := cfg
	other.MaxBytes = 5
	if _, err := c.CreateObjectStore(ctx, other); !errors.Is(err, waymaker.ErrExists) {
		t.Fatalf("different CreateObjectStore = %v, want ErrExists", err)
	}
	if _, err := c.GetOrCreateObjectStore(ctx, other); err != nil {
		t.Fatalf("GetOrCreateObjectStore of an existing store = %v", err)
	}
	st, err := s.Status(ctx)
	if err != nil || st.Config.ChunkSize != objstore.DefaultChunkSize || st.Config.TTL != time.Hour || st.Config.Description != "d" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	names, err := c.ObjectStoreNames(ctx)
	if err != nil || !slices.Contains(names, n) {
		t.Fatalf("ObjectStoreNames = %v, %v", names, err)
	}
	if _, err := c.Objects().UpdateStore(ctx, other); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Status(ctx); st.Config.MaxBytes != 5 {
		t.Fatalf("after UpdateStore MaxBytes = %d", st.Config.MaxBytes)
	}
	if err := c.DeleteObjectStore(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteObjectStore(ctx, n); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("second DeleteObjectStore = %v", err)
	}
	if _, err := s.PutBytes(ctx, "x", nil); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("Put into a deleted store = %v", err)
	}
}

func TestObjstoreListAndMeta(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	s := newObjectStore(t, c, waymaker.ObjectStoreConfig{})
	for i := range 250 {
		if _, err := s.PutBytes(ctx, fmt.Sprintf("n%03d", i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for info, err := range l.All() {
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("n%03d", i); info.Name != want || info.Size != 1 {
			t.Fatalf("List item %d = %s (%d bytes), want %s", i, info.Name, info.Size, want)
		}
		i++
	}
	if i != 250 {
		t.Fatalf("List gave %d objects, want 250", i)
	}
	// Rename, then see the marker and the new name.
	info, err := s.UpdateMeta(ctx, "n000", waymaker.ObjectMeta{Name: "renamed", Description: "moved", Headers: map[string][]string{"A": {"1", "2"}}})
	if err != nil || info.Name != "renamed" || info.Description != "moved" || len(info.Headers["A"]) != 2 {
		t.Fatalf("UpdateMeta = %+v, %v", info, err)
	}
	if b, err := s.GetBytes(ctx, "renamed"); err != nil || !bytes.Equal(b, []byte{0}) {
		t.Fatalf("renamed data = %v, %v", b, err)
	}
	if _, err := s.UpdateMeta(ctx, "n001", waymaker.ObjectMeta{Name: "n002"}); !errors.Is(err, waymaker.ErrExists) {
		t.Fatalf("rename onto a live name = %v, want ErrExists", err)
	}
	if err := s.Delete(ctx, "n005"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "n005"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("second Delete = %v", err)
	}
	if m, err := s.GetInfoDeleted(ctx, "n005"); err != nil || !m.Deleted {
		t.Fatalf("GetInfoDeleted = %+v, %v", m, err)
	}
	live, err := s.Objects(ctx)
	if err != nil || len(live) != 249 { // 250 - n000 - n005 + renamed
		t.Fatalf("Objects = %d, %v", len(live), err)
	}
	all, err := s.Objects(ctx, objstore.IncludeDeleted())
	if err != nil || len(all) != 251 {
		t.Fatalf("Objects with deleted = %d, %v", len(all), err)
	}
	after, err := s.Objects(ctx, objstore.StartAfter("n247"))
	if err != nil || len(after) != 3 || after[0].Name != "n248" {
		t.Fatalf("Objects after n247 = %v, %v", after, err)
	}
}

func TestObjstoreWatch(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	s := newObjectStore(t, c, waymaker.ObjectStoreConfig{})
	if _, err := s.PutBytes(ctx, "before", []byte("x")); err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	next := func() objstore.WatchEvent {
		t.Helper()
		ev, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	if ev := next(); ev.Info.Name != "before" {
		t.Fatalf("first event %+v, want the current object", ev)
	}
	if ev := next(); !ev.InitialDone {
		t.Fatalf("second event %+v, want the marker", ev)
	}
	if _, err := s.PutBytes(ctx, "after", []byte("yy")); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Info.Name != "after" || ev.Info.Size != 2 || ev.Info.Deleted {
		t.Fatalf("put event %+v", ev)
	}
	if err := s.Delete(ctx, "before"); err != nil {
		t.Fatal(err)
	}
	ev := next()
	if ev.Info.Name != "before" || !ev.Info.Deleted {
		t.Fatalf("delete event %+v", ev)
	}
	// Resume from a revision: only later changes.
	if _, err := s.UpdateMeta(ctx, "after", waymaker.ObjectMeta{Name: "after", Description: "new"}); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Info.Description != "new" {
		t.Fatalf("meta event %+v", ev)
	}
	w2, err := s.Watch(ctx, objstore.ResumeFromRevision(ev.Revision))
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	if ev, err := w2.Next(); err != nil || ev.Info.Name != "after" || ev.Info.Description != "new" {
		t.Fatalf("resumed watch first event %+v, %v", ev, err)
	}
	if ev, err := w2.Next(); err != nil || !ev.InitialDone {
		t.Fatalf("resumed watch marker %+v, %v", ev, err)
	}
	// Deleting the store ends the watch with ErrNotFound.
	if err := c.DeleteObjectStore(ctx, s.Name()); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := w.Next()
		if err == nil {
			continue
		}
		if !errors.Is(err, waymaker.ErrNotFound) {
			t.Fatalf("watch of a deleted store ended with %v", err)
		}
		break
	}
}

func TestObjstoreTTL(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	s := newObjectStore(t, c, waymaker.ObjectStoreConfig{TTL: 150 * time.Millisecond})
	w, err := s.Watch(ctx, objstore.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	put, err := s.PutBytes(ctx, "ephemeral", []byte("bye"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Info.Name == "ephemeral" && ev.Info.Deleted {
			if ev.Info.ModTime.Sub(put.ModTime) < 150*time.Millisecond {
				t.Fatalf("expired after %v, want at least the TTL", ev.Info.ModTime.Sub(put.ModTime))
			}
			break
		}
	}
	if _, err := s.GetInfo(ctx, "ephemeral"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("expired object: %v", err)
	}
	if st, err := s.Status(ctx); err != nil || st.Objects != 0 || st.Bytes != 0 {
		t.Fatalf("Status after expiry = %+v, %v", st, err)
	}
}

// TestObjstoreServerValidation calls the generated stub directly, past the
// SDK's checks, to see the server refuse bad input by field.
func TestObjstoreServerValidation(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	s := newObjectStore(t, c, waymaker.ObjectStoreConfig{})
	rpc := objstorepb.NewObjectStoreServiceClient(c.Conn())
	wantField := func(what string, r interface {
		GetResultCode() string
		GetMessage() string
	}, field string) {
		t.Helper()
		if r.GetResultCode() != "invalid_argument" || !strings.HasPrefix(r.GetMessage(), field+":") {
			t.Fatalf("%s: result %q %q, want invalid_argument naming %s", what, r.GetResultCode(), r.GetMessage(), field)
		}
	}
	for _, tc := range []struct {
		cfg   *objstorepb.ObjectStoreConfig
		field string
	}{
		{&objstorepb.ObjectStoreConfig{}, "config.name"},
		{&objstorepb.ObjectStoreConfig{Name: "a.b"}, "config.name"},
		{&objstorepb.ObjectStoreConfig{Name: "ok", MaxBytes: -1}, "config.max_bytes"},
		{&objstorepb.ObjectStoreConfig{Name: "ok", TtlMs: -1}, "config.ttl_ms"},
		{&objstorepb.ObjectStoreConfig{Name: "ok", ChunkSize: 10}, "config.chunk_size"},
		{&objstorepb.ObjectStoreConfig{Name: "ok", ChunkSize: 2 << 20}, "config.chunk_size"},
	} {
		resp, err := rpc.CreateStore(ctx, &objstorepb.ObjectStoreServiceCreateStoreRequest{Config: tc.cfg})
		if err != nil {
			t.Fatal(err)
		}
		wantField("CreateStore", resp.GetResult(), tc.field)
	}
	put := func(msgs ...*objstorepb.ObjectStoreServicePutRequest) *objstorepb.ObjectStoreServicePutResponse {
		t.Helper()
		st, err := rpc.Put(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if err := st.Send(m); err != nil {
				break // the server answered early
			}
		}
		resp, err := st.CloseAndRecv()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	hdr := func(store, name string) *objstorepb.ObjectStoreServicePutRequest {
		return &objstorepb.ObjectStoreServicePutRequest{Part: &objstorepb.ObjectStoreServicePutRequest_Header{Header: &objstorepb.ObjectPutHeader{Store: store, Meta: &objstorepb.ObjectMeta{Name: name}}}}
	}
	chunk := func(off int64, n int) *objstorepb.ObjectStoreServicePutRequest {
		return &objstorepb.ObjectStoreServicePutRequest{Part: &objstorepb.ObjectStoreServicePutRequest_Chunk{Chunk: &objstorepb.ObjectChunk{Offset: off, Data: make([]byte, n)}}}
	}
	commit := &objstorepb.ObjectStoreServicePutRequest{Part: &objstorepb.ObjectStoreServicePutRequest_Commit{Commit: &objstorepb.ObjectPutCommit{}}}
	wantField("no header", put(chunk(0, 1)).GetResult(), "header")
	wantField("bad store", put(hdr("a b", "x"), commit).GetResult(), "header.store")
	wantField("empty name", put(hdr(s.Name(), ""), commit).GetResult(), "header.meta.name")
	wantField("NUL name", put(hdr(s.Name(), "a\x00"), commit).GetResult(), "header.meta.name")
	wantField("long name", put(hdr(s.Name(), strings.Repeat("x", 1025)), commit).GetResult(), "header.meta.name")
	wantField("offset gap", put(hdr(s.Name(), "x"), chunk(0, 10), chunk(11, 10), commit).GetResult(), "chunk.offset")
	wantField("chunk too big", put(hdr(s.Name(), "x"), chunk(0, 1<<20+1), commit).GetResult(), "chunk.data")
	wantField("no commit", put(hdr(s.Name(), "x"), chunk(0, 10)).GetResult(), "commit")
	wantField("second header", put(hdr(s.Name(), "x"), hdr(s.Name(), "x")).GetResult(), "header")
	short := &objstorepb.ObjectStoreServicePutRequest{Part: &objstorepb.ObjectStoreServicePutRequest_Commit{Commit: &objstorepb.ObjectPutCommit{ExpectedSha256: []byte{1}}}}
	wantField("short digest", put(hdr(s.Name(), "x"), short).GetResult(), "commit.expected_sha256")
	if infos, err := s.Objects(ctx, objstore.IncludeDeleted()); err != nil || len(infos) != 0 {
		t.Fatalf("refused puts stored %d objects, %v", len(infos), err)
	}
	if _, err := s.PutBytes(ctx, "x", []byte("abc")); err != nil {
		t.Fatal(err)
	}
	get := func(req *objstorepb.ObjectStoreServiceGetRequest) *objstorepb.ObjectStoreServiceGetResponse {
		t.Helper()
		st, err := rpc.Get(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		m, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	wantField("Get offset", get(&objstorepb.ObjectStoreServiceGetRequest{Store: s.Name(), Name: "x", Offset: 4}).GetResult(), "offset")
	wantField("Get negative offset", get(&objstorepb.ObjectStoreServiceGetRequest{Store: s.Name(), Name: "x", Offset: -1}).GetResult(), "offset")
	wantField("Get name", get(&objstorepb.ObjectStoreServiceGetRequest{Store: s.Name()}).GetResult(), "name")
	if m := get(&objstorepb.ObjectStoreServiceGetRequest{Store: s.Name(), Name: "x", Revision: 999}); m.GetResult().GetResultCode() != "wrong_revision" {
		t.Fatalf("Get of a gone revision = %v", m.GetResult())
	}
	if m := get(&objstorepb.ObjectStoreServiceGetRequest{Store: s.Name(), Name: "x", Offset: 1, Length: 1}); string(m.GetChunk().GetData()) != "b" {
		t.Fatalf("ranged Get = %v", m)
	}
	resp, err := rpc.ListStores(ctx, &objstorepb.ObjectStoreServiceListStoresRequest{PageSize: 1001})
	if err != nil {
		t.Fatal(err)
	}
	wantField("ListStores", resp.GetResult(), "page_size")
	um, err := rpc.UpdateMeta(ctx, &objstorepb.ObjectStoreServiceUpdateMetaRequest{Store: s.Name(), Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	wantField("UpdateMeta", um.GetResult(), "meta.name")
}

// ExampleObjectStore puts and gets an object on an embedded server.
func ExampleObjectStore() {
	srv, err := server.New(server.Config{})
	if err != nil {
		panic(err)
	}
	defer srv.Stop()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(lis)
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, lis.Addr().String())
	if err != nil {
		panic(err)
	}
	defer client.Close()
	store, err := client.GetOrCreateObjectStore(ctx, waymaker.ObjectStoreConfig{Name: "docs"})
	if err != nil {
		panic(err)
	}
	info, err := store.Put(ctx, waymaker.ObjectMeta{Name: "hello.txt"}, strings.NewReader("hello, world"))
	if err != nil {
		panic(err)
	}
	fmt.Println(info.Name, info.Size, info.Digest()[:16])
	data, err := store.GetBytes(ctx, "hello.txt")
	if err != nil {
		panic(err)
	}
	fmt.Println(string(data))
	// Output:
	// hello.txt 12 09ca7e4eaa6e8ae9
	// hello, world
}

func TestObjstoreWatchResumesAcrossRestart(t *testing.T) {
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir())
	ctx := testCtx(t, time.Minute)
	s := newObjectStore(t, c, waymaker.ObjectStoreConfig{})
	if _, err := s.PutBytes(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var got []string
	next := func() objstore.WatchEvent {
		t.Helper()
		ev, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ev.InitialDone {
			got = append(got, ev.Info.Name)
		}
		return ev
	}
	next() // a
	if ev := next(); !ev.InitialDone {
		t.Fatalf("want the marker, got %+v", ev)
	}
	srv.Restart()
	if _, err := s.PutBytes(ctx, "b", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	next()
	ev := next()
	if !slices.Equal(got, []string{"a", "b", "a"}) || !ev.Info.Deleted {
		t.Fatalf("events across the restart: %v (last %+v); want a, b, then a deleted, each once", got, ev)
	}
}

// A download pinned to a version never splices in another: when the
// version it reads is replaced and its stream must be reopened, the read
// fails with ErrWrongRevision instead.
func TestObjstoreGetNeverSplicesVersions(t *testing.T) {
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir())
	ctx := testCtx(t, 5*time.Minute)
	s := newObjectStore(t, c, waymaker.ObjectStoreConfig{})
	if _, err := s.PutBytes(ctx, "doc", objRandBytes(24<<20, 8)); err != nil {
		t.Fatal(err)
	}
	r, err := s.Get(ctx, "doc")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.ReadFull(r, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutBytes(ctx, "doc", []byte("version two")); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	if _, err := io.Copy(io.Discard, r); !errors.Is(err, waymaker.ErrWrongRevision) {
		t.Fatalf("reading a replaced version after a rebind = %v, want ErrWrongRevision", err)
	}
	if b, err := s.GetBytes(ctx, "doc"); err != nil || string(b) != "version two" {
		t.Fatalf("latest version = %q, %v", b, err)
	}
}
