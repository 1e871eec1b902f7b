// Package park lets a long-lived stream handler give its goroutine up
// while it waits.
//
// A watch, a delivery or a lock event stream spends nearly all its life
// waiting for the state it follows to change. Written as a loop of steps
// (Loop), its waiting part runs either on the handler's goroutine (Run,
// over a gRPC stream) or, over a stream that can take it (a Parker: a
// subscription of internal/session), without one: the handler returns
// ErrParked, and the stream runs a step on a goroutine of its own when
// the loop's waiter fires, when the stream ends, and when the server
// stops. A parked loop costs its memory only.
package park

import (
	"context"
	"errors"

	"google.golang.org/grpc"
)

// ErrParked is what a handler returns when its stream took its loop over
// (Run): the stream has not ended. An interceptor that acts at a stream's
// end registers that with AtEnd.
var ErrParked = errors.New("waymaker: the stream's handler handed its loop to the stream")

// Waiter is what a loop waits on between steps (a notify.Waiter).
type Waiter interface {
	// C is closed by the next fire.
	C() <-chan struct{}
	// Wait re-subscribes after a fire (it returns at once then).
	Wait(ctx context.Context) error
	// OnFire takes f to call on the next fire, and reports true; false when
	// the waiter has fired already (it is re-subscribed, and the caller
	// looks again).
	OnFire(f func()) bool
}

// Loop is the waiting part of a stream handler, in steps.
type Loop interface {
	// Step sends what is ready, blocking only as a stream's Send does
	// (flow control, credit), and returns the waiter to wait on before the
	// next step, or a nil waiter and the error to end the stream with
	// (nil: the stream ends well).
	Step() (Waiter, error)
	// Stopping runs instead of a step once the server is stopping, and
	// returns the error to end the stream with (after sending a last
	// message, if the handler sends one).
	Stopping() error
	// Close releases what the loop holds; it runs once, at the end,
	// after the last Step or Stopping.
	Close()
}

// Parker is a stream that can run a loop without its handler's goroutine.
type Parker interface {
	// Park takes l over (stopping is the server's stopping signal) and
	// reports true; the handler then returns ErrParked. False when this
	// stream cannot take it now.
	Park(l Loop, stopping <-chan struct{}) bool
	// AtEnd takes f to call with the stream's status error when it ends.
	AtEnd(f func(error))
}

// parkerKey is the context key of a stream's Parker: the stream a handler
// sees is wrapped (by the generated code, by interceptors), and its
// context is what every wrapper passes on.
type parkerKey struct{}

// WithParker returns ctx carrying p, for the Context of p's stream.
func WithParker(ctx context.Context, p Parker) context.Context {
	return context.WithValue(ctx, parkerKey{}, p)
}

// parker finds the Parker of ss, under every wrapper.
func parker(ss grpc.ServerStream) Parker {
	p, _ := ss.Context().Value(parkerKey{}).(Parker)
	return p
}

// Run runs l to the end on ss: handed to the stream when it is a Parker
// (and then ErrParked), otherwise on this goroutine, waiting between steps
// for the waiter, ctx's end (the stream ends well) and stopping.
func Run(ctx context.Context, ss grpc.ServerStream, stopping <-chan struct{}, l Loop) error {
	if p := parker(ss); p != nil && p.Park(l, stopping) {
		return ErrParked
	}
	defer l.Close()
	for {
		select {
		case <-stopping:
			return l.Stopping()
		default:
		}
		w, err := l.Step()
		if w == nil {
			return err
		}
		select {
		case <-w.C():
			_ = w.Wait(ctx)
		case <-ctx.Done():
			return nil
		case <-stopping:
			return l.Stopping()
		}
	}
}

// AtEnd arranges for f to see the end of a stream whose handler returned
// err: at once, unless err is ErrParked, when ss's Parker calls it at the
// real end. It reports whether the end is later.
func AtEnd(ss grpc.ServerStream, err error, f func(error)) bool {
	if !errors.Is(err, ErrParked) {
		return false
	}
	if p := parker(ss); p != nil {
		p.AtEnd(f)
		return true
	}
	return false
}
