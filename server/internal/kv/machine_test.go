package kv

import (
	"bytes"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type resulter interface{ GetResult() *commonpb.Result }

type harness struct {
	t   *testing.T
	m   *Machine
	now int64
}

func newHarness(t *testing.T, cfg *kvpb.KVBucketConfig) *harness {
	h := &harness{t: t, m: New(), now: 1000}
	if cfg != nil {
		if cfg.History == 0 {
			cfg.History = 1
		}
		if cfg.MaxValueSize == 0 {
			cfg.MaxValueSize = 1 << 20
		}
		h.ok(h.apply(OpCreateBucket, &kvpb.KVServiceCreateBucketRequest{Config: cfg}))
	}
	return h
}

func (h *harness) apply(op uint16, msg proto.Message) resulter {
	h.t.Helper()
	b, err := proto.Marshal(msg)
	if err != nil {
		h.t.Fatal(err)
	}
	res := h.m.ApplyOp(op, h.now, b)
	r, ok := res.(resulter)
	if !ok {
		h.t.Fatalf("op %d answered %T %v", op, res, res)
	}
	return r
}

func (h *harness) ok(r resulter) resulter {
	h.t.Helper()
	if !r.GetResult().GetSuccess() {
		h.t.Fatalf("failed: %v", r.GetResult())
	}
	return r
}

func (h *harness) code(r resulter, code string) {
	h.t.Helper()
	if r.GetResult().GetSuccess() || r.GetResult().GetResultCode() != code {
		h.t.Fatalf("result %v, want %s", r.GetResult(), code)
	}
}

func (h *harness) put(key, val string) uint64 {
	h.t.Helper()
	return h.ok(h.apply(OpPut, &kvpb.KVServicePutRequest{Bucket: "b", Key: key, Value: []byte(val)})).(*kvpb.KVServicePutResponse).Revision
}

func TestRevisionsCASAndDeletes(t *testing.T) {
	h := newHarness(t, &kvpb.KVBucketConfig{Name: "b"})
	r1 := h.put("a", "1")
	r2 := h.put("b", "2")
	if r1 != 1 || r2 != 2 {
		t.Fatalf("revisions %d %d", r1, r2)
	}
	h.code(h.apply(OpCreate, &kvpb.KVServiceCreateRequest{Bucket: "b", Key: "a", Value: []byte("x")}), result.CodeExists)
	h.code(h.apply(OpUpdate, &kvpb.KVServiceUpdateRequest{Bucket: "b", Key: "a", Value: []byte("x"), LastRevision: r2}), result.CodeWrongRevision)
	r3 := h.ok(h.apply(OpUpdate, &kvpb.KVServiceUpdateRequest{Bucket: "b", Key: "a", Value: []byte("x"), LastRevision: r1})).(*kvpb.KVServiceUpdateResponse).Revision
	if r3 != 3 {
		t.Fatalf("update revision %d", r3)
	}
	if e, r := h.m.Get("b", "a", 0); r != nil || string(e.Value) != "x" || e.Revision != 3 {
		t.Fatalf("get: %v %v", e, r)
	}
	h.code(h.apply(OpDelete, &kvpb.KVServiceDeleteRequest{Bucket: "b", Key: "a", LastRevision: 1}), result.CodeWrongRevision)
	h.ok(h.apply(OpDelete, &kvpb.KVServiceDeleteRequest{Bucket: "b", Key: "a", LastRevision: 3}))
	if _, r := h.m.Get("b", "a", 0); r.GetResultCode() != result.CodeNotFound {
		t.Fatalf("get deleted: %v", r)
	}
	// Create succeeds on a deleted key.
	h.ok(h.apply(OpCreate, &kvpb.KVServiceCreateRequest{Bucket: "b", Key: "a", Value: []byte("again")}))
	h.ok(h.apply(OpPurge, &kvpb.KVServicePurgeRequest{Bucket: "b", Key: "a"}))
	if _, r := h.m.Get("b", "a", 0); r.GetResultCode() != result.CodeNotFound {
		t.Fatalf("get purged: %v", r)
	}
	hist, _ := h.m.History("b", "a", 0)
	if len(hist) != 1 || hist[0].Operation != kvpb.KVOperation_KV_OPERATION_PURGE {
		t.Fatalf("history after purge: %v", hist)
	}
	keys, _ := h.m.Keys("b", "", "")
	if len(keys) != 1 || keys[0] != "b" {
		t.Fatalf("keys %v", keys)
	}
	info, _ := h.m.Info("b")
	if info.Values != 1 || info.Revision != 6 {
		t.Fatalf("info %v", info)
	}
	h.code(h.apply(OpPut, &kvpb.KVServicePutRequest{Bucket: "nope", Key: "a"}), result.CodeNotFound)
}

func TestHistoryTrimming(t *testing.T) {
	h := newHarness(t, &kvpb.KVBucketConfig{Name: "b", History: 3})
	for i := range 10 {
		h.put("k", string(rune('0'+i)))
		h.put("other", "x")
	}
	hist, _ := h.m.History("b", "k", 0)
	if len(hist) != 3 || string(hist[0].Value) != "7" || string(hist[2].Value) != "9" {
		t.Fatalf("history %v", hist)
	}
	if _, r := h.m.Get("b", "k", 1); r.GetResultCode() != result.CodeNotFound {
		t.Fatalf("trimmed revision readable: %v", r)
	}
	if e, _ := h.m.Get("b", "k", hist[1].Revision); string(e.Value) != "8" {
		t.Fatalf("GetRevision %v", e)
	}
	info, _ := h.m.Info("b")
	if info.Entries != 6 {
		t.Fatalf("entries %d", info.Entries)
	}
	// Lowering history trims at once.
	h.ok(h.apply(OpUpdateBucket, &kvpb.KVServiceUpdateBucketRequest{Config: &kvpb.KVBucketConfig{Name: "b", History: 1, MaxValueSize: 1 << 20}}))
	if hist, _ := h.m.History("b", "k", 0); len(hist) != 1 {
		t.Fatalf("history after update %v", hist)
	}
}

func TestTTLExpiry(t *testing.T) {
	h := newHarness(t, &kvpb.KVBucketConfig{Name: "b", TtlMs: 100, History: 2})
	h.put("a", "1")
	h.now += 50
	h.put("b", "1")
	if d := h.m.NextDeadline(); d != 1100 {
		t.Fatalf("deadline %d", d)
	}
	h.m.Tick(1099)
	if _, r := h.m.Get("b", "a", 0); r != nil {
		t.Fatalf("expired early: %v", r)
	}
	h.m.Tick(1100)
	if _, r := h.m.Get("b", "a", 0); r.GetResultCode() != result.CodeNotFound {
		t.Fatalf("not expired: %v", r)
	}
	hist, _ := h.m.History("b", "a", 0)
	if len(hist) != 1 || hist[0].Operation != kvpb.KVOperation_KV_OPERATION_PURGE || hist[0].Revision != 3 {
		t.Fatalf("marker %v", hist)
	}
	if d := h.m.NextDeadline(); d != 1150 {
		t.Fatalf("deadline %d", d)
	}
	h.m.Tick(1300) // b expires (marker at 1300), a's marker (1100) goes
	if _, r := h.m.History("b", "a", 0); r.GetResultCode() != result.CodeNotFound {
		t.Fatalf("marker not dropped: %v", r)
	}
	h.m.Tick(1400)
	if info, _ := h.m.Info("b"); info.Entries != 0 || info.Values != 0 || info.Bytes != 0 {
		t.Fatalf("info after expiry %v", info)
	}
	if d := h.m.NextDeadline(); d != 0 {
		t.Fatalf("deadline %d", d)
	}
}

func TestLimits(t *testing.T) {
	h := newHarness(t, &kvpb.KVBucketConfig{Name: "b", MaxValueSize: 4, MaxBytes: 10})
	h.code(h.apply(OpPut, &kvpb.KVServicePutRequest{Bucket: "b", Key: "k", Value: []byte("12345")}), result.CodeInvalidArgument)
	h.put("k", "1234") // 5 bytes
	h.put("k", "1234") // replaces: still 5
	h.put("j", "1234") // 10: at the limit
	h.code(h.apply(OpPut, &kvpb.KVServicePutRequest{Bucket: "b", Key: "i", Value: []byte("1")}), result.CodeLimitExceeded)
	if keys, _ := h.m.Keys("b", "", ""); len(keys) != 2 {
		t.Fatalf("refused write stored: %v", keys)
	}
}

func TestWatchReads(t *testing.T) {
	h := newHarness(t, &kvpb.KVBucketConfig{Name: "b", History: 5})
	h.put("a.x", "1") // 1
	h.put("b.x", "1") // 2
	h.put("a.x", "2") // 3
	h.put("a.y.z", "1")
	h.ok(h.apply(OpDelete, &kvpb.KVServiceDeleteRequest{Bucket: "b", Key: "b.x"})) // 5
	_, got, rev, _ := h.m.WatchStart("b", Filter{Pattern: "*.x"}, 0, StartLatest)
	if rev != 5 || len(got) != 2 || got[0].Revision != 3 || got[1].Revision != 5 {
		t.Fatalf("latest %v rev %d", got, rev)
	}
	id, got, _, _ := h.m.WatchStart("b", Filter{Pattern: "a.>"}, 0, StartHistory)
	if len(got) != 3 || got[2].Key != "a.y.z" {
		t.Fatalf("history %v", got)
	}
	got, rev, r := h.m.WatchNext("b", id, Filter{Pattern: ">", IgnoreDeletes: true}, 1, 2, nil)
	if r != nil || len(got) != 2 || rev != 3 {
		t.Fatalf("next %v %d %v", got, rev, r)
	}
	h.ok(h.apply(OpDeleteBucket, &kvpb.KVServiceDeleteBucketRequest{Bucket: "b"}))
	h.ok(h.apply(OpCreateBucket, &kvpb.KVServiceCreateBucketRequest{Config: &kvpb.KVBucketConfig{Name: "b", History: 1, MaxValueSize: 10}}))
	if _, _, r := h.m.WatchNext("b", id, Filter{}, 0, 0, nil); r.GetResultCode() != result.CodeNotFound {
		t.Fatalf("recreated bucket not noticed: %v", r)
	}
}

func TestSnapshotRestore(t *testing.T) {
	h := newHarness(t, &kvpb.KVBucketConfig{Name: "b", History: 3, TtlMs: 1000})
	for i := range 5 {
		h.put("k", string(rune('a'+i)))
	}
	h.put("j", "x")
	h.ok(h.apply(OpPut, &kvpb.KVServicePutRequest{Bucket: "b", Key: "d", Value: []byte("v"), RequestId: "rid"}))
	write, err := h.m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	h.put("after", "snapshot") // not in the snapshot
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	m2 := New()
	if err := m2.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	a, _ := m2.Info("b")
	want, _ := h.m.Info("b")
	want.Revision, want.Values, want.Entries, want.Bytes = 7, 3, 5, want.Bytes-int64(len("after")+len("snapshot"))
	if !proto.Equal(a, want) {
		t.Fatalf("restored %v, want %v", a, want)
	}
	if d := m2.NextDeadline(); d != 2000 {
		t.Fatalf("deadline %d", d)
	}
	if err := m2.Restore(bytes.NewReader(nil)); err != nil {
		t.Fatal(err)
	}
	if _, ok := m2.Info("b"); ok {
		t.Fatal("empty restore kept state")
	}
	if err := m2.Restore(bytes.NewReader([]byte("garbage"))); err == nil {
		t.Fatal("garbage restored")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestBadCommands(t *testing.T) {
	m := New()
	for op := uint16(0); op < 12; op++ {
		if _, ok := m.ApplyOp(op, 0, []byte{0xff, 0xff, 0xff}).(error); !ok {
			t.Errorf("op %d: garbage payload not refused", op)
		}
	}
}

func TestNames(t *testing.T) {
	for _, k := range []string{"a", "a.b", "A-z_0=9/x.y", "x"} {
		if r := CheckKey("key", k, 1024); r != nil {
			t.Errorf("key %q refused: %s", k, r)
		}
	}
	for _, k := range []string{"", ".a", "a.", "a..b", "a b", "a*", "a>", string(make([]byte, 1025))} {
		if CheckKey("key", k, 1024) == nil {
			t.Errorf("key %q accepted", k)
		}
	}
	for _, p := range []string{"", ">", "*", "a.*.c", "a.>", "*.>"} {
		if r := CheckPattern("pattern", p, 1024); r != nil {
			t.Errorf("pattern %q refused: %s", p, r)
		}
	}
	for _, p := range []string{">.a", "a..b", "a*", ".", "a.>b"} {
		if CheckPattern("pattern", p, 1024) == nil {
			t.Errorf("pattern %q accepted", p)
		}
	}
	for _, n := range []string{"", "a.b", "a b", "ä"} {
		if result.CheckName("bucket", n, 256) == nil {
			t.Errorf("bucket %q accepted", n)
		}
	}
	cases := []struct {
		p, k string
		ok   bool
	}{
		{">", "a", true}, {"a.>", "a", false}, {"a.>", "a.b.c", true}, {"*", "a", true}, {"*", "a.b", false},
		{"a.*.c", "a.b.c", true}, {"a.*.c", "a.b.d", false}, {"a.*", "a", false}, {"a", "a.b", false}, {"a.b", "a.b", true},
	}
	for _, c := range cases {
		if Match(c.p, c.k) != c.ok {
			t.Errorf("Match(%q, %q) = %v", c.p, c.k, !c.ok)
		}
	}
}
