package transport

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"
)

// startCount pumps Count's numbers, resuming after the last one emitted;
// it ends the listing after upTo (0: never) and fails with failAt's error
// when that number arrives (0: never).
func startCount(ctx context.Context, t *testing.T, conn *Conn, cfg PumpConfig, upTo, failAt uint64, failWith error) (*Pump[uint64], error) {
	t.Helper()
	var last uint64
	return StartPump(ctx, conn, cfg,
		func(ctx context.Context) (Receiver[wrapperspb.UInt64Value], error) {
			return countStream(ctx, conn, last)
		},
		func(m *wrapperspb.UInt64Value, emit func(uint64) error) error {
			if m.GetValue() == failAt {
				return failWith
			}
			if err := emit(m.GetValue()); err != nil {
				return err
			}
			last = m.GetValue()
			if last == upTo {
				return ErrStreamDone
			}
			return nil
		})
}

// drain reads p with Next until the end and returns the values and the
// end's error, failing the test when it does not end within 10 s.
func drain(t *testing.T, p *Pump[uint64]) ([]uint64, error) {
	t.Helper()
	type end struct {
		got []uint64
		err error
	}
	ch := make(chan end, 1)
	go func() {
		var got []uint64
		for {
			v, err := p.Next()
			if err != nil || v == 0 { // the seed's loop shape
				ch <- end{got, err}
				return
			}
			got = append(got, v)
		}
	}()
	select {
	case e := <-ch:
		return e.got, e.err
	case <-time.After(10 * time.Second):
		t.Fatal("the pump did not end")
		return nil, nil
	}
}

func TestPumpDeliversEverythingAcrossADropThenEndsWithEOF(t *testing.T) {
	svc := &seqService{total: 100, dropAfter: 30}
	conn := dialTest(t, serve(t, "127.0.0.1:0", svc).addr)
	// A buffer of 2 makes the handler wait for the reader, so the resume
	// point is recorded only for values in the reader's hands.
	p, err := startCount(context.Background(), t, conn, PumpConfig{Buffer: 2}, 100, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	got, err := drain(t, p)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("a complete listing ended with %v, want io.EOF", err)
	}
	wantSequence(t, got, 100)
	for range 3 { // the end is sticky
		if v, err := p.Next(); v != 0 || !errors.Is(err, io.EOF) {
			t.Fatalf("Next after the end = %d, %v; want 0, io.EOF", v, err)
		}
	}
	if opens := svc.openedWith(); len(opens) != 2 || opens[1] != 30 {
		t.Fatalf("Count opened from %v, want [0 30]", opens)
	}
}

func TestPumpStopReleasesTheStreamAndNextReturnsEOF(t *testing.T) {
	svc := &seqService{total: 1000, hold: true}
	conn := dialTest(t, serve(t, "127.0.0.1:0", svc).addr)
	p, err := startCount(context.Background(), t, conn, PumpConfig{Buffer: 4}, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p.Next(); v != 1 || err != nil {
		t.Fatalf("first Next = %d, %v; want 1, nil", v, err)
	}
	p.Stop() // the handler is blocked on a full buffer here
	p.Stop() // and a second Stop is harmless
	if v, err := p.Next(); v != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("Next after Stop = %d, %v; want 0, io.EOF", v, err)
	}
	if !p.over.isOpen() {
		t.Fatal("Stop returned before the pump's goroutine ended")
	}
}

