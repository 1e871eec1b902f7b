package objstore

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func cmd(t *testing.T, op uint16, at int64, msg proto.Message) fsm.Command {
	t.Helper()
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return fsm.Command{Subsystem: Name, Op: op, AtMs: at, Payload: b}
}

// stage applies data's chunks, as the Put handler proposes them (last
// chunk first, to show the order does not matter), and returns the commit
// command for them.
func stage(t *testing.T, m *Machine, store, name string, data []byte, at int64) fsm.Command {
	t.Helper()
	id := ""
	if len(data) > 0 {
		id = newBlobID()
		cs := int64(DefaultChunkSize)
		if s := m.stores[store]; s != nil {
			cs = int64(s.cfg.GetChunkSize())
		}
		n := (int64(len(data)) + cs - 1) / cs
		for k := n - 1; k >= 0; k-- {
			chunk := data[k*cs : min(int64(len(data)), (k+1)*cs)]
			if r, ok := m.Apply(fsm.Command{Subsystem: Name, Op: OpChunk, AtMs: at, Payload: EncodeChunk(id, cs, k, chunk)}).(error); ok {
				t.Fatal(r)
			}
		}
	}
	return commitCmd(t, id, store, name, data, at)
}

func commitCmd(t *testing.T, id, store, name string, data []byte, at int64) fsm.Command {
	t.Helper()
	sum := sha256.Sum256(data)
	p, err := EncodeCommit(id, &objstorepb.ObjectInfo{Store: store, Name: name, Size: int64(len(data)), Sha256: sum[:]})
	if err != nil {
		t.Fatal(err)
	}
	return fsm.Command{Subsystem: Name, Op: OpCommit, AtMs: at, Payload: p}
}

func createStore(t *testing.T, m *Machine, cfg *objstorepb.ObjectStoreConfig) {
	t.Helper()
	r := m.Apply(cmd(t, OpCreateStore, 1, &objstorepb.ObjectStoreServiceCreateStoreRequest{Config: cfg})).(*objstorepb.ObjectStoreServiceCreateStoreResponse)
	if !r.GetResult().GetSuccess() {
		t.Fatal(r.GetResult())
	}
}

