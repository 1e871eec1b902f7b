package lock

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Grant is one key held under a lease.
type Grant struct {
	// Key is the locked key.
	Key string
	// Mode is how the key is held.
	Mode Mode
	// FenceToken strictly increases per key with every grant. Pass it to
	// fenced resources, which refuse writes carrying a lower token.
	FenceToken uint64
}

// State is a snapshot of a Lock.
type State struct {
	// Key is the (first) locked key.
	Key string
	// Mode is how the keys are held.
	Mode Mode
	// Scope is where the grant was decided.
	Scope Scope
	// FenceToken is the first key's fence token.
	FenceToken uint64
	// Grants lists every key with its fence token, in the requested order.
	Grants []Grant
	// LeaseID names the server-side lease.
	LeaseID string
	// RequestID is the client-made identity of the acquisition; a rebind
	// re-issues it to recover the lease.
	RequestID string
	// LeaseTTL is the lease's time to live per renewal.
	LeaseTTL time.Duration
	// LeaseExpiresAtMs is when the server expires the lease unless renewed
	// (epoch ms, server clock).
	LeaseExpiresAtMs int64
	// Lost is true once the client knows, or can no longer rule out, that
	// the lease is gone. A lost lock never comes back.
	Lost bool
	// Released is true after a successful Unlock.
	Released bool
	// Err says why the lock was lost; nil otherwise.
	Err error
}

// Lock is a held lock: one lease with one grant per key. A background
// goroutine follows the lease's server event stream and transparently
// rebinds it after a drop by re-issuing the same request id with MaxWait 0,
// which recovers the still-held lease (same fence token) rather than
// contending again; if the lease is gone by then, the lock is lost.
//
// The lease lives on its server-side TTL. Renew it with SpawnRenewal, which
// runs independently of the event stream. Dropping a Lock without Unlock
// does not release it: the lease expires on its own TTL.
//
// All methods are safe for concurrent use.
type Lock struct {
	c         *Client
	multi     bool
	keys      []string
	mode      Mode
	scope     Scope
	requestID string
	ttl       time.Duration
	leaseID   string

	mu          sync.Mutex
	grants      []Grant
	expiresAtMs int64
	// deadline is the local time until which the lease surely lives: the
	// last confirmed grant or renewal, placed on this machine's clock
	// conservatively. Past it without a newer confirmation, the lock is lost.
	deadline  time.Time
	watchdog  *time.Timer
	lost      bool
	released  bool
	unlocking bool
	err       error
	changed   chan struct{}   // closed on the next change; stays closed once terminal
	term      chan struct{}   // closed once lost or released
	ctx       context.Context // ends when the lock ends; bounds its goroutines' calls
	cancel    context.CancelFunc
	done      chan struct{} // closed when the background goroutine has ended
}

func (l *Lock) start(lease *lockpb.LockLease, deadline time.Time) {
	l.leaseID = lease.GetLeaseId()
	l.expiresAtMs = lease.GetLeaseExpiresAtMs()
	l.grants = grantsOf(lease)
	l.deadline = deadline
	l.changed = make(chan struct{})
	l.term = make(chan struct{})
	l.done = make(chan struct{})
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.mu.Lock()
	l.watchdog = time.AfterFunc(time.Until(deadline), l.checkDeadline)
	l.mu.Unlock()
	if !l.c.conn.Go(func(connCtx context.Context) { l.follow(connCtx, l.ctx) }) {
		close(l.done)
		l.markLost(transport.ErrClosed)
	}
}

func grantsOf(lease *lockpb.LockLease) []Grant {
	gs := make([]Grant, len(lease.GetGrants()))
	for i, g := range lease.GetGrants() {
		gs[i] = Grant{Key: g.GetKey(), Mode: modeOf(g.GetMode()), FenceToken: g.GetFenceToken()}
	}
	return gs
}

// Key returns the (first) locked key.
func (l *Lock) Key() string { return l.keys[0] }

// FenceToken returns the fence token of the (first) key. Re-read it before
// every fenced write.
func (l *Lock) FenceToken() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.grants[0].FenceToken
}

// Grants returns every key with its fence token, in the requested order.
func (l *Lock) Grants() []Grant {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Grant(nil), l.grants...)
}

// LeaseExpiresAtMs returns when the server expires the lease unless it is
// renewed (epoch ms, server clock).
func (l *Lock) LeaseExpiresAtMs() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expiresAtMs
}

