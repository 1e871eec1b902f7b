package transport

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"
)

func dialTest(t *testing.T, addr string) *Conn {
	t.Helper()
	conn, err := Dial(context.Background(), []string{addr}, WithBackoff(Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// follow runs Follow over Count, recording what it received, until it has
// seen upTo or fails. onDeliver, when set, runs after each delivery.
func follow(ctx context.Context, conn *Conn, upTo uint64, got *[]uint64, onDeliver func(uint64)) error {
	var last uint64
	return Follow(ctx, conn,
		func(ctx context.Context) (Receiver[wrapperspb.UInt64Value], error) {
			return countStream(ctx, conn, last) // resume after the last delivered
		},
		func(m *wrapperspb.UInt64Value) error {
			*got = append(*got, m.GetValue())
			last = m.GetValue()
			if onDeliver != nil {
				onDeliver(last)
			}
			if last == upTo {
				return ErrStreamDone
			}
			return nil
		})
}

func wantSequence(t *testing.T, got []uint64, n uint64) {
	t.Helper()
	want := make([]uint64, 0, n)
	for i := uint64(1); i <= n; i++ {
		want = append(want, i)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("received %v, want 1..%d with no gap and no duplicate", got, n)
	}
}

func TestFollowRebindsFromResumePointAfterStreamError(t *testing.T) {
	svc := &seqService{total: 50, dropAfter: 20}
	s := serve(t, "127.0.0.1:0", svc)
	conn := dialTest(t, s.addr)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []uint64
	if err := follow(ctx, conn, 50, &got, nil); err != nil {
		t.Fatalf("Follow: %v", err)
	}
	wantSequence(t, got, 50)
	if opens := svc.openedWith(); !slices.Equal(opens, []uint64{0, 20}) {
		t.Fatalf("stream opened with resume points %v, want [0 20]", opens)
	}
}

func TestFollowRebindsAcrossServerRestart(t *testing.T) {
	svc := &seqService{total: 30, pauseAt: 10}
	s := serve(t, "127.0.0.1:0", svc)
	conn := dialTest(t, s.addr)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []uint64
	// The server stops sending after 10. When the client has handled it,
	// kill the server and bring a new one up on the same address before
	// letting the client go on.
	atTen, resume := make(chan struct{}), make(chan struct{})
	onDeliver := func(seq uint64) {
		if seq == 10 {
			close(atTen)
			<-resume
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- follow(ctx, conn, 30, &got, onDeliver) }()
	<-atTen
	s.stop()
	serve(t, s.addr, svc)
	close(resume)

	if err := <-errc; err != nil {
		t.Fatalf("Follow: %v", err)
	}
	wantSequence(t, got, 30)
	if opens := svc.openedWith(); !slices.Equal(opens, []uint64{0, 10}) {
		t.Fatalf("stream opened with resume points %v, want [0 10]", opens)
	}
}

func TestFollowEndsOnClose(t *testing.T) {
	svc := &seqService{total: 3, hold: true, opened: make(chan uint64, 1)}
	s := serve(t, "127.0.0.1:0", svc)
	conn := dialTest(t, s.addr)

	var got []uint64
	errc := make(chan error, 1)
	go func() { errc <- follow(context.Background(), conn, 1000, &got, nil) }()
	<-svc.opened
	_ = conn.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Follow after Close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not end after Close")
	}
}

func TestFollowEndsOnContextCancel(t *testing.T) {
	svc := &seqService{total: 3, hold: true, opened: make(chan uint64, 1)}
	s := serve(t, "127.0.0.1:0", svc)
	conn := dialTest(t, s.addr)

	ctx, cancel := context.WithCancel(context.Background())
	var got []uint64
	errc := make(chan error, 1)
	go func() { errc <- follow(ctx, conn, 1000, &got, nil) }()
	<-svc.opened
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow after cancel = %v, want context.Canceled", err)
	}
}

func TestFollowStopsOnPermanentHandlerError(t *testing.T) {
	svc := &seqService{total: 5}
	s := serve(t, "127.0.0.1:0", svc)
	conn := dialTest(t, s.addr)
	err := Follow(context.Background(), conn,
		func(ctx context.Context) (Receiver[wrapperspb.UInt64Value], error) { return countStream(ctx, conn, 0) },
		func(*wrapperspb.UInt64Value) error { return ErrNotFound })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Follow = %v, want the handler's ErrNotFound", err)
	}
	if n := len(svc.openedWith()); n != 1 {
		t.Fatalf("stream opened %d times; a permanent error must not rebind", n)
	}
}