func readBlob(t *testing.T, m *Machine, store, name string) []byte {
	t.Helper()
	b, err := readObject(m, store, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readObject reads an object chunk by chunk, verified, as a Get does.
func readObject(m *Machine, store, name string) ([]byte, error) {
	v, _, ok := m.Lookup(store, name)
	if !ok || v == nil || v.Info.GetDeleted() {
		return nil, fmt.Errorf("%s/%s missing", store, name)
	}
	if v.Blob == "" {
		return nil, nil
	}
	r, err := m.Open(v.Blob)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []byte
	for k := int64(0); k < v.Info.GetChunks(); k++ {
		c, err := ReadChunk(r, v, k)
		if err != nil {
			return nil, err
		}
		out = append(out, c...)
	}
	return out, nil
}

func snapshot(t *testing.T, m *Machine) []byte {
	t.Helper()
	write, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSnapshotCarriesBlobsToAnotherNode(t *testing.T) {
	for _, mode := range []string{"file", "memory"} {
		t.Run(mode, func(t *testing.T) {
			dir := func() string {
				if mode == "file" {
					return t.TempDir()
				}
				return ""
			}
			src := dir()
			m, err := New(src)
			if err != nil {
				t.Fatal(err)
			}
			createStore(t, m, &objstorepb.ObjectStoreConfig{Name: "s", TtlMs: 1000, ChunkSize: 4 << 10})
			a := make([]byte, 300<<10+17)
			for i := range a {
				a[i] = byte(i * 7)
			}
			m.Apply(stage(t, m, "s", "a", a, 10))
			m.Apply(stage(t, m, "s", "empty", nil, 11))
			m.Apply(stage(t, m, "s", "gone", []byte("bye"), 12))

			write, err := m.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			// Deleted while the writer is pending: its blob stays until
			// the writer is done.
			m.Apply(cmd(t, OpDelete, 13, &objstorepb.ObjectStoreServiceDeleteRequest{Store: "s", Name: "gone"}))
			var buf bytes.Buffer
			if err := write(&buf); err != nil {
				t.Fatal(err)
			}
			if len(m.deferred) != 0 || m.pinned {
				t.Fatal("the writer did not release its pin")
			}
			if buf.Len() < len(a) {
				t.Fatalf("snapshot of %d bytes for %d bytes of objects: blob data is missing", buf.Len(), len(a))
			}

			// Another node, with none of the blobs, restores everything.
			for _, d := range []string{dir(), src} {
				r, err := New(d)
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Restore(bytes.NewReader(buf.Bytes())); err != nil {
					t.Fatal(err)
				}
				if got := readBlob(t, r, "s", "a"); !bytes.Equal(got, a) {
					t.Fatalf("restored blob: %d bytes", len(got))
				}
				if got := readBlob(t, r, "s", "gone"); string(got) != "bye" {
					t.Fatalf("restored blob of gone: %q", got)
				}
				if info, _ := r.StoreInfo("s"); info.GetObjects() != 3 || info.GetBytes() != int64(len(a))+3 || info.GetRevision() != 3 {
					t.Fatalf("restored store info %v", info)
				}
				if r.NextDeadline() != 1010 {
					t.Fatalf("restored deadline %d, want 1010", r.NextDeadline())
				}
				// "gone" was deleted after the snapshot; the log replayed
				// after it deletes it again.
				r.Apply(cmd(t, OpDelete, 13, &objstorepb.ObjectStoreServiceDeleteRequest{Store: "s", Name: "gone"}))
				if info, _ := r.StoreInfo("s"); info.GetObjects() != 2 {
					t.Fatalf("after replaying the delete: %v", info)
				}
			}
			// A flipped byte in the snapshot's data fails the restore,
			// naming the object.
			bad := bytes.Clone(buf.Bytes())
			bad[len(bad)/2] ^= 1
			r, err := New(dir())
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Restore(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), `object "a"`) {
				t.Fatalf("restore of a corrupt snapshot: %v", err)
			}
			// An empty reader is the empty state.
			if err := r.Restore(bytes.NewReader(nil)); err != nil {
				t.Fatal(err)
			}
			if _, ok := r.StoreInfo("s"); ok {
				t.Fatal("empty restore kept a store")
			}
			if err := r.Restore(bytes.NewReader([]byte("garbage!"))); err == nil {
				t.Fatal("garbage restored")
			}
		})
	}
}

func TestCorruptChunkFileIsAnErrorNamingTheObject(t *testing.T) {
	dir := t.TempDir()
	m, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	createStore(t, m, &objstorepb.ObjectStoreConfig{Name: "s", ChunkSize: 1 << 10})
	data := bytes.Repeat([]byte("0123456789"), 500)
	m.Apply(stage(t, m, "s", "doc", data, 1))
	v, _, _ := m.Lookup("s", "doc")
	path := filepath.Join(dir, "objstore", "blobs", v.Blob)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("X"), 2<<10+5); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := readObject(m, "s", "doc"); err == nil || !strings.Contains(err.Error(), `object "doc": chunk 2`) || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("read of a corrupt chunk: %v", err)
	}
	// A snapshot refuses to spread it.
	write, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := write(io.Discard); err == nil || !strings.Contains(err.Error(), `object "doc"`) {
		t.Fatalf("snapshot of a corrupt chunk: %v", err)
	}
	// A truncated file too.
	if err := os.Truncate(path, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := readObject(m, "s", "doc"); err == nil || !strings.Contains(err.Error(), `object "doc"`) {
		t.Fatalf("read of a truncated blob: %v", err)
	}
}

func TestUploadsCommitWhenCompleteAndAreCollectedWhenIdle(t *testing.T) {
	dir := t.TempDir()
	m, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	m.SetUploadTimeout(1000)
	createStore(t, m, &objstorepb.ObjectStoreConfig{Name: "s", ChunkSize: 1 << 10})
	old := bytes.Repeat([]byte("old"), 1000)
	m.Apply(stage(t, m, "s", "o", old, 1))

	// Chunks of a new version arrive; nothing is visible, the old one reads.
	next := bytes.Repeat([]byte("new!"), 1000)
	id := newBlobID()
	m.Apply(fsm.Command{Subsystem: Name, Op: OpChunk, AtMs: 100, Payload: EncodeChunk(id, 1<<10, 0, next[:1<<10])})
	m.Apply(fsm.Command{Subsystem: Name, Op: OpChunk, AtMs: 100, Payload: EncodeChunk(id, 1<<10, 3, next[3<<10:])})
	if got := readBlob(t, m, "s", "o"); !bytes.Equal(got, old) {
		t.Fatal("the old version changed while a new one uploads")
	}
	// A commit before every chunk arrived stores nothing.
	r := m.Apply(commitCmd(t, id, "s", "o", next, 200)).(*objstorepb.ObjectStoreServicePutResponse)
	if r.GetResult().GetSuccess() || !strings.Contains(r.GetResult().GetMessage(), "upload incomplete") {
		t.Fatalf("commit of an incomplete upload: %v", r.GetResult())
	}
	if m.Uploads() != 0 {
		t.Fatal("a refused commit kept its upload")
	}

	// An upload survives a snapshot and commits after the restore.
	id = newBlobID()
	for k := int64(0); k < 3; k++ {
		m.Apply(fsm.Command{Subsystem: Name, Op: OpChunk, AtMs: 300, Payload: EncodeChunk(id, 1<<10, k, next[k<<10:(k+1)<<10])})
	}
	snap := snapshot(t, m)
	r2, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r2.SetUploadTimeout(1000)
	if err := r2.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if r2.Uploads() != 1 || r2.NextDeadline() != 1300 {
		t.Fatalf("restored %d uploads, deadline %d", r2.Uploads(), r2.NextDeadline())
	}
	r2.Apply(fsm.Command{Subsystem: Name, Op: OpChunk, AtMs: 400, Payload: EncodeChunk(id, 1<<10, 3, next[3<<10:])})
	if r := r2.Apply(commitCmd(t, id, "s", "o", next, 500)).(*objstorepb.ObjectStoreServicePutResponse); !r.GetResult().GetSuccess() {
		t.Fatal(r.GetResult())
	}
	if got := readBlob(t, r2, "s", "o"); !bytes.Equal(got, next) {
		t.Fatal("the committed upload reads differently")
	}

	// On m, the same upload goes idle: a tick past the timeout collects
	// it and its file; a late commit stores nothing and the old version
	// still reads.
	if d := m.NextDeadline(); d != 1300 {
		t.Fatalf("deadline %d, want 1300", d)
	}
	m.Tick(1300)
	if m.Uploads() != 0 {
		t.Fatal("the idle upload was not collected")
	}
	if _, err := os.Stat(filepath.Join(dir, "objstore", "blobs", id)); !os.IsNotExist(err) {
		t.Fatalf("the collected upload's file: %v", err)
	}
	r = m.Apply(commitCmd(t, id, "s", "o", next, 1400)).(*objstorepb.ObjectStoreServicePutResponse)
	if r.GetResult().GetSuccess() || r.GetResult().GetResultCode() != "unavailable" {
		t.Fatalf("commit of a collected upload: %v", r.GetResult())
	}
	if got := readBlob(t, m, "s", "o"); !bytes.Equal(got, old) {
		t.Fatal("the old version is gone")
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "objstore", "blobs")); len(entries) != 1 {
		t.Fatalf("%d blob files left, want the old version's only", len(entries))
	}
}

