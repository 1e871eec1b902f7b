package cache

import (
	"bytes"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/cachepb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/kv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func kvApply(t *testing.T, m *kv.Machine, op uint16, at int64, msg proto.Message) any {
	t.Helper()
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return m.ApplyOp(op, at, b)
}

func cacheCmd(t *testing.T, op uint16, at int64, msg proto.Message) fsm.Command {
	t.Helper()
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return fsm.Command{Subsystem: Name, Op: op, AtMs: at, Payload: b}
}

func setup(t *testing.T) (*kv.Machine, *Machine) {
	km := kv.New()
	kvApply(t, km, kv.OpCreateBucket, 1, &kvpb.KVServiceCreateBucketRequest{Config: &kvpb.KVBucketConfig{Name: "b", History: 1, MaxValueSize: 1 << 20}})
	return km, New(km)
}

func put(t *testing.T, km *kv.Machine, key string, at int64) uint64 {
	t.Helper()
	r := kvApply(t, km, kv.OpPut, at, &kvpb.KVServicePutRequest{Bucket: "b", Key: key, Value: []byte("v")}).(*kvpb.KVServicePutResponse)
	if !r.GetResult().GetSuccess() {
		t.Fatal(r.GetResult())
	}
	return r.GetRevision()
}

func live(km *kv.Machine, key string) bool {
	_, r := km.Get("b", key, 0)
	return r == nil
}

func TestEvictChecksRevisionAndPolicy(t *testing.T) {
	km, m := setup(t)
	if r := m.Apply(cacheCmd(t, OpAttach, 2, &cachepb.CacheServiceAttachPolicyRequest{Policy: &cachepb.CachePolicy{Bucket: "nope", MaxEntries: 1}})).(*cachepb.CacheServiceAttachPolicyResponse); r.GetResult().GetResultCode() != "not_found" {
		t.Fatalf("attach to a missing bucket: %v", r.GetResult())
	}
	ra := put(t, km, "a", 3)
	rb := put(t, km, "b", 3)
	// Evicting before a policy is attached does nothing.
	if r := m.Apply(fsm.Command{Op: OpEvict, AtMs: 4, Payload: EncodeEvict("b", []Victim{{"a", ra}})}).(evictResult); r.evicted != 0 || !live(km, "a") {
		t.Fatal("evicted without a policy")
	}
	r := m.Apply(cacheCmd(t, OpAttach, 5, &cachepb.CacheServiceAttachPolicyRequest{Policy: &cachepb.CachePolicy{Bucket: "b", MaxEntries: 1}})).(*cachepb.CacheServiceAttachPolicyResponse)
	if !r.GetResult().GetSuccess() || r.GetPolicy().GetEviction() != cachepb.CacheEviction_CACHE_EVICTION_LRU {
		t.Fatalf("attach: %v", r)
	}
	put(t, km, "b", 6) // b rewritten since the leader chose it
	res := m.Apply(fsm.Command{Op: OpEvict, AtMs: 7, Payload: EncodeEvict("b", []Victim{{"a", ra}, {"b", rb}, {"zz", 1}})}).(evictResult)
	if res.evicted != 1 || live(km, "a") || !live(km, "b") {
		t.Fatalf("evict: %+v, a live %v, b live %v", res, live(km, "a"), live(km, "b"))
	}
	_, _, ev, _, _ := m.PolicyOf("b")
	if ev != 1 {
		t.Fatalf("evictions %d", ev)
	}
	// Bad payloads answer errors and change nothing.
	for _, c := range []fsm.Command{{Op: 99}, {Op: OpEvict, Payload: []byte{0xff}}, {Op: OpAttach, Payload: []byte{0xff}}} {
		if _, ok := m.Apply(c).(error); !ok {
			t.Fatalf("op %d with a bad payload did not answer an error", c.Op)
		}
	}
	if r := m.Apply(cacheCmd(t, OpDetach, 8, &cachepb.CacheServiceDetachPolicyRequest{Bucket: "b"})).(*cachepb.CacheServiceDetachPolicyResponse); !r.GetResult().GetSuccess() {
		t.Fatal(r.GetResult())
	}
	if r := m.Apply(cacheCmd(t, OpDetach, 8, &cachepb.CacheServiceDetachPolicyRequest{Bucket: "b"})).(*cachepb.CacheServiceDetachPolicyResponse); r.GetResult().GetResultCode() != "not_found" {
		t.Fatal(r.GetResult())
	}
}

func TestTickExpiresAndSnapshotRestores(t *testing.T) {
	km, m := setup(t)
	put(t, km, "old", 10) // written before the policy: its TTL counts from the attach
	m.Apply(cacheCmd(t, OpAttach, 100, &cachepb.CacheServiceAttachPolicyRequest{Policy: &cachepb.CachePolicy{Bucket: "b", MaxEntries: 10, DefaultTtlMs: 50, Eviction: cachepb.CacheEviction_CACHE_EVICTION_LFU}}))
	put(t, km, "new", 120)
	if m.NextDeadline() == 0 {
		t.Fatal("no deadline after attaching a TTL policy")
	}
	m.Tick(149)
	if !live(km, "old") || !live(km, "new") {
		t.Fatal("expired early")
	}
	if d := m.NextDeadline(); d != 150 {
		t.Fatalf("next deadline %d, want 150", d)
	}
	m.Tick(150)
	if live(km, "old") || !live(km, "new") {
		t.Fatal("old did not expire at 150")
	}
	write, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	r := New(km)
	if err := r.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	p, at, _, exp, ok := r.PolicyOf("b")
	if !ok || at != 100 || exp != 1 || p.GetEviction() != cachepb.CacheEviction_CACHE_EVICTION_LFU || p.GetDefaultTtlMs() != 50 {
		t.Fatalf("restored %v at %d expirations %d", p, at, exp)
	}
	if err := r.Restore(bytes.NewReader(nil)); err != nil {
		t.Fatal(err)
	}
	if r.Attached("b") {
		t.Fatal("empty restore kept a policy")
	}
	if err := r.Restore(bytes.NewReader([]byte("junk!"))); err == nil {
		t.Fatal("junk restored")
	}
}
