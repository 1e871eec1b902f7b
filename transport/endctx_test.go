package transport

import (
	"context"
	"errors"
	"testing"
	"time"
)

// dialIdle returns a Conn to an address nothing listens on: Bind and its
// contexts need a Conn, not a server.
func dialIdle(t *testing.T) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), []string{"127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func endedWithin(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: the context did not end", what)
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("%s: Err = %v, want context.Canceled", what, ctx.Err())
	}
}

func boundCount(c *Conn) int {
	c.endsMu.Lock()
	defer c.endsMu.Unlock()
	return len(c.ends)
}

func TestBindEndsOnCancelParentOrClose(t *testing.T) {
	c := dialIdle(t)

	ctx, cancel := c.Bind(context.Background())
	if ctx.Err() != nil {
		t.Fatalf("a fresh Bind has ended: %v", ctx.Err())
	}
	cancel()
	endedWithin(t, ctx, "cancel")

	parent, pcancel := context.WithCancel(context.Background())
	ctx, cancel = c.Bind(parent)
	defer cancel()
	pcancel()
	endedWithin(t, ctx, "parent's end")

	ctx, cancel = c.Bind(context.Background())
	defer cancel()
	child, ccancel := context.WithCancel(ctx) // registers through AfterFunc
	defer ccancel()
	hook := make(chan struct{})
	context.AfterFunc(ctx, func() { close(hook) })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	endedWithin(t, ctx, "Close")
	endedWithin(t, child, "a context.WithCancel under it")
	select {
	case <-hook:
	case <-time.After(5 * time.Second):
		t.Fatal("a context.AfterFunc on it did not run")
	}

	ctx, cancel = c.Bind(context.Background())
	defer cancel()
	endedWithin(t, ctx, "Bind on a closed Conn")
}

// A bound context that ends lets go of everything that tied it, so a Conn
// that binds millions of short-lived streams over its life holds none of
// them.
func TestBindReleasesItsTiesWhenItEnds(t *testing.T) {
	c := dialIdle(t)
	parent, pcancel := context.WithCancel(context.Background())
	defer pcancel()
	for range 100 {
		ctx, cancel := c.Bind(parent)
		attempt, acancel := newAttempt(ctx)
		stop := OnEnd(attempt, func() { t.Error("a removed hook ran") })
		if !stop() {
			t.Fatal("stop: the hook had already run")
		}
		acancel()
		cancel()
		if e := ctx.(*endCtx); len(e.hooks) != 0 {
			t.Fatalf("%d hooks left on an ended context", len(e.hooks))
		}
	}
	if n := boundCount(c); n != 0 {
		t.Fatalf("%d ended contexts still tied to the Conn", n)
	}
	ctx, cancel := c.Bind(parent)
	defer cancel()
	if n := boundCount(c); n != 1 {
		t.Fatalf("bound contexts: %d, want 1", n)
	}
	// A context bound under a bound one ends with it: only the outer one
	// is tied to the Conn.
	inner, icancel := c.Bind(ctx)
	defer icancel()
	if n := boundCount(c); n != 1 {
		t.Fatalf("bound contexts after a nested Bind: %d, want 1", n)
	}
	if !boundTo(inner, c) {
		t.Fatal("a Bind under a bound context does not count as bound")
	}
	cancel()
	endedWithin(t, inner, "the outer Bind's end")
}

func TestOnEndRunsOnceAndAtOnceWhenEnded(t *testing.T) {
	c := dialIdle(t)
	ctx, cancel := c.Bind(context.Background())
	runs := 0
	OnEnd(ctx, func() { runs++ }) // runs on the goroutine that ends ctx
	cancel()
	cancel()
	if runs != 1 {
		t.Fatalf("the hook ran %d times, want 1", runs)
	}
	late := false
	if OnEnd(ctx, func() { late = true })() {
		t.Fatal("stop reported removing a hook that ran")
	}
	if !late {
		t.Fatal("a hook registered after the end did not run at once")
	}
}

func TestBindKeepsValuesAndDeadline(t *testing.T) {
	c := dialIdle(t)
	type key struct{}
	deadline := time.Now().Add(time.Hour)
	parent, pcancel := context.WithDeadline(context.WithValue(context.Background(), key{}, "v"), deadline)
	defer pcancel()
	ctx, cancel := c.Bind(parent)
	defer cancel()
	if got := ctx.Value(key{}); got != "v" {
		t.Fatalf("Value = %v, want v", got)
	}
	if d, ok := ctx.Deadline(); !ok || !d.Equal(deadline) {
		t.Fatalf("Deadline = %v %v, want %v", d, ok, deadline)
	}
}