func TestVersion1SnapshotWithBlobDataStillRestores(t *testing.T) {
	// The layout older servers wrote: one store, one object, and its blob's
	// data after the metadata.
	cfg := &objstorepb.ObjectStoreConfig{Name: "s"}
	info := &objstorepb.ObjectInfo{Name: "o", Size: 5, Revision: 1, ChunkSize: DefaultChunkSize, Chunks: 1}
	const id = "0123456789abcdef0123456789abcdef"
	sw := &snapWriter{w: bufio.NewWriter(io.Discard)}
	var buf bytes.Buffer
	sw.w = bufio.NewWriter(&buf)
	sw.write([]byte(snapMagic))
	sw.write([]byte{snapVersionData})
	sw.uvarint(1)
	sw.msg(cfg)
	sw.varint(1)
	sw.uvarint(1)
	sw.uvarint(1)
	sw.msg(info)
	sw.bytes([]byte(id))
	sw.uvarint(1)
	sw.varint(1)
	sw.varint(0)
	sw.uvarint(1)
	sw.bytes([]byte(id))
	sw.uvarint(5)
	sw.write([]byte("hello"))
	if err := sw.w.Flush(); err != nil || sw.err != nil {
		t.Fatal(err, sw.err)
	}
	r, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if got := readBlob(t, r, "s", "o"); string(got) != "hello" {
		t.Fatalf("blob of a version 1 snapshot: %q", got)
	}
}

