package lock

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Renewal renews a lock's lease every interval in its own goroutine,
// independent of the lock's event stream and of the caller's work loop.
type Renewal struct {
	stopCtx context.Context
	stop    context.CancelFunc
	done    chan struct{}

	mu  sync.Mutex
	err error
}

// SpawnRenewal starts renewing the lease every interval, which must be
// positive and below the lease TTL (half the TTL is the usual choice). It
// runs until Stop, until the lock is lost or released, or until the
// connection closes. A renewal the server refuses because the lease is gone
// ("lease_expired", "not_owner") marks the lock lost: a lost lease is never
// revived. A renewal that fails otherwise (server unreachable) is tried
// again at the next interval; if no renewal is confirmed before the lease's
// expiry, the lock is lost.
//
// An invalid interval starts nothing: Err reports it (Kind "invalid").
func (l *Lock) SpawnRenewal(interval time.Duration) *Renewal {
	r := &Renewal{done: make(chan struct{})}
	r.stopCtx, r.stop = context.WithCancel(context.Background())
	if interval <= 0 || interval >= l.ttl {
		r.err = transport.Invalid("interval", "must be positive and below the lease TTL %v, got %v", l.ttl, interval)
		close(r.done)
		return r
	}
	if !l.c.conn.Go(func(ctx context.Context) { r.run(ctx, l, interval) }) {
		r.err = transport.ErrClosed
		close(r.done)
	}
	return r
}

// Stop ends the renewal and waits for its goroutine. It does not release
// the lock. Safe to call more than once.
func (r *Renewal) Stop() {
	r.stop()
	<-r.done
}

// Err reports why the renewal ended on its own: an invalid interval, the
// server refusing the lease, or a closed connection. It is nil while the
// renewal runs and after Stop.
func (r *Renewal) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *Renewal) run(connCtx context.Context, l *Lock, interval time.Duration) {
	defer close(r.done)
	// ctx ends when the lock ends (l.life), on Stop, or on Close, so an
	// in-flight renewal is abandoned at once in each case.
	ctx, cancel := context.WithCancel(l.life())
	defer cancel()
	defer context.AfterFunc(connCtx, cancel)()
	defer context.AfterFunc(r.stopCtx, cancel)()
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if connCtx.Err() != nil && r.stopCtx.Err() == nil {
				r.setErr(transport.ErrClosed)
			}
			return
		case <-t.C:
		}
		if err := r.renew(ctx, l); err != nil {
			r.setErr(err)
			return
		}
		t.Reset(interval)
	}
}

func (r *Renewal) setErr(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

// renew renews once. It returns an error only when the renewal must end.
func (r *Renewal) renew(ctx context.Context, l *Lock) error {
	err := l.Renew(ctx)
	if transport.IsServerCode(err, transport.CodeLeaseExpired) || transport.IsServerCode(err, transport.CodeNotOwner) {
		return err
	}
	if err != nil {
		l.c.conn.Logger().Debug("waymaker: lease renewal failed, retrying at the next interval", zap.String("lease_id", l.leaseID), zap.Error(err))
	}
	return nil
}

// Renew extends the lease now, to its TTL from now, and returns once the
// server confirmed it. A lease the server refuses (it expired, or is no
// longer this lock's) makes the lock lost, and Renew returns that server
// error ("lease_expired" or "not_owner"); a lost lock is never revived.
// SpawnRenewal calls it on a schedule.
func (l *Lock) Renew(ctx context.Context) error {
	l.mu.Lock()
	deadline := l.deadline
	st, lostErr := l.readLocked()
	l.mu.Unlock()
	if st.ended() {
		if lostErr != nil {
			return lostErr
		}
		return &transport.Error{Kind: transport.KindServer, Code: transport.CodeNotOwner, Message: "the lock was released"}
	}
	// A confirmation after the deadline could not save the lock: the
	// deadline timer has marked it lost by then.
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	stop := context.AfterFunc(l.life(), cancel)
	defer stop()
	req := &lockpb.LockServiceRenewRequest{LeaseId: l.leaseID, RequestId: l.requestID, LeaseTtlMs: l.ttl.Milliseconds()}
	var sent time.Time
	resp, err := transport.Call(ctx, l.c.conn, transport.Idempotent, func(ctx context.Context) (*lockpb.LockServiceRenewResponse, error) {
		sent = time.Now()
		return l.c.rpc.Renew(ctx, req)
	})
	switch {
	case err == nil:
		l.confirmed(sent.Add(l.ttl), resp.GetLease().GetLeaseExpiresAtMs())
	case transport.IsServerCode(err, transport.CodeLeaseExpired), transport.IsServerCode(err, transport.CodeNotOwner):
		l.markLost(err)
	}
	return err
}
