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

// OnFire parks a waiter without a goroutine: the next fire of its key runs
// the callback once (another key's does not), and the waiter is then
// subscribed to the fire after, as Wait leaves it.
func TestOnFireRunsOnceOnTheNextFire(t *testing.T) {
	var n Notifier[string]
	w := n.Watch("a")
	defer w.Stop()
	calls := 0
	if !w.OnFire(func() { calls++ }) {
		t.Fatal("OnFire on a waiter that has not fired reported false")
	}
	n.Fire("b")
	if calls != 0 {
		t.Fatalf("another key's fire ran the callback %d times", calls)
	}
	n.Fire("a")
	n.Fire("a")
	if calls != 1 {
		t.Fatalf("two fires ran the callback %d times, want once", calls)
	}
	// The second fire came after the callback's: the waiter saw it.
	if w.OnFire(func() { calls++ }) {
		t.Fatal("OnFire after a fire it has not looked past reported true")
	}
	if !w.OnFire(func() { calls++ }) {
		t.Fatal("OnFire right after re-subscribing reported false")
	}
	n.FireAll()
	if calls != 2 {
		t.Fatalf("FireAll ran %d callbacks in all, want 2", calls)
	}
}

// A fire between the look and OnFire is not lost: OnFire reports false and
// the caller looks again.
func TestOnFireAfterAFireReportsFalse(t *testing.T) {
	var n Notifier[int]
	w := n.Watch(1)
	defer w.Stop()
	n.Fire(1)
	if w.OnFire(func() { t.Error("callback ran for a fire that came before OnFire") }) {
		t.Fatal("OnFire after a fire reported true")
	}
}

// Stop drops a parked callback, and the key's entry goes with its last
// waiter.
func TestStopDropsTheCallback(t *testing.T) {
	var n Notifier[string]
	w := n.Watch("a")
	w.OnFire(func() { t.Error("a stopped waiter's callback ran") })
	w.Stop()
	n.Fire("a")
	if got := n.watching(); got != 0 {
		t.Fatalf("watching %d keys after the only waiter stopped, want 0", got)
	}
}

// A callback may call back into the Notifier (OnFire, Fire of another
// key): it runs after the Notifier's lock is released.
func TestOnFireCallbackMayUseTheNotifier(t *testing.T) {
	var n Notifier[string]
	w := n.Watch("a")
	defer w.Stop()
	done := make(chan bool, 1)
	w.OnFire(func() { done <- w.OnFire(func() {}) })
	n.Fire("a")
	select {
	case again := <-done:
		if !again {
			t.Fatal("OnFire from the callback reported false")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the callback did not run")
	}
}

// Many waiters parked on one key, some stopped (first, middle, last):
// a fire runs exactly the callbacks of those still parked.
func TestOnFireManyWaitersSomeStopped(t *testing.T) {
	var n Notifier[string]
	const count = 6
	ws := make([]*Waiter[string], count)
	ran := make([]int, count)
	for i := range ws {
		ws[i] = n.Watch("k")
		i := i
		if !ws[i].OnFire(func() { ran[i]++ }) {
			t.Fatalf("waiter %d: OnFire reported false", i)
		}
	}
	stopped := map[int]bool{0: true, 3: true, 5: true}
	for i := range stopped {
		ws[i].Stop()
	}
	n.Fire("k")
	for i := range ws {
		want := 1
		if stopped[i] {
			want = 0
		}
		if ran[i] != want {
			t.Fatalf("waiter %d's callback ran %d times, want %d", i, ran[i], want)
		}
		if !stopped[i] {
			ws[i].Stop()
		}
	}
	if got := n.watching(); got != 0 {
		t.Fatalf("watching %d keys, want 0", got)
	}
}
