package stream

import (
	"bytes"
	"fmt"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSubjects(t *testing.T) {
	for _, c := range []struct {
		s      string
		filter bool
		ok     bool
	}{
		{"a", false, true}, {"a.b.c", false, true}, {"a.*", false, false}, {"a.>", false, false},
		{"a.*", true, true}, {"a.>", true, true}, {">", true, true}, {"a.>.b", true, false},
		{"a..b", true, false}, {".a", false, false}, {"a.", false, false}, {"a b", false, false},
		{"a.b*", true, false}, {"", true, false},
	} {
		if got := CheckSubject("subject", c.s, c.filter) == nil; got != c.ok {
			t.Errorf("CheckSubject(%q, %v) ok = %v", c.s, c.filter, got)
		}
	}
	for _, c := range []struct {
		f, s string
		ok   bool
	}{
		{"a", "a", true}, {"a", "a.b", false}, {"a.>", "a", false}, {"a.>", "a.b.c", true},
		{"a.*", "a.b", true}, {"a.*", "a.b.c", false}, {"*.b", "a.b", true}, {">", "x", true},
		{"a.*.c", "a.b.c", true}, {"a.*.c", "a.b.d", false},
	} {
		if got := Match(c.f, c.s); got != c.ok {
			t.Errorf("Match(%q, %q) = %v", c.f, c.s, got)
		}
	}
	for _, c := range []struct {
		a, b string
		ok   bool
	}{
		{"a", "a", true}, {"a", "b", false}, {"a.>", "a", false}, {"a.>", "a.*", true},
		{"a.*", "*.b", true}, {"a.*", "a.b.c", false}, {">", "x.y", true}, {"a.b", "a.*.c", false},
	} {
		if got := Overlap(c.a, c.b); got != c.ok || Overlap(c.b, c.a) != c.ok {
			t.Errorf("Overlap(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func mustMarshal(t *testing.T, msg proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func apply(t *testing.T, m *Machine, op uint16, at int64, msg proto.Message) any {
	t.Helper()
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return m.ApplyOp(op, at, b)
}

func pub(subject string, id string) *sp.StreamServicePublishRequest {
	return &sp.StreamServicePublishRequest{Message: &sp.StreamPublishMessage{Subject: subject, Data: []byte(subject), MsgId: id}}
}

func TestMachineRedeliveryAndSnapshot(t *testing.T) {
	m := New()
	w := m.Watch("ev")
	defer w.Stop()
	r := apply(t, m, OpCreateStream, 1000, &sp.StreamServiceCreateStreamRequest{Config: &sp.StreamConfig{Name: "ev"}}).(*sp.StreamServiceCreateStreamResponse)
	if !r.GetResult().GetSuccess() {
		t.Fatal(r)
	}
	for i := range 3 {
		a := apply(t, m, OpPublish, 1000, pub("ev.x", fmt.Sprint(i))).(*sp.StreamServicePublishResponse)
		if a.GetSeq() != uint64(i+1) {
			t.Fatal(a)
		}
	}
	if d := apply(t, m, OpPublish, 1001, pub("ev.x", "1")).(*sp.StreamServicePublishResponse); !d.GetDuplicate() || d.GetSeq() != 2 {
		t.Fatalf("dup = %v", d)
	}
	if d := apply(t, m, OpPublish, 1001, pub("other", "")).(*sp.StreamServicePublishResponse); d.GetResult().GetResultCode() != result.CodeNoSubject {
		t.Fatalf("unbound = %v", d)
	}
	apply(t, m, OpCreateConsumer, 1000, &sp.StreamServiceCreateConsumerRequest{Stream: "ev", Config: &sp.ConsumerConfig{DurableName: "c", AckWaitMs: 100, MaxDeliver: 2}})
	got := apply(t, m, OpDeliver, 1100, &sp.StreamServiceFetchRequest{Stream: "ev", Consumer: "c", Batch: 10}).(*sp.StreamServiceFetchResponse)
	if len(got.GetMsgs()) != 3 {
		t.Fatalf("deliver = %v", got)
	}
	apply(t, m, OpAck, 1150, &sp.StreamServiceAckRequest{Stream: "ev", Consumer: "c", Items: []*sp.StreamAckItem{{StreamSeq: 2, NumDelivered: 1}}})
	if d := m.NextDeadline(); d != 1200 {
		t.Fatalf("NextDeadline = %d, want 1200", d)
	}
	m.Tick(1200)
	got = apply(t, m, OpDeliver, 1210, &sp.StreamServiceFetchRequest{Stream: "ev", Consumer: "c", Batch: 10}).(*sp.StreamServiceFetchResponse)
	if len(got.GetMsgs()) != 2 || got.GetMsgs()[0].GetStreamSeq() != 1 || got.GetMsgs()[0].GetNumDelivered() != 2 {
		t.Fatalf("redeliver = %v", got)
	}

	// Snapshot, restore into a fresh machine: same answers.
	write, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	m2 := New()
	if err := m2.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	for _, mm := range []*Machine{m, m2} {
		mm.Tick(1310) // second attempt expires: MaxDeliver 2 drops both
		ci := mm.ConsumerInfo("ev", "c").GetInfo()
		if ci.GetNumDroppedMaxDeliver() != 2 || ci.GetNumAckPending() != 0 || ci.GetNumRedelivered() != 2 {
			t.Fatalf("consumer info = %v", ci)
		}
		if d := apply(t, mm, OpPublish, 1400, pub("ev.x", "1")).(*sp.StreamServicePublishResponse); !d.GetDuplicate() {
			t.Fatalf("dedupe lost in restore: %v", d)
		}
	}
	if err := New().Restore(bytes.NewReader(nil)); err != nil {
		t.Fatalf("empty restore: %v", err)
	}
	select {
	case <-w.C():
	default:
		t.Fatal("no change notifications")
	}
}

func TestMachineRejectsGarbage(t *testing.T) {
	m := New()
	if _, ok := m.ApplyOp(OpPublish, 1, []byte{0xff, 0xff}).(error); !ok {
		t.Fatal("garbage payload accepted")
	}
	if _, ok := m.ApplyOp(999, 1, nil).(error); !ok {
		t.Fatal("unknown op accepted")
	}
}

func TestMachineLimits(t *testing.T) {
	m := New()
	apply(t, m, OpCreateStream, 0, &sp.StreamServiceCreateStreamRequest{Config: &sp.StreamConfig{Name: "l", MaxMsgs: 3, MaxMsgsPerSubject: 1, MaxAgeMs: 1000}})
	for i, s := range []string{"l.a", "l.a", "l.b", "l.c", "l.d"} {
		apply(t, m, OpPublish, int64(i), pub(s, ""))
	}
	st := m.StreamInfo("l").GetInfo().GetState()
	if st.GetMsgs() != 3 || st.GetFirstSeq() != 3 || st.GetLastSeq() != 5 {
		t.Fatalf("state = %v", st)
	}
	m.Tick(1003)
	if st := m.StreamInfo("l").GetInfo().GetState(); st.GetMsgs() != 1 || st.GetFirstSeq() != 5 {
		t.Fatalf("after age = %v", st)
	}
	apply(t, m, OpCreateStream, 0, &sp.StreamServiceCreateStreamRequest{Config: &sp.StreamConfig{Name: "n", MaxMsgs: 1, Discard: sp.StreamDiscard_STREAM_DISCARD_NEW}})
	apply(t, m, OpPublish, 1, pub("n", ""))
	if r := apply(t, m, OpPublish, 1, pub("n", "")).(*sp.StreamServicePublishResponse); r.GetResult().GetResultCode() != result.CodeLimitExceeded {
		t.Fatalf("discard new = %v", r)
	}
}
