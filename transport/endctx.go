package transport

import (
	"context"
	"sync"
	"time"
)

// endCtx is the context of something the Conn keeps open in the
// background (a Bind, a follower's stream attempt, a lock's life): it ends
// when its end function is called, when its parent ends, or, when it is
// bound, when the Conn closes.
//
// It exists for the idle cost. A context.WithCancel under a cancellable
// parent costs a context, a Done channel and a map of children in the
// parent, and a chain of three of them per held lock or open watch was
// most of what an idle item cost. An endCtx is one small struct: its Done
// channel is made only when someone asks for it, its children register in
// a short slice (onEnd), it hooks its parent once, and its tie to the Conn
// is an entry in the Conn's set of bound contexts.
//
// It is a complete context.Context: the standard library's derived
// contexts (WithCancel, WithTimeout, AfterFunc) register with it through
// its AfterFunc method instead of starting a goroutine, so it can be
// handed to gRPC and to callers like any other.
type endCtx struct {
	parent context.Context // values and deadline
	conn   *Conn           // bound: ends when this Conn closes; nil otherwise
	tied   bool            // in conn's set (a bound parent ends it otherwise)
	// attempt marks a follower's stream attempt (newAttempt).
	attempt bool
	unhook  func() bool // removes the hook on the parent

	mu    sync.Mutex
	err   error
	done  chan struct{} // made by Done's first call
	hooks []*endHook    // run once, in order, when it ends
	// sub is the subscription a stream attempt was carried as, set by the
	// subscribe interceptor when this context is that attempt's.
	sub *subscription
}

type endHook struct{ f func() }

// newEndCtx returns an endCtx under parent, bound to c when c is not nil;
// end ends it with context.Canceled and releases its hooks.
func newEndCtx(parent context.Context, c *Conn) (*endCtx, context.CancelFunc) {
	e := &endCtx{parent: parent, conn: c, tied: c != nil}
	var unhook func() bool
	if p, ok := parent.(*endCtx); ok {
		if p.conn != nil && (c == nil || p.conn == c) {
			e.conn, e.tied = p.conn, false // ends with p, which ends when the Conn closes
		}
		unhook = p.onEnd(func() { e.end(p.Err()) })
	} else if parent.Done() != nil {
		unhook = context.AfterFunc(parent, func() { e.end(parent.Err()) })
	}
	if unhook != nil {
		e.mu.Lock()
		if e.err == nil {
			e.unhook, unhook = unhook, nil
		}
		e.mu.Unlock()
		if unhook != nil {
			unhook() // the parent had ended: e ended with it
		}
	}
	if e.tied && !c.bindEnd(e) {
		e.end(context.Canceled) // the Conn is closed already
	}
	return e, func() { e.end(context.Canceled) }
}

func (e *endCtx) Deadline() (time.Time, bool) { return e.parent.Deadline() }

// endCtxKey finds the nearest endCtx beneath contexts derived from it.
type endCtxKey struct{}

func (e *endCtx) Value(key any) any {
	if key == (endCtxKey{}) {
		return e
	}
	return e.parent.Value(key)
}

func (e *endCtx) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

func (e *endCtx) Done() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done == nil {
		e.done = make(chan struct{})
		if e.err != nil {
			close(e.done)
		}
	}
	return e.done
}

// AfterFunc is what the context package's propagateCancel looks for: a
// context derived from e with the standard library registers here.
func (e *endCtx) AfterFunc(f func()) func() bool { return e.onEnd(f) }

// onEnd registers f to run once e ends, on the goroutine that ends it and
// after e's lock is released; when e has ended already, f runs now. stop
// removes f, reporting whether it did so before f ran. f must not block:
// a hook that may wait starts a goroutine.
func (e *endCtx) onEnd(f func()) (stop func() bool) {
	h := &endHook{f: f}
	e.mu.Lock()
	if e.err != nil {
		e.mu.Unlock()
		f()
		return func() bool { return false }
	}
	e.hooks = append(e.hooks, h)
	e.mu.Unlock()
	return func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		for i, x := range e.hooks {
			if x == h {
				e.hooks = append(e.hooks[:i], e.hooks[i+1:]...)
				if len(e.hooks) == 0 {
					e.hooks = nil
				}
				return true
			}
		}
		return false
	}
}

// end ends e with err (the first end wins), runs its hooks and drops its
// ties to its parent and the Conn.
func (e *endCtx) end(err error) {
	e.mu.Lock()
	if e.err != nil {
		e.mu.Unlock()
		return
	}
	e.err = err
	if e.done != nil {
		close(e.done)
	}
	hooks, unhook := e.hooks, e.unhook
	e.hooks, e.unhook = nil, nil
	e.mu.Unlock()
	if unhook != nil {
		unhook()
	}
	if e.tied {
		e.conn.unbindEnd(e)
	}
	for _, h := range hooks {
		h.f()
	}
}

// newAttempt is the context of one stream attempt of a follower: the
// subscribe interceptor finds it beneath the interceptors' contexts and
// records the subscription the stream became.
func newAttempt(parent context.Context) (*endCtx, context.CancelFunc) {
	e, cancel := newEndCtx(parent, nil)
	e.attempt = true
	return e, cancel
}

// setSubscription records the subscription a stream attempt became.
func (e *endCtx) setSubscription(s *subscription) {
	e.mu.Lock()
	e.sub = s
	e.mu.Unlock()
}

// subscription returns what setSubscription recorded, or nil for a plain
// gRPC stream.
func (e *endCtx) subscription() *subscription {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sub
}

// boundTo reports whether ctx ends when c closes because it is a context
// c bound (Bind) or one derived from such a context by Bind.
func boundTo(ctx context.Context, c *Conn) bool {
	e, ok := ctx.(*endCtx)
	return ok && e.conn == c
}

// OnEnd runs f once ctx ends and returns a stop function that removes f,
// reporting whether it did so before f ran, as context.AfterFunc does.
//
// For a context from Conn.Bind it registers f with that context, with no
// context or goroutine of its own, and f runs on the goroutine that ends
// the context (the one calling its cancel, or one Close starts): f must
// return promptly and start a goroutine for anything that may wait. For
// any other context OnEnd is context.AfterFunc.
func OnEnd(ctx context.Context, f func()) (stop func() bool) {
	if e, ok := ctx.(*endCtx); ok {
		return e.onEnd(f)
	}
	return context.AfterFunc(ctx, f)
}

// bindEnd adds e to the contexts that end when c closes; false when c is
// closed already.
func (c *Conn) bindEnd(e *endCtx) bool {
	c.endsMu.Lock()
	defer c.endsMu.Unlock()
	if c.endsClosed {
		return false
	}
	if e.Err() != nil {
		return true // ended already (its parent did): nothing to tie
	}
	if c.ends == nil {
		c.ends = map[*endCtx]struct{}{}
	}
	c.ends[e] = struct{}{}
	return true
}

func (c *Conn) unbindEnd(e *endCtx) {
	c.endsMu.Lock()
	delete(c.ends, e)
	c.endsMu.Unlock()
}

// endBound ends every bound context, each on its own goroutine (as
// context.AfterFunc hooks on the Conn's context would run), once c's
// context has been cancelled.
func (c *Conn) endBound() {
	c.endsMu.Lock()
	ends := c.ends
	c.ends, c.endsClosed = nil, true
	c.endsMu.Unlock()
	for e := range ends {
		go e.end(context.Canceled)
	}
}
