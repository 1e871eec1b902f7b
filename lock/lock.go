package lock

import (
	"context"
	"errors"
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
	c *Client

	// What was asked for and granted: set before the Lock is returned,
	// never changed after, so read without mu.
	key       string   // the (first) key
	keys      []string // every key of a MultiLock; nil for a single key
	mode      Mode
	scope     Scope
	ttl       time.Duration
	requestID string
	leaseID   string
	grants    []Grant
	// oneGrant backs grants for a single key, so that the common
	// acquisition allocates no slice for it.
	oneGrant [1]Grant

	mu    sync.Mutex
	state lockState
	err   error // why the lock was lost; nil unless state is stateLost
	// expiresAtMs is the server's expiry of the lease, as last reported.
	expiresAtMs int64
	// deadline is the local time until which the lease surely lives: the
	// last confirmed grant or renewal, placed on this machine's clock
	// conservatively. Past it without a newer confirmation, the lock is lost.
	deadline time.Time
	// timer first opens the event stream (openStream, streamDelay after the
	// grant); from then on it watches the deadline (watchDeadline).
	timer *time.Timer
	// changed and ctx are made on first use, so a lock nobody watches
	// costs neither.
	changed chan struct{}   // made by Watch; closed and cleared on the next change
	ctx     context.Context // made by life and Done; ends when the lock ends
	cancel  context.CancelFunc
}

// lockState is where a Lock is in its life. It changes only under Lock.mu,
// along these transitions:
//
//	held      -> releasing  Unlock sends Release
//	releasing -> held       that Release failed without an answer about the
//	                        lease (server unreachable, context ended): the
//	                        lock is still held, and Unlock may be called again
//	releasing -> released   that Release succeeded, or the event stream
//	                        reported the release first
//	held      -> lost       the lease is gone, or the client can no longer
//	releasing -> lost       vouch for it: the server expired or revoked it,
//	                        or refused a renewal, rebind or release
//	                        ("lease_expired", "not_owner"); the event stream
//	                        reported a release while no Unlock was under way
//	                        (held only); the deadline passed unconfirmed; the
//	                        event stream could not be kept; the connection
//	                        was closed
//
// released and lost are final: nothing leaves them, and the lock's ctx
// ends on entering either.
type lockState uint8

const (
	stateHeld lockState = iota
	stateReleasing
	stateReleased
	stateLost
)

func (s lockState) ended() bool { return s == stateReleased || s == stateLost }

// closedChan is what Watch returns once the lock has ended.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// newLock returns a Lock on keys, or on key alone when keys is nil, with a
// fresh request id.
func (c *Client) newLock(key string, keys []string, mode Mode, scope Scope, ttl time.Duration) *Lock {
	if keys != nil {
		key = keys[0]
	}
	return &Lock{c: c, key: key, keys: keys, mode: mode, scope: scope, ttl: ttl, requestID: newRequestID()}
}

func (l *Lock) start(lease *lockpb.LockLease, deadline time.Time) {
	l.leaseID = lease.GetLeaseId()
	l.grants = l.oneGrant[:0]
	for _, g := range lease.GetGrants() {
		l.grants = append(l.grants, Grant{Key: g.GetKey(), Mode: modeOf(g.GetMode()), FenceToken: g.GetFenceToken()})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expiresAtMs = lease.GetLeaseExpiresAtMs()
	l.deadline = deadline
	l.timer = time.AfterFunc(min(streamDelay(l.ttl), time.Until(deadline)), l.openStream)
}

// openStream is the timer's first run: unless the lock ended or its
// deadline passed, it starts following the event stream, and hands the
// deadline watch to a new timer.
func (l *Lock) openStream() {
	l.mu.Lock()
	if !l.deadlineHoldsLocked() {
		l.mu.Unlock()
		return
	}
	l.timer = time.AfterFunc(time.Until(l.deadline), l.watchDeadline)
	ctx := l.lifeLocked()
	l.mu.Unlock()
	if !l.follow(ctx) {
		l.markLost(transport.ErrClosed)
	}
}

// watchDeadline runs at the deadline, and re-arms for it if a renewal
// moved it meanwhile.
func (l *Lock) watchDeadline() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.deadlineHoldsLocked() {
		l.timer.Reset(time.Until(l.deadline))
	}
}

// deadlineHoldsLocked reports whether the lock goes on: it has not ended,
// and its deadline has not passed (past it the client can no longer
// confirm the lease, so the lock is lost). l.mu is held.
func (l *Lock) deadlineHoldsLocked() bool {
	if l.state.ended() {
		return false
	}
	if time.Until(l.deadline) <= 0 {
		l.lostLocked(&transport.Error{Kind: transport.KindServer, Code: transport.CodeLeaseExpired,
			Message: "the client could not confirm the lease before it expired", Err: transport.ErrLockLost})
		return false
	}
	return true
}

// readLocked returns the lock's state and loss as a reader sees them. A
// lock still held when its connection was closed reads as lost at once:
// its event stream, had it opened, would have recorded the loss before
// Close returned, and the timer records it when it next runs (at most the
// stream delay later). l.mu is held.
func (l *Lock) readLocked() (lockState, error) {
	if !l.state.ended() && l.c.conn.Context().Err() != nil {
		return stateLost, transport.ErrClosed
	}
	return l.state, l.err
}

