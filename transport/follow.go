package transport

import (
	"context"
	"errors"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
)

// ErrStreamDone is returned by a Follow handler to end Follow cleanly: the
// stream delivered everything the caller wanted.
var ErrStreamDone = errors.New("waymaker: stream done")

// Receiver is the receiving half of a server stream, as generated clients
// return it (grpc.ServerStreamingClient[T] satisfies it).
type Receiver[T any] interface {
	Recv() (*T, error)
}

// Follow keeps a server stream alive: it opens it, hands every message to
// handle, and when the stream fails transiently (server restart, connection
// reset, not_leader, the server ending the stream early) it backs off and
// calls open again.
//
// open must open the stream from the caller's current resume point (the
// last revision, sequence, offset or request id that handle recorded), which
// is what makes a rebind gap-free and duplicate-free. handle returns nil to
// go on, ErrStreamDone to end Follow with a nil error, or any other error to
// end it with that error (a transient *Error makes Follow rebind instead).
//
// Follow returns when ctx ends (with the mapped ctx error), when the Conn
// closes (ErrClosed), or on a permanent failure.
func Follow[T any](ctx context.Context, c *Conn, open func(ctx context.Context) (Receiver[T], error), handle func(*T) error) error {
	f := newFollower(ctx, c, false, open, handle, nil)
	err, _ := f.loop(false)
	f.unbind()
	return err
}

// FollowAsync follows the stream as Follow does, in the background, and
// calls done once with what Follow would have returned. While the stream
// is a subscription (transport/subscribe.go) with nothing to read, no
// goroutine waits for it: the loop gives its goroutine up and the next
// event, the stream's end or ctx's end starts it again. So an idle watch,
// delivery or lock event stream costs memory, not a goroutine stack. The
// Conn's Close waits for done, as it waits for Go's functions; handle and
// done run on goroutines the Conn counts. FollowAsync returns false, and
// calls nothing, when the Conn is closed.
func FollowAsync[T any](ctx context.Context, c *Conn, open func(ctx context.Context) (Receiver[T], error), handle func(*T) error, done func(error)) bool {
	return followAsync(ctx, c, false, open, handle, done)
}

// followAsync is FollowAsync; bound says ctx is bound to c already (Bind),
// which spares the follower a context of its own.
func followAsync[T any](ctx context.Context, c *Conn, bound bool, open func(ctx context.Context) (Receiver[T], error), handle func(*T) error, done func(error)) bool {
	if !c.hold() {
		return false
	}
	f := newFollower(ctx, c, bound, open, handle, done)
	go f.run()
	return true
}

// follower is Follow's loop, kept in memory between steps so that it can
// stop while its stream waits and resume on another goroutine.
type follower[T any] struct {
	c      *Conn
	ctx    context.Context // bound to the Conn
	unbind context.CancelFunc
	open   func(context.Context) (Receiver[T], error)
	handle func(*T) error
	done   func(error)
	b      *backoff.ExponentialBackOff // made on the first failure

	rs     Receiver[T]        // the open attempt, nil between attempts
	sub    *subscription      // rs's subscription, when it is one
	cancel context.CancelFunc // ends the open attempt
}

func newFollower[T any](ctx context.Context, c *Conn, bound bool, open func(context.Context) (Receiver[T], error), handle func(*T) error, done func(error)) *follower[T] {
	f := &follower[T]{c: c, ctx: ctx, unbind: noop, open: open, handle: handle, done: done}
	if !bound && !boundTo(ctx, c) {
		f.ctx, f.unbind = c.Bind(ctx)
	}
	return f
}

func noop() {}

// run steps the loop on this goroutine until it ends, or parks it.
func (f *follower[T]) run() {
	err, parked := f.loop(true)
	if parked {
		return // the subscription's next event, end or cancel calls run
	}
	f.unbind()
	f.done(err)
	f.c.release()
}

// loop runs Follow's loop until it ends (with Follow's result) or, with
// park, until its subscription has nothing to read and has taken f.run to
// call when it has (parked true).
func (f *follower[T]) loop(park bool) (error, bool) {
	for {
		if f.rs == nil {
			// Each attempt gets its own context so a failed stream is torn
			// down before the next is opened.
			actx, cancel := newAttempt(f.ctx)
			rs, err := f.open(actx)
			if err != nil {
				cancel()
				if err, again := f.failed(err); !again {
					return err, false
				}
				continue
			}
			f.rs, f.cancel, f.sub = rs, cancel, actx.subscription()
		}
		if park && f.sub != nil && f.sub.park(f.run) {
			return nil, true
		}
		msg, err := f.rs.Recv()
		if err == nil {
			if f.b != nil {
				f.b.Reset()
			}
			if err = f.handle(msg); err == nil {
				continue
			}
			if errors.Is(err, ErrStreamDone) {
				f.endAttempt()
				return nil, false
			}
		}
		f.endAttempt()
		if err, again := f.failed(err); !again {
			return err, false
		}
	}
}

func (f *follower[T]) endAttempt() {
	f.cancel()
	f.rs, f.sub, f.cancel = nil, nil, nil
}

// failed decides what a failed attempt means: the error Follow returns, or
// again after the backoff's wait.
func (f *follower[T]) failed(err error) (error, bool) {
	if f.ctx.Err() != nil {
		if f.c.ctx.Err() != nil {
			return ErrClosed, false
		}
		return MapError(f.ctx, f.ctx.Err()), false
	}
	err = MapError(f.ctx, err)
	if !rebindable(err) {
		return err, false
	}
	f.c.followHint(err)
	if f.b == nil {
		f.b = f.c.newBackOff(0)
	}
	wait := f.b.NextBackOff()
	f.c.opts.logger.Debug("waymaker: stream dropped, rebinding", zap.Duration("after", wait), zap.Error(err))
	if err := f.c.sleep(f.ctx, wait); err != nil {
		if f.c.ctx.Err() != nil {
			return ErrClosed, false
		}
		return err, false
	}
	return nil, true
}

// rebindable reports whether reopening a stream may help: everything
// transient for unary calls, plus a stream the server ended early or that
// was cancelled from the server side while the caller still wanted it.
func rebindable(err error) bool {
	if transient(err) {
		return true
	}
	var e *Error
	return errors.As(err, &e) && e.Kind == KindRPC && e.Code == codes.Canceled.String()
}