// IsLost reports whether the lock is lost: the server expired, revoked or
// refused the lease, a rebind could not recover it, the client could not
// confirm it before its expiry, or the connection was closed. Once lost,
// always lost.
func (l *Lock) IsLost() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// State returns a snapshot of the lock.
func (l *Lock) State() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return State{
		Key:              l.keys[0],
		Mode:             l.mode,
		Scope:            l.scope,
		FenceToken:       l.grants[0].FenceToken,
		Grants:           append([]Grant(nil), l.grants...),
		LeaseID:          l.leaseID,
		RequestID:        l.requestID,
		LeaseTTL:         l.ttl,
		LeaseExpiresAtMs: l.expiresAtMs,
		Lost:             l.lost,
		Released:         l.released,
		Err:              l.err,
	}
}

// Watch returns a channel that is closed on the next state change (a
// renewal moved the expiry, the lock was lost or released); call it again
// for the change after that. Once the lock is lost or released the channel
// it returns is already closed, so a loop that checks IsLost after Watch
// fires never misses the loss.
func (l *Lock) Watch() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// changedLocked wakes watchers; l.mu is held.
func (l *Lock) changedLocked() {
	close(l.changed)
	if !l.lost && !l.released {
		l.changed = make(chan struct{})
	}
}

// markLost makes the lock lost for err, unless it already ended.
func (l *Lock) markLost(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lostLocked(err)
}

func (l *Lock) lostLocked(err error) {
	if l.lost || l.released {
		return
	}
	l.lost, l.err = true, err
	l.endLocked()
	l.c.conn.Logger().Debug("waymaker: lock lost", zap.String("key", l.keys[0]), zap.String("lease_id", l.leaseID), zap.Error(err))
}

func (l *Lock) endLocked() {
	l.watchdog.Stop()
	l.cancel()
	close(l.term)
	l.changedLocked()
}

// confirmed records that the lease was confirmed (by a renewal) to live
// until deadline on the local clock and expiresAtMs on the server's.
func (l *Lock) confirmed(deadline time.Time, expiresAtMs int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost || l.released {
		return
	}
	if deadline.After(l.deadline) {
		l.deadline = deadline
		l.watchdog.Reset(time.Until(deadline))
	}
	l.setExpiryLocked(expiresAtMs)
}

func (l *Lock) setExpiryLocked(expiresAtMs int64) {
	if expiresAtMs > l.expiresAtMs {
		l.expiresAtMs = expiresAtMs
		l.changedLocked()
	}
}

// checkDeadline runs when the local deadline passes: unless a renewal moved
// it meanwhile, the client can no longer confirm the lease, so it is lost.
func (l *Lock) checkDeadline() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost || l.released {
		return
	}
	if left := time.Until(l.deadline); left > 0 {
		l.watchdog.Reset(left)
		return
	}
	l.lostLocked(&transport.Error{Kind: transport.KindServer, Code: transport.CodeLeaseExpired,
		Message: "the client could not confirm the lease before it expired", Err: transport.ErrLockLost})
}

// Unlock releases the lease and frees its keys. It is idempotent: Unlock of
// a lock already released returns nil. Unlock of a lost lock never
// succeeds silently: it returns a server error with code "lease_expired"
// (the lease ran out) or "not_owner" (it was revoked or released
// elsewhere). When only the client gave up (it could not confirm the lease
// in time, or the connection closed) Unlock still asks the server to
// release whatever it may hold, and returns the loss.
func (l *Lock) Unlock(ctx context.Context) error {
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return nil
	}
	lost, lostErr := l.lost, l.err
	if lost && transport.IsServerCode(lostErr, transport.CodeNotOwner) {
		l.mu.Unlock()
		return lostErr
	}
	if lost && transport.IsServerCode(lostErr, transport.CodeLeaseExpired) && !isLocalLoss(lostErr) {
		l.mu.Unlock()
		return lostErr
	}
	l.unlocking = true
	l.mu.Unlock()

	req := &lockpb.LockServiceReleaseRequest{LeaseId: l.leaseID, RequestId: l.requestID}
	_, err := transport.Call(ctx, l.c.conn, transport.Idempotent, func(ctx context.Context) (*lockpb.LockServiceReleaseResponse, error) {
		return l.c.rpc.Release(ctx, req)
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	if lost {
		if err != nil {
			return err
		}
		return lostErr
	}
	switch {
	case err == nil:
		if !l.lost && !l.released {
			l.released = true
			l.endLocked()
		}
		return nil
	case transport.IsServerCode(err, transport.CodeLeaseExpired), transport.IsServerCode(err, transport.CodeNotOwner):
		l.lostLocked(err)
	}
	l.unlocking = false
	return err
}

func isLocalLoss(err error) bool {
	e, ok := err.(*transport.Error)
	return ok && e.Err == transport.ErrLockLost
}

// Done returns a channel closed once the lock is lost or released.
func (l *Lock) Done() <-chan struct{} { return l.term }

// Err returns why the lock was lost, or nil.
func (l *Lock) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
