package lock

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Renewal renews a lock's lease every interval, independent of the lock's
// event stream and of the caller's work loop. Between renewals it holds a
// timer, not a goroutine, so a held lock with its renewal costs little
// while it waits.
type Renewal struct {
	l        *Lock
	interval time.Duration

	mu      sync.Mutex
	over    transport.Latch // opened once ended with no renewal in flight
	err     error
	ended   bool               // no renewal starts again
	stopped bool               // Stop was called
	running bool               // a renewal is in flight
	cancel  context.CancelFunc // ends the renewal in flight
	timer   *time.Timer
	unhook  func() bool // the hook on the lock's life (which the Conn's close ends too)
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
	r := &Renewal{l: l, interval: interval}
	if interval <= 0 || interval >= l.ttl {
		r.err = transport.Invalid("interval", "must be positive and below the lease TTL %v, got %v", l.ttl, interval)
		r.ended = true
		r.over.Open()
		return r
	}
	if l.c.conn.Context().Err() != nil {
		r.err, r.ended = transport.ErrClosed, true
		r.over.Open()
		return r
	}
	life := l.life() // before r.mu: l.mu is never taken under r.mu
	r.mu.Lock()
	r.timer = time.AfterFunc(interval, r.tick)
	r.mu.Unlock()
	// The hook runs at once when the lock has ended already, and runs
	// under l.mu when it ends later (endLocked): it takes only r.mu.
	unhook := transport.OnEnd(life, func() { r.end(nil) })
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		unhook()
	} else {
		r.unhook = unhook
		r.mu.Unlock()
	}
	return r
}

// Stop ends the renewal and waits for a renewal in flight to return. It
// does not release the lock. Safe to call more than once.
func (r *Renewal) Stop() {
	r.mu.Lock()
	r.stopped = true
	r.endLocked(nil)
	r.mu.Unlock()
	r.over.Wait()
}

// Err reports why the renewal ended on its own: an invalid interval, the
// server refusing the lease, or a closed connection. It is nil while the
// renewal runs and after Stop.
func (r *Renewal) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// end ends the renewal with err, unless it has ended. A renewal that
// ends while the connection is closed, other than by Stop, ends with
// ErrClosed (closing the connection also ends the lock).
func (r *Renewal) end(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endLocked(err)
}

func (r *Renewal) endLocked(err error) {
	if r.ended {
		return
	}
	if err == nil && !r.stopped && r.l.c.conn.Context().Err() != nil {
		err = transport.ErrClosed
	}
	r.ended, r.err = true, err
	r.timer.Stop()
	if r.unhook != nil {
		r.unhook()
	}
	if r.running {
		r.cancel() // the renewal in flight ends it when it returns
		return
	}
	r.over.Open()
}

// tick starts the renewal the timer is due for, on a Conn goroutine, so
// that Close waits for it.
func (r *Renewal) tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.running, r.cancel = true, cancel
	if !r.l.c.conn.Go(func(context.Context) { r.finish(r.renew(ctx, r.l)) }) {
		r.running = false
		cancel()
		r.endLocked(transport.ErrClosed)
	}
}

// finish records the outcome of the renewal in flight and schedules the
// next one, unless the renewal has to end or has ended meanwhile.
func (r *Renewal) finish(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running = false
	r.cancel()
	switch {
	case r.ended:
		r.over.Open()
	case err != nil:
		r.endLocked(err)
	default:
		r.timer.Reset(r.interval)
	}
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
	stop := transport.OnEnd(l.life(), cancel)
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