func TestApplyIsDeterministic(t *testing.T) {
	run := func() (*Machine, []byte) {
		m, err := New("")
		if err != nil {
			t.Fatal(err)
		}
		createStore(t, m, &objstorepb.ObjectStoreConfig{Name: "s", TtlMs: 100, MaxBytes: 50})
		createStore(t, m, &objstorepb.ObjectStoreConfig{Name: "t", TtlMs: 100})
		for i, n := range []string{"z", "b", "y", "a"} {
			m.Apply(stage(t, m, "s", n, []byte{byte(i)}, 5))
			m.Apply(stage(t, m, "t", n, []byte{byte(i)}, 5))
		}
		if r := m.Apply(stage(t, m, "s", "big", make([]byte, 51), 6)).(*objstorepb.ObjectStoreServicePutResponse); r.GetResult().GetResultCode() != "limit_exceeded" {
			t.Fatalf("over max_bytes: %v", r.GetResult())
		}
		m.Apply(cmd(t, OpUpdateMeta, 7, &objstorepb.ObjectStoreServiceUpdateMetaRequest{Store: "s", Name: "a", Meta: &objstorepb.ObjectMeta{Name: "c"}}))
		m.Tick(105) // all of them expire at once
		write, err := m.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := write(&buf); err != nil {
			t.Fatal(err)
		}
		return m, buf.Bytes()
	}
	m1, s1 := run()
	_, s2 := run()
	// Blob ids are random (the API layer draws them), so compare what the
	// ids do not touch: every info, revision included.
	for _, st := range []string{"s", "t"} {
		i1, _ := m1.Objects(st, "", true)
		for _, info := range i1 {
			if !info.GetDeleted() && info.GetName() != "c" {
				t.Fatalf("%s/%s did not expire", st, info.GetName())
			}
		}
	}
	if len(s1) != len(s2) {
		t.Fatalf("replicas disagree: snapshots of %d and %d bytes", len(s1), len(s2))
	}
	c1, rev1, _ := m1.Changes("s", 0, true, true)
	if rev1 != 10 || len(c1) != 5 {
		t.Fatalf("revision %d, %d entries", rev1, len(c1))
	}
	// Tick ordering: equal deadlines expire in name order.
	var names []string
	for _, c := range c1 {
		if c.GetDeleted() && c.GetModifiedAtMs() == 105 {
			names = append(names, c.GetName())
		}
	}
	if len(names) != 4 || names[0] != "b" || names[1] != "c" || names[2] != "y" || names[3] != "z" {
		t.Fatalf("expiry order %v", names)
	}
	// Markers go TTL after they were made.
	m1.Tick(1000)
	if infos, _ := m1.Objects("s", "", true); len(infos) != 0 {
		t.Fatalf("markers left: %d", len(infos))
	}
}

func TestBadCommandsChangeNothing(t *testing.T) {
	dir := t.TempDir()
	m, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	createStore(t, m, &objstorepb.ObjectStoreConfig{Name: "s"})
	for _, c := range []fsm.Command{
		{Subsystem: Name, Op: 99},
		{Subsystem: Name, Op: OpCommit, Payload: []byte{0xff, 0xff}},
		{Subsystem: Name, Op: OpCommit, Payload: append([]byte{4}, "../x"...)},
		{Subsystem: Name, Op: OpCreateStore, Payload: []byte{0xff}},
		{Subsystem: Name, Op: OpDiscard, Payload: []byte("../../etc/passwd")},
		{Subsystem: Name, Op: OpChunk, Payload: []byte{0xff}},
		{Subsystem: Name, Op: OpChunk, Payload: EncodeChunk("../../../../tmp/x", 1024, 0, []byte("x"))},
		{Subsystem: Name, Op: OpChunk, Payload: EncodeChunk(newBlobID(), 10, 0, []byte("x"))},
		{Subsystem: Name, Op: OpChunk, Payload: EncodeChunk(newBlobID(), 1024, MaxChunkIndex, []byte("x"))},
		{Subsystem: Name, Op: OpChunk, Payload: EncodeChunk(newBlobID(), 1024, 0, nil)},
		{Subsystem: Name, Op: OpChunk, Payload: EncodeChunk(newBlobID(), 1024, 0, make([]byte, 1025))},
		{Subsystem: Name, Op: OpChunk, Payload: func() []byte { p := EncodeChunk(newBlobID(), 1024, 0, []byte("data")); p[len(p)-1] ^= 1; return p }()},
	} {
		if _, ok := m.Apply(c).(error); !ok {
			t.Fatalf("op %d with a bad payload did not answer an error", c.Op)
		}
	}
	if info, _ := m.StoreInfo("s"); info.GetRevision() != 0 {
		t.Fatalf("bad commands changed the store: %v", info)
	}
	if m.Uploads() != 0 {
		t.Fatal("bad chunks left an upload")
	}
	// A commit into a missing store removes its upload's chunks.
	c := stage(t, m, "nope", "x", []byte("data"), 1)
	if r := m.Apply(c).(*objstorepb.ObjectStoreServicePutResponse); r.GetResult().GetResultCode() != "not_found" {
		t.Fatal(r.GetResult())
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "objstore", "blobs")); len(entries) != 0 || m.Uploads() != 0 {
		t.Fatalf("refused commit left %d blob files, %d uploads", len(entries), m.Uploads())
	}
}
