package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

func TestStreamLimitsRetention(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)

	// MaxMsgs with DiscardOld: the oldest go.
	s := newStream(t, c, waymaker.StreamConfig{MaxMsgs: 3})
	publishN(t, s, s.Name(), 5)
	if info, _ := s.Info(ctx); info.State.Msgs != 3 || info.State.FirstSeq != 3 || info.State.LastSeq != 5 {
		t.Fatalf("MaxMsgs: %+v", info.State)
	}
	// MaxMsgs with DiscardNew: the new one is refused, nothing stored.
	sn := newStream(t, c, waymaker.StreamConfig{Name: name(t) + "_new", MaxMsgs: 2, Discard: waymaker.DiscardNew})
	publishN(t, sn, sn.Name(), 2)
	_, err := sn.Publish(ctx, sn.Name(), []byte("x"))
	wantCode(t, err, "server", "limit_exceeded", "max_msgs")
	if info, _ := sn.Info(ctx); info.State.Msgs != 2 || info.State.LastSeq != 2 {
		t.Fatalf("DiscardNew stored: %+v", info.State)
	}
	// MaxBytes counts subject + data.
	subj := "mb." + name(t)
	sb := newStream(t, c, waymaker.StreamConfig{Name: name(t) + "_b", Subjects: []string{subj}, MaxBytes: 100})
	for range 10 {
		if _, err := sb.Publish(ctx, subj, make([]byte, 30)); err != nil {
			t.Fatal(err)
		}
	}
	if info, _ := sb.Info(ctx); info.State.Bytes > 100 || info.State.Msgs == 0 {
		t.Fatalf("MaxBytes: %+v", info.State)
	}
	// MaxMsgsPerSubject keeps the newest per subject.
	sp := newStream(t, c, waymaker.StreamConfig{Name: name(t) + "_ps", MaxMsgsPerSubject: 1})
	for _, x := range []string{"a", "b", "a", "a", "b"} {
		if _, err := sp.Publish(ctx, sp.Name()+"."+x, []byte(x)); err != nil {
			t.Fatal(err)
		}
	}
	if info, _ := sp.Info(ctx); info.State.Msgs != 2 || info.State.NumSubjects != 2 {
		t.Fatalf("MaxMsgsPerSubject: %+v", info.State)
	}
	if m, err := sp.GetLastMsgForSubject(ctx, sp.Name()+".a"); err != nil || m.Sequence != 4 {
		t.Fatalf("last of a = %+v, %v", m, err)
	}
	// MaxAge expires messages on the server's clock.
	sa := newStream(t, c, waymaker.StreamConfig{Name: name(t) + "_age", MaxAge: 200 * time.Millisecond})
	publishN(t, sa, sa.Name(), 3)
	if !eventually(5*time.Second, func() bool {
		info, err := sa.Info(ctx)
		return err == nil && info.State.Msgs == 0 && info.State.LastSeq == 3
	}) {
		t.Fatal("MaxAge did not expire the messages")
	}
	// MaxMsgSize refuses a larger message, naming the rule.
	sz := newStream(t, c, waymaker.StreamConfig{Name: name(t) + "_sz", MaxMsgSize: 64})
	_, err = sz.Publish(ctx, sz.Name(), make([]byte, 100))
	wantCode(t, err, "server", "limit_exceeded", "max_msg_size")
}

