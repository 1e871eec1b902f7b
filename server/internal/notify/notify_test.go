package notify

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFireWakesOnlyItsKey(t *testing.T) {
	var n Notifier[string]
	a, b := n.Watch("a"), n.Watch("b")
	defer a.Stop()
	defer b.Stop()
	n.Fire("a")
	if err := a.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.C():
		t.Fatal("b woke on a's fire")
	default:
	}
	n.Fire("nobody") // no watcher: a no-op, no entry created
	if got := n.watching(); got != 2 {
		t.Fatalf("watching %d keys, want 2", got)
	}
}

// A fire between the waiter's Watch (or previous Wait) and its next Wait is
// not lost: that is what makes check-then-wait loops safe.
func TestFireBeforeWaitIsNotLost(t *testing.T) {
	var n Notifier[int]
	w := n.Watch(1)
	defer w.Stop()
	for range 3 {
		n.Fire(1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := w.Wait(ctx)
		cancel()
		if err != nil {
			t.Fatalf("fire before Wait was lost: %v", err)
		}
	}
}

func TestWaitHonoursContext(t *testing.T) {
	var n Notifier[int]
	w := n.Watch(1)
	defer w.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestStopReleasesKey(t *testing.T) {
	var n Notifier[int]
	w1, w2 := n.Watch(7), n.Watch(7)
	w1.Stop()
	w1.Stop()
	if n.watching() != 1 {
		t.Fatal("entry dropped while a waiter remains")
	}
	w2.Stop()
	if n.watching() != 0 {
		t.Fatal("entry kept after the last waiter stopped")
	}
}

func TestFireAllAndConcurrentWaiters(t *testing.T) {
	var n Notifier[int]
	const waiters = 20
	var ready, done sync.WaitGroup
	ready.Add(waiters)
	done.Add(waiters)
	errs := make(chan error, waiters)
	for i := range waiters {
		go func() {
			defer done.Done()
			w := n.Watch(i % 4)
			defer w.Stop()
			ready.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			errs <- w.Wait(ctx)
		}()
	}
	ready.Wait()
	n.FireAll()
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
