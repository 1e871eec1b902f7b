package transport

import (
	"context"
	"errors"
	"io"
	"iter"
	"sync"
	"sync/atomic"
)

// PumpConfig says how a Pump buffers and when StartPump returns.
type PumpConfig struct {
	// Buffer is how many values wait for Next; beyond it the stream's flow
	// control holds the server back instead of memory growing. 0 means 16.
	Buffer int
	// AwaitFirst makes StartPump return only once the server has answered:
	// after the first message was handled, or with the error that ended
	// the stream before one was (so a missing resource fails at the start,
	// not at the first Next).
	AwaitFirst bool
}

// Pump is the one iterator over a server stream: it follows the stream
// with FollowAsync (so an idle pump over a subscription holds no
// goroutine), buffers what the stream's handler emits, and hands it out
// through Next, All and Stop under the end contract stated in the package
// doc (# Iterators). Every SDK iterator over a stream (kv.Watcher,
// kv.KeyLister, stream.Messages, objstore.Lister, objstore.Watcher) is a
// Pump with its own element type, and objstore.Reader reads an object's
// chunks from one.
type Pump[T any] struct {
	max     int           // PumpConfig.Buffer
	ready   chan struct{} // with AwaitFirst: closed once the server answered, or at the end
	cancel  context.CancelFunc
	stopped atomic.Bool

	// Under mu. The signals are made when someone first waits for them,
	// so an idle pump holds neither.
	mu    sync.Mutex
	q     []T // values not yet returned, from head; nil while empty
	head  int
	ended bool          // no more values come
	err   error         // why it ended
	over  Latch         // opened when the follow has ended
	avail chan struct{} // a value was queued (1 slot); closed at the end
	room  chan struct{} // Next took a value (1 slot)
}

// emptyKeep is the most capacity an emptied queue keeps for the next
// values; beyond it the queue is dropped, so an idle pump holds no buffer.
const emptyKeep = 8

// StartPump opens a stream with open and follows it (rebinding as Follow
// does) on goroutines the Conn owns until ctx ends, Stop is called, the
// Conn closes, the stream fails permanently, or handle returns
// ErrStreamDone (a finite listing delivered its last value). handle turns
// one message into values with emit, which blocks while the buffer is
// full; handle must return emit's error when it fails (the pump is
// stopping).
//
// open must open the stream from the caller's resume point, recorded by
// handle, as Follow requires. A resume point the caller can read (an
// accessor such as kv.Watcher.Revision) must move before emit hands the
// value on: the reader may run as soon as the value is in the buffer, and
// must find the point at least at that value. Moving it first skips
// nothing on a rebind, because emit fails only when the pump is ending.
func StartPump[M, T any](ctx context.Context, c *Conn, cfg PumpConfig,
	open func(ctx context.Context) (Receiver[M], error),
	handle func(m *M, emit func(T) error) error) (*Pump[T], error) {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 16
	}
	pctx, cancel := c.Bind(ctx)
	p := &Pump[T]{max: cfg.Buffer, cancel: cancel}
	if cfg.AwaitFirst {
		p.ready = make(chan struct{})
	}
	var answered bool // read after ready is closed
	var once sync.Once
	markReady := func() {
		if p.ready != nil {
			once.Do(func() { close(p.ready) })
		}
	}
	// Closing the Conn ends the pump even while emit waits for a slow
	// reader to make room.
	connDone := c.ctx.Done()
	emit := func(v T) error {
		for {
			p.mu.Lock()
			if len(p.q)-p.head < p.max {
				p.q = append(p.q, v)
				signal(p.avail)
				p.mu.Unlock()
				return nil
			}
			if p.room == nil {
				p.room = make(chan struct{}, 1)
			}
			room := p.room
			p.mu.Unlock()
			select {
			case <-room:
			case <-pctx.Done():
				return pctx.Err()
			case <-connDone:
				return ErrClosed
			}
		}
	}
	ok := followAsync(pctx, c, true, open, func(m *M) error {
		err := handle(m, emit)
		if (err == nil || errors.Is(err, ErrStreamDone)) && p.ready != nil {
			once.Do(func() { answered = true; close(p.ready) })
		}
		return err
	}, func(err error) {
		switch {
		case p.stopped.Load(), err == nil:
			err = io.EOF // Stop, or a listing delivered its last value
		case ctx.Err() != nil:
			err = MapError(ctx, ctx.Err()) // not ErrClosed: the caller ended it
		}
		cancel() // the follow has ended: release pctx and its hook on the Conn
		p.mu.Lock()
		p.err, p.ended = err, true
		if p.avail != nil {
			close(p.avail)
		}
		p.mu.Unlock()
		p.over.Open()
		markReady()
	})
	if !ok {
		cancel()
		return nil, ErrClosed
	}
	if !cfg.AwaitFirst {
		return p, nil
	}
	<-p.ready
	if answered {
		return p, nil
	}
	p.over.Wait()
	cancel()
	return nil, p.err
}

// Next returns the next value and a nil error. Once the pump has ended it
// returns the zero value and why it ended, every time: io.EOF after Stop
// or a listing's last value, the context's error, ErrClosed, or the
// failure that ended it; see the package doc (# Iterators).
func (p *Pump[T]) Next() (T, error) {
	v, err, _ := p.next()
	return v, err
}

func (p *Pump[T]) next() (T, error, bool) {
	var zero T
	for {
		if p.stopped.Load() {
			return zero, io.EOF, false
		}
		p.mu.Lock()
		if p.head < len(p.q) {
			v := p.q[p.head]
			p.q[p.head] = zero
			p.head++
			if p.head == len(p.q) {
				if cap(p.q) > emptyKeep {
					p.q = nil
				} else {
					p.q = p.q[:0]
				}
				p.head = 0
			} else if !p.ended {
				signal(p.avail) // for another caller of Next
			}
			signal(p.room)
			p.mu.Unlock()
			return v, nil, true
		}
		if p.ended {
			err := p.err
			p.mu.Unlock()
			return zero, err, false
		}
		if p.avail == nil {
			p.avail = make(chan struct{}, 1)
		}
		avail := p.avail
		p.mu.Unlock()
		<-avail
	}
}

// signal sets a one-slot signal (nil: nobody has waited for it yet),
// unless it is set already. The Pump's mu is held, so avail, closed at
// the end under it, is never sent to once closed.
func signal(ch chan struct{}) {
	if ch == nil {
		return
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Stop ends the pump and waits for its follow to end, releasing the
// stream. Values buffered but not yet returned are dropped: Next returns
// the zero value and io.EOF from then on. Safe to call more than once,
// from any goroutine, and after the pump ended by itself.
func (p *Pump[T]) Stop() {
	p.stopped.Store(true)
	p.cancel()
	p.over.Wait()
}

// All ranges over the values Next has not returned yet. Breaking out of
// the loop stops the pump; an error that ended it (anything but io.EOF) is
// yielded once, last, with the zero value.
func (p *Pump[T]) All() iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		defer p.Stop()
		for {
			v, err, ok := p.next()
			if !ok {
				if !errors.Is(err, io.EOF) {
					yield(v, err)
				}
				return
			}
			if !yield(v, nil) {
				return
			}
		}
	}
}