// life returns a context that ends when the lock ends or its Conn closes;
// it bounds the calls made on the lock's behalf (event stream, renewals).
// Its end hooks (transport.OnEnd) run under l.mu, from endLocked: they must
// not take l.mu.
func (l *Lock) life() context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lifeLocked()
}

func (l *Lock) lifeLocked() context.Context {
	if l.ctx == nil {
		// Bound to the Conn: closing it ends the lock (readLocked), and
		// so ends its life, its stream and its renewal.
		l.ctx, l.cancel = l.c.conn.Bind(context.Background())
		if st, _ := l.readLocked(); st.ended() {
			l.cancel()
		}
	}
	return l.ctx
}

// Key returns the (first) locked key.
func (l *Lock) Key() string { return l.key }

// FenceToken returns the fence token of the (first) key. Re-read it before
// every fenced write.
func (l *Lock) FenceToken() uint64 { return l.grants[0].FenceToken }

// Fence returns the fence of the (first) key, for a fenced write through
// any subsystem's WithFence option: the server applies that write only
// while this lock is held with this token (see transport.Fence). A
// MultiLock's handle gives the fence of each of its keys with
// Fence(key); a key it does not hold gives the zero Fence, which every
// fenced call refuses as invalid before sending anything.
func (l *Lock) Fence(key ...string) transport.Fence {
	if len(key) == 0 {
		return transport.Fence{Key: l.key, Token: l.grants[0].FenceToken}
	}
	return l.FenceFor(key[0])
}

// FenceFor returns the fence of key, one of the keys this lock holds (a
// MultiLock's), or the zero Fence when it holds no such key. It is
// Fence(key).
func (l *Lock) FenceFor(key string) transport.Fence {
	for _, g := range l.grants {
		if g.Key == key {
			return transport.Fence{Key: g.Key, Token: g.FenceToken}
		}
	}
	return transport.Fence{}
}

// Grants returns every key with its fence token, in the requested order.
func (l *Lock) Grants() []Grant { return append([]Grant(nil), l.grants...) }

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
	st, _ := l.readLocked()
	return st == stateLost
}

// State returns a snapshot of the lock.
func (l *Lock) State() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, err := l.readLocked()
	return State{
		Key:              l.key,
		Mode:             l.mode,
		Scope:            l.scope,
		FenceToken:       l.grants[0].FenceToken,
		Grants:           append([]Grant(nil), l.grants...),
		LeaseID:          l.leaseID,
		RequestID:        l.requestID,
		LeaseTTL:         l.ttl,
		LeaseExpiresAtMs: l.expiresAtMs,
		Lost:             st == stateLost,
		Released:         st == stateReleased,
		Err:              err,
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
	if l.changed == nil {
		if st, _ := l.readLocked(); st.ended() {
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
	if l.state.ended() {
		return
	}
	l.state, l.err = stateLost, err
	l.endLocked()
	l.c.conn.Logger().Debug("waymaker: lock lost", zap.String("key", l.key), zap.String("lease_id", l.leaseID), zap.Error(err))
}

// releasedLocked ends the lock as released, unless it already ended.
func (l *Lock) releasedLocked() {
	if !l.state.ended() {
		l.state = stateReleased
		l.endLocked()
	}
}

// endLocked stops the lock's timer, wakes its watchers, then ends its ctx:
// in that order, so whoever sees Done closed finds Watch's channel closed
// too. l.mu is held.
func (l *Lock) endLocked() {
	l.timer.Stop()
	l.changedLocked()
	if l.cancel != nil {
		l.cancel()
	}
}

// confirmed records that the lease was confirmed (by a renewal) to live
// until deadline on the local clock and expiresAtMs on the server's.
func (l *Lock) confirmed(deadline time.Time, expiresAtMs int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state.ended() {
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
	st, lostErr := l.readLocked()
	switch {
	case st == stateReleased:
		l.mu.Unlock()
		return nil
	case st == stateLost && transport.IsServerCode(lostErr, transport.CodeNotOwner),
		st == stateLost && transport.IsServerCode(lostErr, transport.CodeLeaseExpired) && !isLocalLoss(lostErr):
		l.mu.Unlock()
		return lostErr // the server no longer holds the lease
	case st == stateHeld:
		l.state = stateReleasing
	}
	l.mu.Unlock()

	req := &lockpb.LockServiceReleaseRequest{LeaseId: l.leaseID, RequestId: l.requestID}
	_, err := transport.Call(ctx, l.c.conn, transport.Idempotent, func(ctx context.Context) (*lockpb.LockServiceReleaseResponse, error) {
		return l.c.rpc.Release(ctx, req)
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	if st == stateLost {
		if err != nil {
			return err
		}
		return lostErr
	}
	switch {
	case err == nil:
		l.releasedLocked()
	case transport.IsServerCode(err, transport.CodeLeaseExpired), transport.IsServerCode(err, transport.CodeNotOwner):
		l.lostLocked(err)
	case l.state == stateReleasing:
		l.state = stateHeld
	}
	return err
}

// isLocalLoss reports whether err is a loss the client decided alone (it
// could not confirm the lease in time), not one the server reported.
func isLocalLoss(err error) bool { return errors.Is(err, transport.ErrLockLost) }

// Done returns a channel closed once the lock is lost or released.
func (l *Lock) Done() <-chan struct{} { return l.life().Done() }

// Err returns why the lock was lost, or nil.
func (l *Lock) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.readLocked()
	return err
}
