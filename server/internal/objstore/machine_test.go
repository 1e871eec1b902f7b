package objstore

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
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

// stage writes data as a staged blob, as the Put handler does, and returns
// the commit command for it.
func stage(t *testing.T, m *Machine, store, name string, data []byte, at int64) fsm.Command {
	t.Helper()
	id := ""
	if len(data) > 0 {
		id = newBlobID()
		sb, err := m.blobs.create(id)
		if err != nil {
			t.Fatal(err)
		}
		sb.Write(data)
		if err := sb.finish(); err != nil {
			t.Fatal(err)
		}
	}
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
	v, _, ok := m.Lookup(store, name)
	if !ok || v == nil || v.Info.GetDeleted() {
		t.Fatalf("%s/%s missing", store, name)
	}
	if v.Blob == "" {
		return nil
	}
	r, err := m.blobs.open(v.Blob)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.NewSectionReader(r, 0, v.Info.GetSize()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSnapshotRefersToBlobsWithoutTheirData(t *testing.T) {
	dir := t.TempDir()
	m, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	createStore(t, m, &objstorepb.ObjectStoreConfig{Name: "s", TtlMs: 1000})
	a := bytes.Repeat([]byte("a"), 300<<10)
	m.Apply(stage(t, m, "s", "a", a, 10))
	m.Apply(stage(t, m, "s", "empty", nil, 11))
	m.Apply(stage(t, m, "s", "gone", []byte("bye"), 12))

	write, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	m.Apply(cmd(t, OpDelete, 13, &objstorepb.ObjectStoreServiceDeleteRequest{Store: "s", Name: "gone"}))
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	if len(m.deferred) != 0 || m.pinned {
		t.Fatal("the writer did not release its pin")
	}
	// The snapshot holds metadata only: far less than the 300 KiB object.
	if buf.Len() > 4<<10 {
		t.Fatalf("snapshot of %d bytes for 300 KiB of objects: blob data is in it", buf.Len())
	}

	// A restart restores on the same data dir, where the blobs are.
	r, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if got := readBlob(t, r, "s", "a"); !bytes.Equal(got, a) {
		t.Fatalf("restored blob: %d bytes", len(got))
	}
	if info, _ := r.StoreInfo("s"); info.GetObjects() != 3 || info.GetBytes() != int64(len(a))+3 || info.GetRevision() != 3 {
		t.Fatalf("restored store info %v", info)
	}
	if r.NextDeadline() != 1010 {
		t.Fatalf("restored deadline %d, want 1010", r.NextDeadline())
	}
	// "gone" was deleted after the snapshot; the log replayed after it
	// deletes it again.
	r.Apply(cmd(t, OpDelete, 13, &objstorepb.ObjectStoreServiceDeleteRequest{Store: "s", Name: "gone"}))
	if info, _ := r.StoreInfo("s"); info.GetObjects() != 2 {
		t.Fatalf("after replaying the delete: %v", info)
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
}

func TestVersion1SnapshotWithBlobDataStillRestores(t *testing.T) {
	// The layout older servers wrote: one store, one object, and its blob's
	// data after the metadata.
	cfg := &objstorepb.ObjectStoreConfig{Name: "s"}
	info := &objstorepb.ObjectInfo{Name: "o", Size: 5, Revision: 1}
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
	} {
		if _, ok := m.Apply(c).(error); !ok {
			t.Fatalf("op %d with a bad payload did not answer an error", c.Op)
		}
	}
	if info, _ := m.StoreInfo("s"); info.GetRevision() != 0 {
		t.Fatalf("bad commands changed the store: %v", info)
	}
	// A commit into a missing store removes its staged blob.
	c := stage(t, m, "nope", "x", []byte("data"), 1)
	if r := m.Apply(c).(*objstorepb.ObjectStoreServicePutResponse); r.GetResult().GetResultCode() != "not_found" {
		t.Fatal(r.GetResult())
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "objstore", "staging")); len(entries) != 0 {
		t.Fatalf("refused commit left %d staged files", len(entries))
	}
}