func TestPumpEndsWithTheContextsErrorWhenItEnds(t *testing.T) {
	svc := &seqService{total: 5, hold: true}
	conn := dialTest(t, serve(t, "127.0.0.1:0", svc).addr)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := startCount(ctx, t, conn, PumpConfig{}, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	for want := uint64(1); want <= 5; want++ {
		if v, err := p.Next(); v != want || err != nil {
			t.Fatalf("Next = %d, %v; want %d, nil", v, err, want)
		}
	}
	cancel()
	if got, err := drain(t, p); !errors.Is(err, context.Canceled) || len(got) != 0 {
		t.Fatalf("after cancel: %v, %v; want nothing and context.Canceled", got, err)
	}
	// All yields that error: the loop did not end by itself.
	var last error
	for _, err := range p.All() {
		last = err
	}
	if !errors.Is(last, context.Canceled) {
		t.Fatalf("All after cancel yielded %v, want context.Canceled", last)
	}
}

func TestPumpEndsWithErrClosedWhenTheConnCloses(t *testing.T) {
	svc := &seqService{total: 3, hold: true}
	conn := dialTest(t, serve(t, "127.0.0.1:0", svc).addr)
	p, err := startCount(context.Background(), t, conn, PumpConfig{AwaitFirst: true}, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	_ = conn.Close()
	got, err := drain(t, p)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("ended with %v, want ErrClosed", err)
	}
	// What was buffered before the close may come first, in order.
	for i, v := range got {
		if v != uint64(i+1) {
			t.Fatalf("values before the end %v, want a prefix of 1..3", got)
		}
	}
}

func TestPumpDeliversBufferedValuesThenThePermanentError(t *testing.T) {
	svc := &seqService{total: 10}
	conn := dialTest(t, serve(t, "127.0.0.1:0", svc).addr)
	gone := Invalid("bucket", "deleted by test")
	p, err := startCount(context.Background(), t, conn, PumpConfig{}, 0, 6, gone)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	var last error
	n := 0
	for v, err := range p.All() {
		n++
		if err != nil {
			if v != 0 {
				t.Fatalf("the error came with %d, want the zero value", v)
			}
			last = err
			continue
		}
		got = append(got, v)
	}
	wantSequence(t, got, 5)
	if !errors.Is(last, gone) || n != 6 {
		t.Fatalf("All yielded %d elements ending with %v; want 5 values, then %v once", n, last, gone)
	}
	if v, err := p.Next(); v != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("Next after All = %d, %v; want 0, io.EOF (All stops the pump)", v, err)
	}
}

func TestPumpAwaitFirstFailsAtTheStartOnAPermanentError(t *testing.T) {
	svc := &seqService{total: 10}
	conn := dialTest(t, serve(t, "127.0.0.1:0", svc).addr)
	gone := Invalid("bucket", "not found by test")
	p, err := startCount(context.Background(), t, conn, PumpConfig{AwaitFirst: true}, 0, 1, gone)
	if !errors.Is(err, gone) || p != nil {
		t.Fatalf("StartPump = %v, %v; want nil, %v", p, err, gone)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := startCount(ctx, t, conn, PumpConfig{AwaitFirst: true}, 0, 0, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("StartPump with an ended context = %v, want context.Canceled", err)
	}
}

func TestPumpAllBreakStopsIt(t *testing.T) {
	svc := &seqService{total: 1000, hold: true}
	conn := dialTest(t, serve(t, "127.0.0.1:0", svc).addr)
	p, err := startCount(context.Background(), t, conn, PumpConfig{Buffer: 1}, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for v, err := range p.All() {
		if err != nil || v != 1 {
			t.Fatalf("first element %d, %v; want 1, nil", v, err)
		}
		break
	}
	if !p.over.isOpen() {
		t.Fatal("breaking out of All left the pump running")
	}
}

func TestStartPumpOnAClosedConnFails(t *testing.T) {
	conn := dialTest(t, serve(t, "127.0.0.1:0", &seqService{}).addr)
	_ = conn.Close()
	if _, err := startCount(context.Background(), t, conn, PumpConfig{}, 0, 0, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("StartPump on a closed Conn = %v, want ErrClosed", err)
	}
}

// A loop that checks only the error, as much code written against the
// stream iterator does, ends too: the end always carries one.
func TestPumpLoopOnErrorAloneEnds(t *testing.T) {
	svc := &seqService{total: 20}
	conn := dialTest(t, serve(t, "127.0.0.1:0", svc).addr)
	p, err := startCount(context.Background(), t, conn, PumpConfig{}, 20, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	var sum uint64
	for n := 0; ; n++ {
		v, err := p.Next()
		if err != nil {
			break
		}
		if n > 20 {
			t.Fatal("Next kept returning values with a nil error after the end")
		}
		sum += v
	}
	if sum != 20*21/2 {
		t.Fatalf("sum of the values %d, want %d", sum, 20*21/2)
	}
}
