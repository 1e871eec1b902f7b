// Package notify wakes API-layer waiters when apply code changes the state
// they wait on (a lock released, a key written, a message appended), without
// holding any lock across a raft apply and without ever blocking apply.
//
// The waiter subscribes before it looks at the state, so a change between
// its look and its wait is never missed:
//
//	w := n.Watch(key)
//	defer w.Stop()
//	for {
//		if done, resp := look(); done {
//			return resp
//		}
//		if err := w.Wait(ctx); err != nil {
//			return err // ctx ended
//		}
//	}
//
// and apply code calls n.Fire(key) after it changes what key's waiters
// look at (n.FireAll() after a Restore).
package notify

import (
	"context"
	"sync"
)

// Notifier is a set of keyed wake-up signals. The zero value is ready.
// Only keys that someone is watching hold memory.
type Notifier[K comparable] struct {
	mu      sync.Mutex
	entries map[K]*entry[K]
}

type entry[K comparable] struct {
	gen    uint64        // fires so far
	ch     chan struct{} // closed by the next fire; made when someone waits on it
	refs   int           // live Waiters; the entry goes at zero
	parked []*Waiter[K]  // waiting through OnFire for the next fire
}

// Waiter is one subscription to a key. It is used by one goroutine.
type Waiter[K comparable] struct {
	n   *Notifier[K]
	key K
	gen uint64 // the entry's gen at the Watch or the last Wait: a newer one has fired since
	// OnFire's callback, and where the waiter is in its entry's parked
	// (plus one; 0: not parked). Under the Notifier's lock.
	cb   func()
	slot int
}

// closed is the channel C returns when the key has fired already.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Watch subscribes to key. Call Stop when done. A waiter that only parks
// (OnFire) costs no channel: the entry makes one when someone waits on it.
func (n *Notifier[K]) Watch(key K) *Waiter[K] {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.entries == nil {
		n.entries = map[K]*entry[K]{}
	}
	e := n.entries[key]
	if e == nil {
		e = &entry[K]{}
		n.entries[key] = e
	}
	e.refs++
	return &Waiter[K]{n: n, key: key, gen: e.gen}
}

// Fire wakes every waiter of key. It never blocks beyond a short mutex, and
// costs a map lookup when nobody watches, so apply code may call it freely.
func (n *Notifier[K]) Fire(key K) {
	n.mu.Lock()
	var cbs []func()
	if e := n.entries[key]; e != nil {
		cbs = e.fire(nil)
	}
	n.mu.Unlock()
	for _, f := range cbs {
		f()
	}
}

// fire moves e to its next generation, closes the channel of the last
// one, re-subscribes its parked waiters to the new one and appends their
// callbacks to cbs; n.mu is held.
func (e *entry[K]) fire(cbs []func()) []func() {
	e.gen++
	if e.ch != nil {
		close(e.ch)
		e.ch = nil
	}
	for i, w := range e.parked {
		w.gen = e.gen
		cbs = append(cbs, w.cb)
		w.cb, w.slot = nil, 0
		e.parked[i] = nil
	}
	e.parked = e.parked[:0]
	return cbs
}

// FireAll wakes every waiter of every key, e.g. after a snapshot restore
// replaced the whole state.
func (n *Notifier[K]) FireAll() {
	n.mu.Lock()
	var all []func()
	for _, e := range n.entries {
		all = e.fire(all)
	}
	n.mu.Unlock()
	for _, f := range all {
		f()
	}
}

// Wait blocks until key fires after the Watch or the previous Wait, or ctx
// ends (returning ctx.Err()). On a fire it re-subscribes before returning,
// so a fire that lands while the caller re-checks the state wakes the next
// Wait at once.
func (w *Waiter[K]) Wait(ctx context.Context) error {
	ch := w.C()
	select {
	case <-ch:
		w.n.mu.Lock()
		w.gen = w.n.entries[w.key].gen
		w.n.mu.Unlock()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// OnFire takes f to call, once, on the next fire of the key after the
// Watch or the previous Wait, and reports true; when the key has fired
// since, it re-subscribes as Wait does and reports false, and the caller
// looks at the state again. f runs on the firing goroutine, after the
// Notifier's lock is released: it must not block (apply calls Fire).
// Stop drops a callback that has not run. A waiter parked this way holds
// no goroutine.
func (w *Waiter[K]) OnFire(f func()) bool {
	w.n.mu.Lock()
	defer w.n.mu.Unlock()
	e := w.n.entries[w.key]
	if e.gen != w.gen {
		w.gen = e.gen
		return false
	}
	w.cb = f
	if w.slot == 0 {
		e.parked = append(e.parked, w)
		w.slot = len(e.parked)
	}
	return true
}

// C returns the channel that the next fire closes, for use in a select with
// other channels; after it fires, call Wait (which returns at once) to
// re-subscribe.
func (w *Waiter[K]) C() <-chan struct{} {
	w.n.mu.Lock()
	defer w.n.mu.Unlock()
	e := w.n.entries[w.key]
	if e.gen != w.gen {
		return closed
	}
	if e.ch == nil {
		e.ch = make(chan struct{})
	}
	return e.ch
}

// Stop ends the subscription; the Waiter must not be used after. Safe to
// call more than once.
func (w *Waiter[K]) Stop() {
	if w.n == nil {
		return
	}
	w.n.mu.Lock()
	defer w.n.mu.Unlock()
	if e := w.n.entries[w.key]; e != nil {
		if w.slot > 0 {
			// Swap the last parked waiter into w's place.
			last := e.parked[len(e.parked)-1]
			e.parked[w.slot-1], last.slot = last, w.slot
			e.parked[len(e.parked)-1] = nil
			e.parked = e.parked[:len(e.parked)-1]
			w.cb, w.slot = nil, 0
		}
		if e.refs--; e.refs == 0 {
			delete(w.n.entries, w.key)
		}
	}
	w.n = nil
}

// watching reports how many keys hold an entry (for tests).
func (n *Notifier[K]) watching() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.entries)
}
