package collections

import (
	"bytes"
	"slices"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// apply runs one command and fails the test on a decode error.
func apply[R any](t testing.TB, m *Machine, op uint16, at int64, req proto.Message) R {
	t.Helper()
	payload, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	res := m.ApplyOp(op, at, payload)
	r, ok := res.(R)
	if !ok {
		t.Fatalf("op %d answered %T (%v)", op, res, res)
	}
	return r
}

func snapshot(t testing.TB, m *Machine) []byte {
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

func create(t testing.TB, m *Machine, at int64, cfg *pb.CollectionsStoreConfig) {
	t.Helper()
	r := apply[*pb.CollectionsServiceCreateStoreResponse](t, m, OpCreateStore, at, &pb.CollectionsServiceCreateStoreRequest{Config: cfg})
	if !r.GetResult().GetSuccess() {
		t.Fatalf("create %s: %v", cfg.GetName(), r.GetResult())
	}
}

func hashCfg(name string) *pb.CollectionsStoreConfig {
	return &pb.CollectionsStoreConfig{Name: name, Kind: &pb.CollectionsStoreConfig_Hash{Hash: &pb.HashStoreConfig{}}}
}

func setCfg(name string) *pb.CollectionsStoreConfig {
	return &pb.CollectionsStoreConfig{Name: name, Kind: &pb.CollectionsStoreConfig_Set{Set: &pb.SetStoreConfig{}}}
}

func queueCfg(name string, q *pb.QueueConfig) *pb.CollectionsStoreConfig {
	return &pb.CollectionsStoreConfig{Name: name, Kind: &pb.CollectionsStoreConfig_Queue{Queue: q}}
}

// script drives a machine through every kind of mutation, with times.
func script(t testing.TB, m *Machine) (popped [][]byte) {
	create(t, m, 1000, hashCfg("h"))
	create(t, m, 1000, setCfg("s"))
	create(t, m, 1000, queueCfg("dlq", nil))
	create(t, m, 1000, queueCfg("q", &pb.QueueConfig{VisibilityTimeoutMs: 100, MaxReceiveCount: 2, DeadLetterQueue: "dlq", RetentionMs: 100_000}))
	apply[*pb.CollectionsServiceHSetResponse](t, m, OpHSet, 1001, &pb.CollectionsServiceHSetRequest{Store: "h", Key: "k", Fields: map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")}})
	apply[*pb.CollectionsServiceHExpireResponse](t, m, OpHExpire, 1002, &pb.CollectionsServiceHExpireRequest{Store: "h", Key: "k", Fields: []string{"a"}, TtlMs: 50})
	apply[*pb.CollectionsServiceHExpireResponse](t, m, OpHExpire, 1002, &pb.CollectionsServiceHExpireRequest{Store: "h", Key: "k", Fields: []string{"b"}, TtlMs: 5000})
	apply[*pb.CollectionsServiceHIncrByResponse](t, m, OpHIncrBy, 1003, &pb.CollectionsServiceHIncrByRequest{Store: "h", Key: "n", Field: "x", Delta: 7})
	var members [][]byte
	for i := range 40 {
		members = append(members, []byte{byte('a' + i%26), byte('0' + i/26)})
	}
	apply[*pb.CollectionsServiceSAddResponse](t, m, OpSAdd, 1004, &pb.CollectionsServiceSAddRequest{Store: "s", Key: "k", Members: members})
	p := apply[*pb.CollectionsServiceSPopResponse](t, m, OpSPop, 1005, &pb.CollectionsServiceSPopRequest{Store: "s", Key: "k", Count: 5})
	popped = p.GetMembers()
	apply[*pb.CollectionsServiceSInterResponse](t, m, OpSInterStore, 1006, &pb.CollectionsServiceSInterRequest{Store: "s", Keys: []string{"k"}, Destination: "copy"})
	for i := range 5 {
		apply[*pb.CollectionsServiceQueuePushResponse](t, m, OpQueuePush, 1010+int64(i), &pb.CollectionsServiceQueuePushRequest{Queue: "q", Payload: []byte{byte(i)}, Id: string(rune('a' + i)), Attributes: map[string]string{"i": "x"}})
	}
	delay := int64(500)
	apply[*pb.CollectionsServiceQueuePushResponse](t, m, OpQueuePush, 1020, &pb.CollectionsServiceQueuePushRequest{Queue: "q", Payload: []byte("late"), DelayMs: &delay})
	apply[*pb.CollectionsServiceQueuePopResponse](t, m, OpQueuePop, 1030, &pb.CollectionsServiceQueuePopRequest{Queue: "q", MaxMessages: 2})
	m.Tick(1200) // a field expires, two messages come back
	apply[*pb.CollectionsServiceQueuePopResponse](t, m, OpQueuePop, 1210, &pb.CollectionsServiceQueuePopRequest{Queue: "q", MaxMessages: 1})
	m.Tick(1400) // the re-popped one is dead
	return popped
}

func TestDeterministicAndSnapshotExact(t *testing.T) {
	a, b := New(), New()
	pa, pbb := script(t, a), script(t, b)
	if len(pa) != 5 || !slices.EqualFunc(pa, pbb, bytes.Equal) {
		t.Fatalf("SPOP differs between replicas: %q vs %q", pa, pbb)
	}
	sa, sb := snapshot(t, a), snapshot(t, b)
	if !bytes.Equal(sa, sb) {
		t.Fatal("replicas applying the same commands have different state")
	}
	// A replica restored from the snapshot is the same state, and makes the
	// same choices from then on.
	c := New()
	if err := c.Restore(bytes.NewReader(sa)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snapshot(t, c), sa) {
		t.Fatal("restore changed the state")
	}
	next := func(m *Machine) [][]byte {
		return apply[*pb.CollectionsServiceSPopResponse](t, m, OpSPop, 2000, &pb.CollectionsServiceSPopRequest{Store: "s", Key: "k", Count: 3}).GetMembers()
	}
	if x, y := next(a), next(c); !slices.EqualFunc(x, y, bytes.Equal) {
		t.Fatalf("SPOP after restore differs: %q vs %q", x, y)
	}
	if a.NextDeadline() != c.NextDeadline() || a.NextDeadline() == 0 {
		t.Fatalf("NextDeadline %d vs %d", a.NextDeadline(), c.NextDeadline())
	}
	// What the script did.
	if r := a.HGet(&pb.CollectionsServiceHGetRequest{Store: "h", Key: "k", Field: "a"}, 1500); r.GetResult().GetResultCode() != result.CodeNotFound {
		t.Fatalf("expired field: %v", r)
	}
	if l := a.QueueLen(&pb.CollectionsServiceQueueLenRequest{Queue: "dlq"}, 1400); l.GetReady() != 1 {
		t.Fatalf("dead letters: %v", l)
	}
	if l := a.QueueLen(&pb.CollectionsServiceQueueLenRequest{Queue: "q"}, 1400); l.GetReady() != 4 || l.GetDelayed() != 1 {
		t.Fatalf("queue: %v", l)
	}
	// Empty restore is the empty state.
	if err := c.Restore(bytes.NewReader(nil)); err != nil {
		t.Fatal(err)
	}
	if r := c.ListStores(&pb.CollectionsServiceListStoresRequest{}); len(r.GetStores()) != 0 {
		t.Fatalf("stores after empty restore: %v", r.GetStores())
	}
}

func TestRestoreGarbage(t *testing.T) {
	m := New()
	script(t, m)
	good := snapshot(t, m)
	for _, bad := range [][]byte{{9}, {1}, good[:len(good)/2], append(slices.Clone(good), 0)} {
		fresh := New()
		if err := fresh.Restore(bytes.NewReader(bad)); err == nil {
			t.Errorf("garbage of %d bytes restored", len(bad))
		}
	}
}

func FuzzRestore(f *testing.F) {
	m := New()
	script(f, m)
	f.Add(snapshot(f, m))
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = New().Restore(bytes.NewReader(data)) // must not panic
	})
}

func FuzzApply(f *testing.F) {
	f.Add(uint16(OpQueuePush), []byte("\n\x01q\x12\x01x"))
	f.Add(uint16(OpHSet), []byte{})
	f.Fuzz(func(t *testing.T, op uint16, payload []byte) {
		m := New()
		create(t, m, 1, queueCfg("q", nil))
		create(t, m, 1, hashCfg("h"))
		_ = m.ApplyOp(op, 2, payload) // must not panic
		m.Tick(1 << 40)
	})
}

func TestQueueReceiptsAndRetention(t *testing.T) {
	m := New()
	create(t, m, 0, queueCfg("q", &pb.QueueConfig{VisibilityTimeoutMs: 100, RetentionMs: 1000, DedupeWindowMs: 300}))
	push := func(at int64, id string) *pb.CollectionsServiceQueuePushResponse {
		return apply[*pb.CollectionsServiceQueuePushResponse](t, m, OpQueuePush, at, &pb.CollectionsServiceQueuePushRequest{Queue: "q", Id: id})
	}
	push(0, "a")
	if r := push(299, "a"); !r.GetDuplicate() {
		t.Fatal("duplicate inside the window stored")
	}
	if r := push(300, "a"); r.GetDuplicate() {
		t.Fatal("id remembered past the window")
	}
	pop := apply[*pb.CollectionsServiceQueuePopResponse](t, m, OpQueuePop, 400, &pb.CollectionsServiceQueuePopRequest{Queue: "q"})
	receipt := pop.GetMessages()[0].GetReceipt()
	// Without a tick, the visibility timeout still applies: an ack after it is
	// stale, whenever the tick would have run.
	ack := apply[*pb.CollectionsServiceQueueAckResponse](t, m, OpQueueAck, 500, &pb.CollectionsServiceQueueAckRequest{Queue: "q", Receipt: receipt})
	if ack.GetResult().GetResultCode() != result.CodeNotOwner {
		t.Fatalf("ack after the visibility timeout: %v", ack.GetResult())
	}
	// A receipt from a deleted and re-created queue of the same name is stale.
	pop = apply[*pb.CollectionsServiceQueuePopResponse](t, m, OpQueuePop, 600, &pb.CollectionsServiceQueuePopRequest{Queue: "q"})
	receipt = pop.GetMessages()[0].GetReceipt()
	// Retention drops both messages (pushed at 0 and 300) by 1300.
	m.Tick(1300)
	if l := m.QueueLen(&pb.CollectionsServiceQueueLenRequest{Queue: "q"}, 1300); l.GetReady()+l.GetInFlight()+l.GetDelayed() != 0 {
		t.Fatalf("retention kept %v", l)
	}
	apply[*pb.CollectionsServiceDeleteStoreResponse](t, m, OpDeleteStore, 1400, &pb.CollectionsServiceDeleteStoreRequest{Store: "q"})
	create(t, m, 1500, queueCfg("q", nil))
	push(1500, "")
	apply[*pb.CollectionsServiceQueuePopResponse](t, m, OpQueuePop, 1600, &pb.CollectionsServiceQueuePopRequest{Queue: "q"})
	ack = apply[*pb.CollectionsServiceQueueAckResponse](t, m, OpQueueAck, 1700, &pb.CollectionsServiceQueueAckRequest{Queue: "q", Receipt: receipt})
	if ack.GetResult().GetResultCode() != result.CodeNotOwner {
		t.Fatalf("old incarnation's receipt: %v", ack.GetResult())
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*c", "abbbc", true}, {"a*c", "abd", false},
		{"h?llo", "hello", true}, {"h?llo", "hllo", false}, {"h[ae]llo", "hallo", true}, {"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true}, {"h[^e]llo", "hello", false}, {"h[a-b]llo", "hbllo", true}, {"h[a-b]llo", "hcllo", false},
		{`h\*llo`, "h*llo", true}, {`h\*llo`, "hello", false}, {"user:*:name", "user:17:name", true}, {"*a*a*a*b", "aaaaaaaaaaaaaaaaaaaa", false},
	} {
		if CheckGlob("match", c.p) != nil {
			t.Errorf("%q reported malformed", c.p)
		}
		if got := Glob(c.p, c.s); got != c.want {
			t.Errorf("Glob(%q, %q) = %v", c.p, c.s, got)
		}
	}
	for _, bad := range []string{"[abc", `abc\`, "a[^"} {
		if CheckGlob("match", bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDeterministicTickOrder(t *testing.T) {
	// Two queues dead-letter into one in the same tick: the order in the
	// dead-letter queue must not depend on map iteration.
	var orders [][]string
	for range 10 {
		m := New()
		create(t, m, 0, queueCfg("dlq", nil))
		for _, n := range []string{"q1", "q2", "q3"} {
			create(t, m, 0, queueCfg(n, &pb.QueueConfig{VisibilityTimeoutMs: 10, MaxReceiveCount: 1, DeadLetterQueue: "dlq"}))
			apply[*pb.CollectionsServiceQueuePushResponse](t, m, OpQueuePush, 1, &pb.CollectionsServiceQueuePushRequest{Queue: n, Id: n})
			apply[*pb.CollectionsServiceQueuePopResponse](t, m, OpQueuePop, 2, &pb.CollectionsServiceQueuePopRequest{Queue: n})
		}
		m.Tick(100)
		var ids []string
		for _, msg := range m.QueuePeek(&pb.CollectionsServiceQueuePeekRequest{Queue: "dlq", Count: 10}).GetMessages() {
			ids = append(ids, msg.GetId())
		}
		orders = append(orders, ids)
	}
	for _, o := range orders {
		if !slices.Equal(o, []string{"q1", "q2", "q3"}) {
			t.Fatalf("dead-letter order %v", o)
		}
	}
}

func TestResponseLimit(t *testing.T) {
	m := New()
	create(t, m, 0, hashCfg("h"))
	big := bytes.Repeat([]byte("x"), 1<<20)
	fields := map[string][]byte{}
	for _, f := range []string{"a", "b", "c", "d", "e"} {
		fields[f] = big
	}
	apply[*pb.CollectionsServiceHSetResponse](t, m, OpHSet, 1, &pb.CollectionsServiceHSetRequest{Store: "h", Key: "k", Fields: fields})
	if r := m.HGetAll(&pb.CollectionsServiceHGetAllRequest{Store: "h", Key: "k"}, 2); r.GetResult().GetResultCode() != result.CodeLimitExceeded {
		t.Fatalf("HGETALL of 5 MiB: %v", r.GetResult())
	}
	if r := m.HKeys(&pb.CollectionsServiceHKeysRequest{Store: "h", Key: "k"}, 2); len(r.GetFields()) != 5 {
		t.Fatalf("HKEYS: %v", r.GetResult())
	}
	// Scanning in small pages gets everything.
	n := 0
	for cursor := ""; ; {
		r := m.HScan(&pb.CollectionsServiceHScanRequest{Store: "h", Key: "k", Cursor: cursor, Count: 2}, 2)
		n += len(r.GetFields())
		if cursor = r.GetCursor(); cursor == "" {
			break
		}
	}
	if n != 5 {
		t.Fatalf("HSCAN answered %d fields", n)
	}
}

// A member present for the whole scan is answered exactly once, however
// the set changes between pages.
func TestScanUnderChange(t *testing.T) {
	m := New()
	create(t, m, 0, setCfg("s"))
	add := func(at int64, ms ...string) {
		var b [][]byte
		for _, s := range ms {
			b = append(b, []byte(s))
		}
		apply[*pb.CollectionsServiceSAddResponse](t, m, OpSAdd, at, &pb.CollectionsServiceSAddRequest{Store: "s", Key: "k", Members: b})
	}
	var stable []string
	for i := range 100 {
		stable = append(stable, string(rune('A'+i%26))+string(rune('a'+i/26)))
	}
	add(1, stable...)
	seen := map[string]int{}
	cursor, at := "", int64(2)
	for {
		r := m.SScan(&pb.CollectionsServiceSScanRequest{Store: "s", Key: "k", Cursor: cursor, Count: 7})
		for _, mb := range r.GetMembers() {
			seen[string(mb)]++
		}
		// Churn: add and remove other members, all over the order.
		at++
		extra := []string{"0" + string(rune('a'+at%26)), "~" + string(rune('a'+at%26)), "M" + string(rune('a'+at%26)) + "!"}
		add(at, extra...)
		if at%2 == 0 {
			var b [][]byte
			for _, s := range extra {
				b = append(b, []byte(s))
			}
			apply[*pb.CollectionsServiceSRemResponse](t, m, OpSRem, at, &pb.CollectionsServiceSRemRequest{Store: "s", Key: "k", Members: b})
		}
		if cursor = r.GetCursor(); cursor == "" {
			break
		}
	}
	for _, s := range stable {
		if seen[s] != 1 {
			t.Fatalf("%q answered %d times", s, seen[s])
		}
	}
}

// Len counts as a command at now would see the queue, before any tick.
func TestQueueLenBeforeTick(t *testing.T) {
	m := New()
	create(t, m, 0, queueCfg("q", &pb.QueueConfig{VisibilityTimeoutMs: 100, MaxReceiveCount: 2}))
	delay := int64(100)
	for _, id := range []string{"a", "b", "c"} {
		apply[*pb.CollectionsServiceQueuePushResponse](t, m, OpQueuePush, 0, &pb.CollectionsServiceQueuePushRequest{Queue: "q", Id: id})
	}
	apply[*pb.CollectionsServiceQueuePushResponse](t, m, OpQueuePush, 0, &pb.CollectionsServiceQueuePushRequest{Queue: "q", Id: "d", DelayMs: &delay})
	apply[*pb.CollectionsServiceQueuePopResponse](t, m, OpQueuePop, 0, &pb.CollectionsServiceQueuePopRequest{Queue: "q", MaxMessages: 2}) // a, b
	nack := func(receipt string) {
		apply[*pb.CollectionsServiceQueueNackResponse](t, m, OpQueueNack, 10, &pb.CollectionsServiceQueueNackRequest{Queue: "q", Receipt: receipt})
	}
	// c popped twice: its second visibility timeout sends it to the dead letters.
	c := apply[*pb.CollectionsServiceQueuePopResponse](t, m, OpQueuePop, 5, &pb.CollectionsServiceQueuePopRequest{Queue: "q"})
	nack(c.GetMessages()[0].GetReceipt())
	apply[*pb.CollectionsServiceQueuePopResponse](t, m, OpQueuePop, 20, &pb.CollectionsServiceQueuePopRequest{Queue: "q"})
	for _, tc := range []struct {
		now                      int64
		ready, inflight, delayed int64
	}{
		{50, 0, 3, 1},  // a, b, c in flight; d delayed
		{100, 3, 1, 0}, // a, b back, d ready; c still in flight
		{120, 3, 0, 0}, // c dead (no dead-letter queue: dropped)
	} {
		l := m.QueueLen(&pb.CollectionsServiceQueueLenRequest{Queue: "q"}, tc.now)
		if l.GetReady() != tc.ready || l.GetInFlight() != tc.inflight || l.GetDelayed() != tc.delayed {
			t.Errorf("at %d: %v, want ready %d in flight %d delayed %d", tc.now, l, tc.ready, tc.inflight, tc.delayed)
		}
	}
}
