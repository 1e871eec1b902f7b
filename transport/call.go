package transport

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
)

// Response is what every waymaker response message satisfies.
type Response interface {
	GetResult() *commonpb.Result
}

// Idempotency says whether a call may be sent again after a failure that
// leaves its outcome unknown.
type Idempotency bool

const (
	// Idempotent calls (reads, and mutations deduplicated by a client-made
	// id) are retried on Unavailable and not_leader.
	Idempotent Idempotency = true
	// Once calls are retried only on not_leader, which guarantees the server
	// applied nothing.
	Once Idempotency = false
)

// Call runs one unary call through fn with the Conn's deadline and retry
// policy, and returns its response or an *Error: a transport failure
// (KindRPC) or a response with success=false (KindServer).
func Call[R Response](ctx context.Context, c *Conn, idem Idempotency, fn func(context.Context) (R, error)) (R, error) {
	if c.opts.callTimeout > 0 {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.opts.callTimeout)
			defer cancel()
		}
	}
	resp, err := fn(ctx)
	if err == nil {
		if r := resp.GetResult(); r != nil && r.GetSuccess() {
			return resp, nil // the fast path allocates nothing here
		}
	}
	err = check(ctx, resp, err)
	if err == nil {
		return resp, nil
	}
	return retry(ctx, c, idem, fn, err)
}

func check[R Response](ctx context.Context, resp R, err error) error {
	if err != nil {
		return MapError(ctx, err)
	}
	return ServerError(resp.GetResult())
}

func retryable(idem Idempotency, err error) bool {
	if idem == Idempotent {
		return transient(err)
	}
	e, ok := err.(*Error)
	return ok && e.Kind == KindServer && e.Code == CodeNotLeader
}

func retry[R Response](ctx context.Context, c *Conn, idem Idempotency, fn func(context.Context) (R, error), err error) (R, error) {
	var zero R
	if !retryable(idem, err) || ctx.Err() != nil {
		return zero, err
	}
	b := c.newBackOff(c.retryBudget(ctx))
	for {
		c.followHint(err)
		wait := b.NextBackOff()
		if wait == backoff.Stop {
			return zero, err
		}
		c.opts.logger.Debug("waymaker: retrying call", zap.Duration("after", wait), zap.Error(err))
		if werr := c.sleep(ctx, wait); werr != nil {
			return zero, gaveUp(werr, err)
		}
		resp, cerr := fn(ctx)
		if cerr = check(ctx, resp, cerr); cerr == nil {
			return resp, nil
		}
		if !retryable(idem, cerr) {
			// A deadline that ended this attempt says what the one
			// before met, as one that ends a wait between them does.
			return zero, gaveUp(cerr, err)
		}
		err = cerr
	}
}

func (c *Conn) newBackOff(maxElapsed time.Duration) *backoff.ExponentialBackOff {
	p := c.opts.backoff
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(p.Initial),
		backoff.WithMaxInterval(p.Max),
		backoff.WithMultiplier(p.Multiplier),
		backoff.WithRandomizationFactor(p.Jitter),
		backoff.WithMaxElapsedTime(maxElapsed),
	)
}

// sleep waits d, or until ctx ends or the Conn closes. While the connection
// is down it also ends as soon as the connection is ready again, so a call
// waiting out an outage goes on at the server's return, not at its next
// backoff step.
func (c *Conn) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	up, stop := c.whenUp()
	defer stop()
	select {
	case <-t.C:
		return nil
	case <-up:
		return nil
	case <-ctx.Done():
		return MapError(ctx, ctx.Err())
	case <-c.ctx.Done():
		return ErrClosed
	}
}
