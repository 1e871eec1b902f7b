package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

func newStream(t testing.TB, c *waymaker.Client, cfg waymaker.StreamConfig) *waymaker.Stream {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = name(t)
	}
	s, err := c.CreateStream(testCtx(t, 10*time.Second), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// next returns the next message of it or fails the test after d.
// pushMessages creates a durable consumer on s and opens its push
// delivery, which stops when the test ends.
func pushMessages(t testing.TB, ctx context.Context, s *waymaker.Stream, cfg waymaker.ConsumerConfig) (*waymaker.Consumer, *waymaker.Messages) {
	t.Helper()
	cons, err := s.CreateConsumer(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	it, err := cons.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(it.Stop)
	return cons, it
}

func next(t testing.TB, it *waymaker.Messages, d time.Duration) *waymaker.Msg {
	t.Helper()
	type res struct {
		m   *waymaker.Msg
		err error
	}
	ch := make(chan res, 1)
	go func() {
		m, err := it.Next()
		ch <- res{m, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil || r.m == nil {
			t.Fatalf("Next = %v, %v", r.m, r.err)
		}
		return r.m
	case <-time.After(d):
		it.Stop()
		<-ch
		t.Fatalf("no message within %v", d)
		return nil
	}
}

func wantCode(t testing.TB, err error, kind, code, mention string) {
	t.Helper()
	var werr *waymaker.Error
	if !errors.As(err, &werr) || werr.Kind != kind || werr.Code != code || !strings.Contains(werr.Message, mention) {
		t.Fatalf("err = %v, want kind %q code %q mentioning %q", err, kind, code, mention)
	}
}

func TestStreamCRUD(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 20*time.Second)
	n := name(t)
	s, err := c.CreateStream(ctx, waymaker.StreamConfig{Name: n, MaxMsgs: 10})
	if err != nil {
		t.Fatal(err)
	}
	// Identical create succeeds; a different one is refused.
	if _, err := c.CreateStream(ctx, waymaker.StreamConfig{Name: n, MaxMsgs: 10}); err != nil {
		t.Fatalf("identical create: %v", err)
	}
	if _, err := c.CreateStream(ctx, waymaker.StreamConfig{Name: n, MaxMsgs: 11}); !errors.Is(err, waymaker.ErrExists) {
		t.Fatalf("different create: %v, want ErrExists", err)
	}
	// No subjects: binds <name> and <name>.>; another stream may not overlap.
	if _, err := c.CreateStream(ctx, waymaker.StreamConfig{Name: n + "_b", Subjects: []string{n + ".*.x"}}); !errors.Is(err, waymaker.ErrConflict) {
		t.Fatalf("overlapping create: %v, want ErrConflict", err)
	}
	if _, err := s.Publish(ctx, n, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(ctx, n+".deep.subject", []byte("b")); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetStream(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	info, err := got.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 || info.State.LastSeq != 2 || info.State.NumSubjects != 2 || info.Config.MaxMsgSize != 1<<20 {
		t.Fatalf("info = %+v", info)
	}
	// GetOrCreate returns the existing stream as it is.
	if g, err := c.GetOrCreateStream(ctx, waymaker.StreamConfig{Name: n}); err != nil || g.CachedInfo().Config.MaxMsgs != 10 {
		t.Fatalf("GetOrCreate existing = %v, %v", g, err)
	}
	if _, err := c.UpdateStream(ctx, waymaker.StreamConfig{Name: n, MaxMsgs: 1}); err != nil {
		t.Fatal(err)
	}
	if info, _ := s.Info(ctx); info.State.Msgs != 1 || info.State.FirstSeq != 2 {
		t.Fatalf("after lowering MaxMsgs: %+v", info.State)
	}
	if _, err := c.UpdateStream(ctx, waymaker.StreamConfig{Name: n, Retention: waymaker.RetentionWorkQueue}); !errors.Is(err, waymaker.ErrInvalidArgument) {
		t.Fatalf("changing retention: %v", err)
	}
	names, err := c.StreamNames(ctx)
	if err != nil || !contains(names, n) {
		t.Fatalf("StreamNames = %v, %v", names, err)
	}
	if err := c.DeleteStream(ctx, n); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetStream(ctx, n); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if err := c.DeleteStream(ctx, n); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestStreamPushConsumeWithAcks(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	const n = 500
	for i := range n {
		ack, err := s.Publish(ctx, s.Name()+".m", []byte(fmt.Sprint(i)), stream.WithMsgID(fmt.Sprint("id", i)))
		if err != nil || ack.Sequence != uint64(i+1) || ack.Stream != s.Name() {
			t.Fatalf("publish %d = %+v, %v", i, ack, err)
		}
	}
	cons, err := s.GetOrCreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "d", AckWait: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	it, err := cons.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Stop()
	for i := range n {
		m := next(t, it, 10*time.Second)
		if string(m.Payload) != fmt.Sprint(i) || m.StreamSeq != uint64(i+1) || m.NumDelivered != 1 || m.MsgID != fmt.Sprint("id", i) {
			t.Fatalf("message %d = %+v", i, m)
		}
		if err := m.AckSync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.AckFloor.Stream != n || info.Delivered.Stream != n || info.NumPending != 0 {
		t.Fatalf("info = %+v", info)
	}
	// A message published now reaches the open iterator.
	if _, err := s.Publish(ctx, s.Name()+".late", []byte("late")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, it, 10*time.Second); string(m.Payload) != "late" {
		t.Fatalf("late = %q", m.Payload)
	}
}
