package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/collections"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/objstore"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// staleAndCurrent takes key, releases it and takes it again, so the first
// grant's fence is stale and the second's current.
func staleAndCurrent(t *testing.T, ctx context.Context, c *waymaker.Client, key string) (stale transport.Fence, cur *waymaker.Lock) {
	t.Helper()
	a, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Unlock(context.Background()) })
	return a.Fence(), b
}

// The mutations the other fence tests do not cover, each under a stale
// token: refused as fenced naming the current token, and nothing changed;
// then the same mutation under the current token lands.
func TestFenceStaleTokenChangesNothingOnEveryMutation(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	w := newFenceWorld(t, c)
	stale, b := staleAndCurrent(t, ctx, c, name(t))
	cur := b.FenceToken()
	good := b.Fence()

	// kv Create, Update, Purge.
	_, err := w.bucket.Create(ctx, "c", []byte("x"), kv.WithFence(stale))
	wantFenced(t, "kv create", err, cur)
	if _, err := w.bucket.Get(ctx, "c"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("a refused create created: %v", err)
	}
	rev, err := w.bucket.Put(ctx, "k", []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.bucket.Update(ctx, "k", []byte("v2"), rev, kv.WithFence(stale))
	wantFenced(t, "kv update", err, cur)
	_, err = w.bucket.Purge(ctx, "k", kv.WithFence(stale))
	wantFenced(t, "kv purge", err, cur)
	if e, err := w.bucket.Get(ctx, "k"); err != nil || string(e.Value) != "v1" || e.Revision != rev {
		t.Fatalf("after refused update and purge: %+v %v, want v1 at %d", e, err, rev)
	}
	if _, err := w.bucket.Update(ctx, "k", []byte("v2"), rev, kv.WithFence(good)); err != nil {
		t.Fatalf("kv update with the current token: %v", err)
	}
	if _, err := w.bucket.Purge(ctx, "k", kv.WithFence(good)); err != nil {
		t.Fatalf("kv purge with the current token: %v", err)
	}
	if _, err := w.bucket.Create(ctx, "c", []byte("x"), kv.WithFence(good)); err != nil {
		t.Fatalf("kv create with the current token: %v", err)
	}

	// Hash writes other than Set.
	if _, err := w.hashes.Set(ctx, "h", map[string][]byte{"f": []byte("1"), "n": []byte("5")}); err != nil {
		t.Fatal(err)
	}
	hs := w.hashes.WithFence(stale)
	_, err = hs.SetNX(ctx, "h", "g", []byte("x"))
	wantFenced(t, "hash setnx", err, cur)
	_, err = hs.Del(ctx, "h", "f")
	wantFenced(t, "hash del", err, cur)
	_, err = hs.IncrBy(ctx, "h", "n", 1)
	wantFenced(t, "hash incrby", err, cur)
	_, err = hs.IncrByFloat(ctx, "h", "n", 1.5)
	wantFenced(t, "hash incrbyfloat", err, cur)
	_, err = hs.Expire(ctx, "h", time.Hour, "f")
	wantFenced(t, "hash expire", err, cur)
	_, err = hs.Persist(ctx, "h", "f")
	wantFenced(t, "hash persist", err, cur)
	all, err := w.hashes.GetAll(ctx, "h")
	if err != nil || len(all) != 2 || string(all["f"]) != "1" || string(all["n"]) != "5" {
		t.Fatalf("hash after refused writes: %v %v", all, err)
	}
	if ttls, err := w.hashes.TTL(ctx, "h", "f"); err != nil || len(ttls) != 1 || ttls[0] > 0 {
		t.Fatalf("a refused expire set a TTL: %v %v", ttls, err)
	}
	if _, err := w.hashes.WithFence(good).IncrBy(ctx, "h", "n", 1); err != nil {
		t.Fatalf("hash incrby with the current token: %v", err)
	}

	// Set writes.
	sets, err := c.CreateSetStore(ctx, waymaker.SetStoreConfig{Name: name(t) + "_s"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sets.Add(ctx, "s", "a", "b"); err != nil {
		t.Fatal(err)
	}
	ss := sets.WithFence(stale)
	_, err = ss.Add(ctx, "s", "c")
	wantFenced(t, "set add", err, cur)
	_, err = ss.Rem(ctx, "s", "a")
	wantFenced(t, "set rem", err, cur)
	_, err = ss.Pop(ctx, "s", 1)
	wantFenced(t, "set pop", err, cur)
	_, err = ss.Move(ctx, "s", "t", "a")
	wantFenced(t, "set move", err, cur)
	if m, err := sets.Members(ctx, "s"); err != nil || strings.Join(sortedCopy(m), ",") != "a,b" {
		t.Fatalf("set after refused writes: %v %v", m, err)
	}
	if n, err := sets.Card(ctx, "t"); err != nil || n != 0 {
		t.Fatalf("a refused move moved: %d %v", n, err)
	}
	if _, err := sets.WithFence(good).Add(ctx, "s", "c"); err != nil {
		t.Fatalf("set add with the current token: %v", err)
	}

	// Queue Ack: the message stays in flight, and the current token acks it.
	if _, err := w.queue.Push(ctx, []byte("m")); err != nil {
		t.Fatal(err)
	}
	msg, err := w.queue.Pop(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	err = w.queue.WithFence(stale).Ack(ctx, msg.Receipt)
	wantFenced(t, "queue ack", err, cur)
	if l, err := w.queue.Len(ctx); err != nil || l.InFlight != 1 {
		t.Fatalf("queue after a refused ack: %+v %v, want the message still in flight", l, err)
	}
	if err := w.queue.WithFence(good).Ack(ctx, msg.Receipt); err != nil {
		t.Fatalf("queue ack with the current token: %v", err)
	}
	if l, err := w.queue.Len(ctx); err != nil || l.Total() != 0 {
		t.Fatalf("queue after the ack: %+v %v", l, err)
	}

	// Object UpdateMeta.
	if _, err := w.store.PutBytes(ctx, "o", []byte("data")); err != nil {
		t.Fatal(err)
	}
	_, err = w.store.UpdateMeta(ctx, "o", waymaker.ObjectMeta{Name: "o", Description: "stale"}, objstore.WithFence(stale))
	wantFenced(t, "object update meta", err, cur)
	if info, err := w.store.GetInfo(ctx, "o"); err != nil || info.Description != "" {
		t.Fatalf("object after a refused update meta: %+v %v", info, err)
	}
	if _, err := w.store.UpdateMeta(ctx, "o", waymaker.ObjectMeta{Name: "o", Description: "cur"}, objstore.WithFence(good)); err != nil {
		t.Fatalf("object update meta with the current token: %v", err)
	}
	if info, err := w.store.GetInfo(ctx, "o"); err != nil || info.Description != "cur" {
		t.Fatalf("object after update meta: %+v %v", info, err)
	}
}

// A holder whose lease has run out by the server's clock is refused even
// when nobody else wants the lock and no expiry tick has run yet: the
// check is at the write's own time, not at the next sweep.
func TestFenceRefusesAnExpiredLeaseBeforeAnyTick(t *testing.T) {
	c := start(t, waymakertest.WithConfig(func(cfg *server.Config) { cfg.TickInterval = time.Hour }))
	ctx := testCtx(t, 30*time.Second)
	b, err := c.CreateKV(ctx, waymaker.KVConfig{Name: name(t)})
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.AcquireLock(ctx, name(t), waymaker.LockConfig{LeaseTTL: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "k", []byte("held"), kv.WithFence(a.Fence())); err != nil {
		t.Fatalf("fenced put while held: %v", err)
	}
	// Wait (no renewal) until the lease's expiry has passed by the clock
	// the server stamps commands with (this process's).
	select {
	case <-time.After(time.Until(time.UnixMilli(a.LeaseExpiresAtMs() + 50))):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	_, err = b.Put(ctx, "k", []byte("late"), kv.WithFence(a.Fence()))
	if !errors.Is(err, waymaker.ErrFenced) {
		t.Fatalf("fenced put after the lease ran out: %v, want fenced", err)
	}
	if !strings.Contains(err.Error(), "expired") && !strings.Contains(err.Error(), "not held") {
		t.Fatalf("refusal %q does not say the lease ended", err)
	}
	if e, err := b.Get(ctx, "k"); err != nil || string(e.Value) != "held" {
		t.Fatalf("value %+v %v, want held", e, err)
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

// collections.WithFence, the package-level option the other subsystems
// have too, fences one Push or Ack; it wins over the handle's fence.
func TestCollectionsWithFenceOption(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	w := newFenceWorld(t, c)
	stale, b := staleAndCurrent(t, ctx, c, name(t))
	_, err := w.queue.Push(ctx, []byte("stale"), collections.WithFence(stale))
	wantFenced(t, "push with collections.WithFence", err, b.FenceToken())
	_, err = w.queue.WithFence(b.Fence()).Push(ctx, []byte("stale"), collections.WithFence(stale))
	wantFenced(t, "push whose option overrides the handle's fence", err, b.FenceToken())
	if l, err := w.queue.Len(ctx); err != nil || l.Total() != 0 {
		t.Fatalf("refused pushes stored: %+v %v", l, err)
	}
	if _, err := w.queue.Push(ctx, []byte("m"), collections.WithFence(b.Fence())); err != nil {
		t.Fatal(err)
	}
	msg, err := w.queue.Pop(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	err = w.queue.Ack(ctx, msg.Receipt, collections.WithFence(stale))
	wantFenced(t, "ack with collections.WithFence", err, b.FenceToken())
	var e *waymaker.Error
	if err := w.queue.Ack(ctx, msg.Receipt, collections.WithFence(transport.Fence{Key: "k"})); !errors.As(err, &e) || e.Kind != transport.KindInvalid || !strings.Contains(e.Message, "fence.token") {
		t.Fatalf("ack with a zero token: %v, want invalid naming fence.token", err)
	}
	if err := w.queue.Ack(ctx, msg.Receipt, collections.WithFence(b.Fence())); err != nil {
		t.Fatal(err)
	}
	if l, err := w.queue.Len(ctx); err != nil || l.Total() != 0 {
		t.Fatalf("after the ack: %+v %v", l, err)
	}
}

// A MultiLock handle fences a write with any of its keys, Fence(key): the
// write lands under each held key's token, and a key the handle does not
// hold gives the zero fence, refused as invalid before anything is sent.
func TestFenceOfEachMultiLockKey(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 10*time.Second)
	n := name(t)
	b, err := c.CreateKV(ctx, waymaker.KVConfig{Name: n})
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{n + "-a", n + "-b"}
	m, err := c.MultiLock(ctx, keys, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Unlock(context.Background()) }()
	for _, g := range m.Grants() {
		f := m.Fence(g.Key)
		if f.Key != g.Key || f.Token != g.FenceToken {
			t.Fatalf("Fence(%q) = %+v, want the grant %+v", g.Key, f, g)
		}
		if _, err := b.Put(ctx, "k", []byte(g.Key), kv.WithFence(f)); err != nil {
			t.Fatalf("put fenced by %q: %v", g.Key, err)
		}
	}
	if f := m.Fence(); f.Key != keys[0] {
		t.Errorf("Fence() = %+v, want the first key's", f)
	}
	if _, err := b.Put(ctx, "k", []byte("other"), kv.WithFence(m.Fence(n+"-other"))); !errors.Is(err, waymaker.ErrInvalidArgument) {
		t.Fatalf("put fenced by a key the lock does not hold: %v, want invalid", err)
	}
	e, err := b.Get(ctx, "k")
	if err != nil || string(e.Value) != keys[1] {
		t.Fatalf("after the refused put: %q, %v; want %q", e.Value, err, keys[1])
	}
}
