package lock

import (
	"context"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// eventMsg is what the Acquire and MultiAcquire streams carry.
type eventMsg interface {
	GetResult() *commonpb.Result
	GetEvent() *lockpb.LockEvent
}

// streamDelay is how long after the grant the event stream opens. A lock
// held only briefly (acquire, a little work, unlock) then costs no stream
// and no goroutine at all; one held longer loses nothing by the delay,
// because the first open answers the lease's state as it is then (a lease
// already gone makes the lock lost), and until then the renewal and the
// local deadline watch over the lease as they always do. A Close of the
// connection in that window makes the lock lost as well (readLocked).
func streamDelay(ttl time.Duration) time.Duration { return min(ttl/4, 200*time.Millisecond) }

// follow holds the lease's event stream until the lock ends (ctx), or the
// connection closes, in the background (transport.FollowAsync: an idle
// lock's stream holds no goroutine); false when the connection is closed.
// Every open re-issues the acquisition's request id with MaxWait 0 and
// recover_only, so a rebind recovers the same lease and can never become a
// fresh grant.
func (l *Lock) follow(ctx context.Context) bool {
	done := func(err error) {
		if err == nil || ctx.Err() != nil {
			return // the lock ended (terminal event, Unlock, loss): nothing to report
		}
		// The stream cannot be kept: the server refused the rebind (the
		// lease is gone), the connection closed, or the server cannot
		// stream events. In each case the client can no longer vouch for
		// the lease.
		l.markLost(err)
	}
	if l.keys != nil {
		req := &lockpb.LockServiceMultiAcquireRequest{Keys: l.keys, Mode: l.mode.pb(), Scope: l.scope.pb(), RequestId: l.requestID, LeaseTtlMs: l.ttl.Milliseconds(), RecoverOnly: true}
		return followStream(ctx, l, func(ctx context.Context) (transport.Receiver[lockpb.LockServiceMultiAcquireResponse], error) {
			return l.c.rpc.MultiAcquire(ctx, req)
		}, done)
	}
	req := &lockpb.LockServiceAcquireRequest{Key: l.key, Mode: l.mode.pb(), Scope: l.scope.pb(), RequestId: l.requestID, LeaseTtlMs: l.ttl.Milliseconds(), RecoverOnly: true}
	return followStream(ctx, l, func(ctx context.Context) (transport.Receiver[lockpb.LockServiceAcquireResponse], error) {
		return l.c.rpc.Acquire(ctx, req)
	}, done)
}

func followStream[T any, PT interface {
	*T
	eventMsg
}](ctx context.Context, l *Lock, open func(context.Context) (transport.Receiver[T], error), done func(error)) bool {
	return transport.FollowAsync(ctx, l.c.conn, open, func(m *T) error { return l.handle(PT(m)) }, done)
}

// handle applies one stream message to the lock.
func (l *Lock) handle(m eventMsg) error {
	if err := transport.ServerError(m.GetResult()); err != nil {
		return err // a refused rebind; transient codes make Follow retry
	}
	ev := m.GetEvent()
	lease := ev.GetLease()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state.ended() {
		return transport.ErrStreamDone
	}
	switch ev.GetType() {
	case lockpb.LockEventType_LOCK_EVENT_TYPE_GRANTED, lockpb.LockEventType_LOCK_EVENT_TYPE_RENEWED:
		if lease.GetLeaseId() != l.leaseID || !sameGrants(l.grants, lease.GetGrants()) {
			l.lostLocked(&transport.Error{Kind: transport.KindServer, Code: transport.CodeNotOwner,
				Message: "the server answered the rebind with another lease (" + lease.GetLeaseId() + ")"})
			return transport.ErrStreamDone
		}
		l.setExpiryLocked(lease.GetLeaseExpiresAtMs())
		return nil
	case lockpb.LockEventType_LOCK_EVENT_TYPE_RELEASED:
		if l.state == stateReleasing {
			l.releasedLocked()
		} else {
			l.lostLocked(&transport.Error{Kind: transport.KindServer, Code: transport.CodeNotOwner, Message: "the lease was released by another call"})
		}
	case lockpb.LockEventType_LOCK_EVENT_TYPE_EXPIRED:
		l.lostLocked(&transport.Error{Kind: transport.KindServer, Code: transport.CodeLeaseExpired, Message: "the server expired the lease"})
	case lockpb.LockEventType_LOCK_EVENT_TYPE_REVOKED:
		l.lostLocked(&transport.Error{Kind: transport.KindServer, Code: transport.CodeNotOwner, Message: "the server revoked the lease"})
	default:
		return nil // an event type this client does not know changes nothing it tracks
	}
	return transport.ErrStreamDone
}

func sameGrants(have []Grant, got []*lockpb.LockGrant) bool {
	if len(have) != len(got) {
		return false
	}
	for i, g := range got {
		if have[i].Key != g.GetKey() || have[i].FenceToken != g.GetFenceToken() {
			return false
		}
	}
	return true
}
