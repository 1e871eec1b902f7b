package lock

import (
	"context"
	"errors"
	"sync"
	"time"
	"unsafe"

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

// Lock is a held lock: one lease with one grant per key. Shortly after the
// grant (a quarter of the TTL, at most 200ms) it starts following the
// lease's server event stream in the background, and transparently rebinds
// it after a drop by re-issuing the same request id with MaxWait 0, which
// recovers the still-held lease (same fence token) rather than contending
// again; if the lease is gone by then, the lock is lost. A lock unlocked
// before that costs no stream and no goroutine.
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
	grants    []Grant // set before the Lock is returned, never changed after

	// Backing arrays for a single-key lock's keys, grants and request id:
	// the common acquisition then allocates only the Lock and its timer.
	key1   [1]string
	grant1 [1]Grant
	rid    [36]byte

	mu          sync.Mutex
	expiresAtMs int64
	// deadline is the local time until which the lease surely lives: the
	// last confirmed grant or renewal, placed on this machine's clock
	// conservatively. Past it without a newer confirmation, the lock is lost.
	deadline time.Time
	// timer first opens the event stream (streamDelay after the grant),
	// then fires at the deadline, where it re-arms if a renewal moved it.
	timer     *time.Timer
	streaming bool // the event stream's goroutine was started
	lost      bool
	released  bool
	unlocking bool
	err       error
	// changed, term and ctx are made on first use, so a lock nobody
	// watches costs none of them.
	changed chan struct{}   // made by Watch; closed and cleared on the next change
	term    chan struct{}   // made by Done; closed once lost or released
	ctx     context.Context // made by life; ends when the lock ends
	cancel  context.CancelFunc
}

// closedChan is what Watch and Done return once the lock has ended.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// newLock returns a Lock on keys, or on key alone when keys is nil, with a
// fresh request id.
func (c *Client) newLock(key string, keys []string, mode Mode, scope Scope, ttl time.Duration) *Lock {
	l := &Lock{c: c, keys: keys, multi: keys != nil, mode: mode, scope: scope, ttl: ttl}
	if keys == nil {
		l.key1[0] = key
		l.keys = l.key1[:]
	}
	newRequestID(&l.rid)
	// The bytes never change once written, and the string keeps the Lock
	// alive, so it can share them rather than copy them.
	l.requestID = unsafe.String(&l.rid[0], len(l.rid))
	return l
}

func (l *Lock) start(lease *lockpb.LockLease, deadline time.Time) {
	l.leaseID = lease.GetLeaseId()
	l.grants = l.grant1[:0]
	for _, g := range lease.GetGrants() {
		l.grants = append(l.grants, Grant{Key: g.GetKey(), Mode: modeOf(g.GetMode()), FenceToken: g.GetFenceToken()})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expiresAtMs = lease.GetLeaseExpiresAtMs()
	l.deadline = deadline
	l.timer = time.AfterFunc(min(streamDelay(l.ttl), time.Until(deadline)), l.onTimer)
}

// onTimer opens the event stream on its first run, and watches the
// deadline on every run: unless a renewal moved it, the client can no
// longer confirm the lease once it passes, so the lock is lost.
func (l *Lock) onTimer() {
	l.mu.Lock()
	if l.lost || l.released {
		l.mu.Unlock()
		return
	}
	left := time.Until(l.deadline)
	if left <= 0 {
		l.lostLocked(&transport.Error{Kind: transport.KindServer, Code: transport.CodeLeaseExpired,
			Message: "the client could not confirm the lease before it expired", Err: transport.ErrLockLost})
		l.mu.Unlock()
		return
	}
	l.timer.Reset(left)
	open := !l.streaming
	l.streaming = true
	ctx := l.lifeLocked()
	l.mu.Unlock()
	if open && !l.c.conn.Go(func(context.Context) { l.follow(ctx) }) {
		l.markLost(transport.ErrClosed)
	}
}

// settleLocked makes the lock lost if the connection was closed before its
// event stream opened: the stream would have seen the Close at once, so
// the lock reads as lost as soon as Close returns, not only when the
// stream delay ends. l.mu is held.
func (l *Lock) settleLocked() {
	if !l.streaming && !l.lost && !l.released && l.c.conn.Context().Err() != nil {
		l.lostLocked(transport.ErrClosed)
	}
}

// life returns a context that ends when the lock ends; it bounds the calls
// made on the lock's behalf (event stream, renewals).
func (l *Lock) life() context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lifeLocked()
}

func (l *Lock) lifeLocked() context.Context {
	if l.ctx == nil {
		l.ctx, l.cancel = context.WithCancel(context.Background())
		if l.lost || l.released {
			l.cancel()
		}
	}
	return l.ctx
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
	l.settleLocked()
	return l.lost
}

// State returns a snapshot of the lock.
func (l *Lock) State() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.settleLocked()
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
	l.settleLocked()
	if l.changed == nil {
		if l.lost || l.released {
			return closedChan
		}
		l.changed = make(chan struct{})
	}
	return l.changed
}

// changedLocked wakes watchers; l.mu is held.
func (l *Lock) changedLocked() {
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
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
	l.timer.Stop()
	if l.cancel != nil {
		l.cancel()
	}
	if l.term != nil {
		close(l.term)
	}
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
		l.deadline = deadline // the timer re-arms for it when it fires
	}
	l.setExpiryLocked(expiresAtMs)
}

func (l *Lock) setExpiryLocked(expiresAtMs int64) {
	if expiresAtMs > l.expiresAtMs {
		l.expiresAtMs = expiresAtMs
		l.changedLocked()
	}
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
	var e *transport.Error
	return errors.As(err, &e) && errors.Is(e.Err, transport.ErrLockLost)
}

// Done returns a channel closed once the lock is lost or released.
func (l *Lock) Done() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.settleLocked()
	if l.term == nil {
		if l.lost || l.released {
			return closedChan
		}
		l.term = make(chan struct{})
	}
	return l.term
}

// Err returns why the lock was lost, or nil.
func (l *Lock) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.settleLocked()
	return l.err
}
