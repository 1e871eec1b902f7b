package transport

import (
	"context"
	"errors"

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
	ctx, cancel := c.Bind(ctx)
	defer cancel()
	b := c.newBackOff(0)
	for {
		err := followOnce(ctx, open, handle, b.Reset)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			if c.ctx.Err() != nil {
				return ErrClosed
			}
			return MapError(ctx, ctx.Err())
		}
		err = MapError(ctx, err)
		if !rebindable(err) {
			return err
		}
		c.followHint(err)
		wait := b.NextBackOff()
		c.opts.logger.Debug("waymaker: stream dropped, rebinding", zap.Duration("after", wait), zap.Error(err))
		if err := c.sleep(ctx, wait); err != nil {
			if c.ctx.Err() != nil {
				return ErrClosed
			}
			return err
		}
	}
}

func followOnce[T any](ctx context.Context, open func(context.Context) (Receiver[T], error), handle func(*T) error, received func()) error {
	// Each attempt gets its own context so a failed stream is torn down
	// before the next is opened.
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	rs, err := open(actx)
	if err != nil {
		return err
	}
	for {
		msg, err := rs.Recv()
		if err != nil {
			return err
		}
		received()
		if err := handle(msg); err != nil {
			if errors.Is(err, ErrStreamDone) {
				return nil
			}
			return err
		}
	}
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