func TestStreamWorkQueueGivesEachMessageToOneConsumer(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{Retention: waymaker.RetentionWorkQueue})
	a, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "a", FilterSubjects: []string{s.Name() + ".a.>"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "b", FilterSubjects: []string{s.Name() + ".b.*"}})
	if err != nil {
		t.Fatal(err)
	}
	// Overlapping filters are refused on a work queue, naming the rule.
	_, err = s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "c", FilterSubjects: []string{s.Name() + ".*.x"}})
	wantCode(t, err, "server", "conflict", "filter_subjects")
	_, err = s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "all"})
	wantCode(t, err, "server", "conflict", "work-queue")

	const n = 100
	for i := range n {
		sub := s.Name() + ".a.x"
		if i%2 == 1 {
			sub = s.Name() + ".b.x"
		}
		if _, err := s.Publish(ctx, sub, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[uint64]string{}
	for _, cons := range []*waymaker.Consumer{a, b} {
		got, err := cons.Fetch(ctx, n, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n/2 {
			t.Fatalf("%s got %d, want %d", cons.Name(), len(got), n/2)
		}
		for _, m := range got {
			if prev, dup := seen[m.StreamSeq]; dup {
				t.Fatalf("seq %d went to %s and %s", m.StreamSeq, prev, cons.Name())
			}
			seen[m.StreamSeq] = cons.Name()
			if err := m.AckSync(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(seen) != n {
		t.Fatalf("delivered %d distinct, want %d", len(seen), n)
	}
	// Acked work-queue messages are removed.
	if info, _ := s.Info(ctx); info.State.Msgs != 0 || info.State.LastSeq != n {
		t.Fatalf("after acks: %+v", info.State)
	}
}

func TestStreamInterestRetention(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{Retention: waymaker.RetentionInterest})
	// No consumer: nothing is interested, nothing is kept.
	publishN(t, s, s.Name(), 1)
	if info, _ := s.Info(ctx); info.State.Msgs != 0 || info.State.LastSeq != 1 {
		t.Fatalf("no interest kept: %+v", info.State)
	}
	a, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "a"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "b"})
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, s, s.Name(), 3)
	ackAll := func(cons *waymaker.Consumer) {
		got, err := cons.Fetch(ctx, 10, time.Second)
		if err != nil || len(got) != 3 {
			t.Fatalf("fetch = %d, %v", len(got), err)
		}
		for _, m := range got {
			if err := m.AckSync(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	ackAll(a)
	if info, _ := s.Info(ctx); info.State.Msgs != 3 {
		t.Fatalf("removed before every consumer acked: %+v", info.State)
	}
	ackAll(b)
	if info, _ := s.Info(ctx); info.State.Msgs != 0 {
		t.Fatalf("kept after every consumer acked: %+v", info.State)
	}
}

func TestStreamDuplicateWindow(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{DuplicateWindow: 300 * time.Millisecond})
	a1, err := s.Publish(ctx, s.Name(), []byte("1"), stream.WithMsgID("x"))
	if err != nil {
		t.Fatal(err)
	}
	a2, err := s.Publish(ctx, s.Name(), []byte("2"), stream.WithMsgID("x"))
	if err != nil || !a2.Duplicate || a2.Sequence != a1.Sequence {
		t.Fatalf("duplicate = %+v, %v", a2, err)
	}
	if info, _ := s.Info(ctx); info.State.Msgs != 1 {
		t.Fatalf("duplicate stored: %+v", info.State)
	}
	// Outside the window the id is new again.
	if !eventually(5*time.Second, func() bool {
		a, err := s.Publish(ctx, s.Name(), []byte("3"), stream.WithMsgID("x"))
		return err == nil && !a.Duplicate && a.Sequence == 2
	}) {
		t.Fatal("msg id still deduplicated after the window")
	}
}

func TestStreamExpectedSequences(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	if _, err := s.Publish(ctx, s.Name()+".a", nil, stream.WithExpectLastSeq(0)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Publish(ctx, s.Name()+".a", nil, stream.WithExpectLastSeq(0))
	wantCode(t, err, "server", "wrong_sequence", "expected_last_seq")
	if _, err := s.Publish(ctx, s.Name()+".b", nil, stream.WithExpectLastSeqPerSubject(0)); err != nil {
		t.Fatal(err)
	}
	_, err = s.Publish(ctx, s.Name()+".a", nil, stream.WithExpectLastSeqPerSubject(2))
	wantCode(t, err, "server", "wrong_sequence", "expected_last_subject_seq")
	if _, err := s.Publish(ctx, s.Name()+".a", nil, stream.WithExpectLastSeqPerSubject(1), stream.WithMsgID("m3")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(ctx, s.Name()+".a", nil, stream.WithExpectLastMsgID("m3")); err != nil {
		t.Fatal(err)
	}
}

func TestStreamPurgeGetDeleteMsg(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	for i, x := range []string{"a", "b", "a", "b", "a", "b"} {
		if _, err := s.Publish(ctx, s.Name()+"."+x, []byte(fmt.Sprint(i)), stream.WithHeaders(stream.Header{"k": {x}})); err != nil {
			t.Fatal(err)
		}
	}
	m, err := s.GetMsg(ctx, 2)
	if err != nil || m.Subject != s.Name()+".b" || string(m.Payload) != "1" || m.Headers["k"][0] != "b" {
		t.Fatalf("GetMsg = %+v, %v", m, err)
	}
	if err := s.DeleteMsg(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMsg(ctx, 2); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("deleted GetMsg = %v", err)
	}
	if err := s.DeleteMsg(ctx, 2); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("delete twice = %v", err)
	}
	if info, _ := s.Info(ctx); info.State.Msgs != 5 || info.State.NumDeleted != 1 {
		t.Fatalf("after delete: %+v", info.State)
	}
	n, err := s.Purge(ctx, stream.PurgeSubject(s.Name()+".a"), stream.PurgeKeep(1))
	if err != nil || n != 2 {
		t.Fatalf("purge a keep 1 = %d, %v", n, err)
	}
	if last, err := s.GetLastMsgForSubject(ctx, s.Name()+".a"); err != nil || last.Sequence != 5 {
		t.Fatalf("last a = %+v, %v", last, err)
	}
	n, err = s.Purge(ctx, stream.PurgeBelow(6))
	if err != nil || n != 2 { // 4 (b) and 5 (a)
		t.Fatalf("purge below 6 = %d, %v", n, err)
	}
	n, err = s.Purge(ctx)
	if err != nil || n != 1 {
		t.Fatalf("purge all = %d, %v", n, err)
	}
	if info, _ := s.Info(ctx); info.State.Msgs != 0 || info.State.LastSeq != 6 || info.State.FirstSeq != 7 {
		t.Fatalf("after purge: %+v", info.State)
	}
	// Sequences keep increasing after a purge.
	if a, err := s.Publish(ctx, s.Name()+".a", nil); err != nil || a.Sequence != 7 {
		t.Fatalf("publish after purge = %+v, %v", a, err)
	}
}

func TestStreamConsumerCRUDAndListing(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	for _, n := range []string{"c2", "c1", "c3"} {
		if _, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: n}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "c1", AckWait: time.Second}); !errors.Is(err, waymaker.ErrExists) {
		t.Fatalf("recreate differently = %v", err)
	}
	if _, err := s.GetOrCreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "c1", AckWait: time.Second}); err != nil {
		t.Fatalf("GetOrCreate existing = %v", err)
	}
	if _, err := s.UpdateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "c1", AckWait: time.Second}); err != nil {
		t.Fatal(err)
	}
	if info, _ := s.Consumer("c1").Info(ctx); info.Config.AckWait != time.Second {
		t.Fatalf("updated = %+v", info.Config)
	}
	_, err := s.UpdateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "c1", DeliverPolicy: waymaker.DeliverNew})
	wantCode(t, err, "server", "invalid_argument", "deliver_policy")
	var names []string
	for ci, err := range s.ListConsumers(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, ci.Name)
	}
	if strings.Join(names, ",") != "c1,c2,c3" {
		t.Fatalf("ListConsumers = %v", names)
	}
	if err := s.DeleteConsumer(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetConsumer(ctx, "c2"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("deleted consumer = %v", err)
	}
	if info, _ := s.Info(ctx); info.State.ConsumerCount != 2 {
		t.Fatalf("consumer count = %d", info.State.ConsumerCount)
	}
	// Deleting a consumer ends its Messages iterator with ErrNotFound.
	it, err := s.Consumer("c3").Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteConsumer(ctx, "c3"); err != nil {
		t.Fatal(err)
	}
	if m, err := it.Next(); m != nil || !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("Next after delete = %v, %v", m, err)
	}
	it.Stop()
}
