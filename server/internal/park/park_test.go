package park

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/notify"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// stream is a grpc.ServerStream with a context only: Run touches no more.
type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s stream) Context() context.Context { return s.ctx }

// countLoop counts its steps, ends after last of them with errEnd, and
// tells each step on steps.
type countLoop struct {
	w      *notify.Waiter[int]
	last   int
	n      int
	steps  chan int
	stops  int
	closed int
}

var errEnd = errors.New("test: the loop's end")

func (l *countLoop) Step() (Waiter, error) {
	l.n++
	l.steps <- l.n
	if l.n == l.last {
		return nil, errEnd
	}
	return l.w, nil
}
func (l *countLoop) Stopping() error { l.stops++; return errors.New("test: stopping") }
func (l *countLoop) Close()          { l.closed++ }

func newLoop(n *notify.Notifier[int], last int) *countLoop {
	return &countLoop{w: n.Watch(1), last: last, steps: make(chan int, 16)}
}

func step(t *testing.T, l *countLoop) int {
	t.Helper()
	select {
	case n := <-l.steps:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no step")
		return 0
	}
}

// Over a stream that cannot park, Run steps on its own goroutine: once at
// once, then once per fire, until a step ends the loop; Close runs once.
func TestRunStepsOnEachFireUntilTheLoopEnds(t *testing.T) {
	var n notify.Notifier[int]
	l := newLoop(&n, 3)
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), stream{ctx: context.Background()}, nil, l) }()
	if got := step(t, l); got != 1 {
		t.Fatalf("first step %d", got)
	}
	n.Fire(1)
	step(t, l)
	n.Fire(1)
	step(t, l)
	if err := <-done; !errors.Is(err, errEnd) {
		t.Fatalf("Run = %v, want the loop's end", err)
	}
	if l.closed != 1 {
		t.Fatalf("Close ran %d times, want 1", l.closed)
	}
}

// The end of the stream's context ends Run well; the server stopping runs
// Stopping, whose error Run returns.
func TestRunEndsOnContextAndStopping(t *testing.T) {
	var n notify.Notifier[int]
	ctx, cancel := context.WithCancel(context.Background())
	l := newLoop(&n, 0)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, stream{ctx: ctx}, nil, l) }()
	step(t, l)
	cancel()
	if err := <-done; err != nil || l.closed != 1 {
		t.Fatalf("after ctx's end Run = %v with Close run %d times, want nil and 1", err, l.closed)
	}

	stopping := make(chan struct{})
	l = newLoop(&n, 0)
	go func() { done <- Run(context.Background(), stream{ctx: context.Background()}, stopping, l) }()
	step(t, l)
	close(stopping)
	if err := <-done; err == nil || l.stops != 1 || l.closed != 1 {
		t.Fatalf("after stopping Run = %v, Stopping ran %d and Close %d times; want its error, 1 and 1", err, l.stops, l.closed)
	}
}

// otherKey is an interceptor's context key.
type otherKey struct{}

// takeAll takes every loop.
type takeAll struct {
	loops []Loop
	ends  []func(error)
}

func (p *takeAll) Park(l Loop, _ <-chan struct{}) bool { p.loops = append(p.loops, l); return true }
func (p *takeAll) AtEnd(f func(error))                 { p.ends = append(p.ends, f) }

// Over a stream whose context carries a Parker (under any wrapper), Run
// hands the loop over and returns ErrParked without stepping or closing
// it, and AtEnd defers an interceptor's end to the Parker.
func TestRunHandsTheLoopToAParker(t *testing.T) {
	var n notify.Notifier[int]
	p := &takeAll{}
	ctx := WithParker(context.Background(), p)
	ss := stream{ctx: context.WithValue(ctx, otherKey{}, "an interceptor's value")}
	l := newLoop(&n, 0)
	err := Run(ss.ctx, ss, nil, l)
	if !errors.Is(err, ErrParked) || len(p.loops) != 1 || l.n != 0 || l.closed != 0 {
		t.Fatalf("Run = %v, parked %d loops, stepped %d, closed %d; want ErrParked, 1, 0, 0", err, len(p.loops), l.n, l.closed)
	}
	var seen []error
	if !AtEnd(ss, err, func(err error) { seen = append(seen, err) }) || len(p.ends) != 1 || len(seen) != 0 {
		t.Fatal("AtEnd of a parked stream did not defer the end to the Parker")
	}
	if AtEnd(ss, errEnd, func(error) {}) {
		t.Fatal("AtEnd of a stream that ended reported a later end")
	}
	l.w.Stop()
}
