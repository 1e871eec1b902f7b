package api

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/lock"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/notify"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/park"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Lock request bounds (the key bound is Limits.MaxKeyLen).
const (
	lockDefaultTTLMs = 30_000
	lockMinTTLMs     = 500
	lockMaxTTLMs     = 3_600_000
	lockMaxWaitMs    = 3_600_000
	lockMaxKeys      = 128
	lockMaxRequestID = 128
	// lockWaitSlack is how long past max_wait a waiting call gives the
	// leader's tick to expire its waiter before cancelling it itself.
	lockWaitSlack = time.Second
	// lockCancelTimeout bounds the proposal that drops an abandoned waiter.
	lockCancelTimeout = 5 * time.Second
	// localLeasePrefix starts the id of every LOCAL scope lease.
	localLeasePrefix = "local-"
)

// LockService is the gRPC lock service. QUORUM scope goes through raft
// (the lock state machine); LOCAL scope is a Table in this node's memory,
// driven with this node's clock and never replicated.
type LockService struct {
	lockpb.UnimplementedLockServiceServer
	d      Deps
	quorum lockBackend
	local  lockBackend
}

// NewLockService returns the lock service over the registered state
// machine sm.
func NewLockService(sm *lock.Machine, d Deps) *LockService {
	boot := time.Now()
	// Local fence tokens start from the boot time in microseconds, so a
	// restarted node's tokens still exceed the ones it granted before, as
	// far as its clock moved forward (the best LOCAL scope can promise).
	lt := lock.NewTable(localLeasePrefix+strconv.FormatInt(boot.UnixMilli(), 36)+"-", uint64(boot.UnixMicro()))
	return &LockService{
		d:      d,
		quorum: &quorumLocks{t: sm.Table, node: d.Node},
		local:  &localLocks{t: lt, stopping: d.Stopping},
	}
}

// lockBackend applies lock operations to one table.
type lockBackend interface {
	table() *lock.Table
	acquire(ctx context.Context, req *lockpb.LockServiceMultiTryAcquireRequest) (*lock.Outcome, *commonpb.Result)
	cancel(reqID string, attempt uint64)
	renew(ctx context.Context, req *lockpb.LockServiceRenewRequest) (*lock.Outcome, *commonpb.Result)
	release(ctx context.Context, req *lockpb.LockServiceReleaseRequest) (*lock.Outcome, *commonpb.Result)
}

type quorumLocks struct {
	t    *lock.Table
	node Proposer
}

func (q *quorumLocks) table() *lock.Table { return q.t }

func (q *quorumLocks) acquire(ctx context.Context, req *lockpb.LockServiceMultiTryAcquireRequest) (*lock.Outcome, *commonpb.Result) {
	if r := q.expireBefore(ctx, "", req.GetKeys()); r != nil {
		return nil, r
	}
	return ProposeEach[*lock.Outcome](ctx, q.node, lock.Name, lock.OpAcquire, req)
}

func (q *quorumLocks) cancel(reqID string, attempt uint64) {
	// The caller's context has ended; the removal must still be proposed.
	ctx, cancel := context.WithTimeout(context.Background(), lockCancelTimeout)
	defer cancel()
	_, _ = q.node.Propose(ctx, lock.Name, lock.OpCancel, lock.EncodeCancel(reqID, attempt))
}

func (q *quorumLocks) release(ctx context.Context, req *lockpb.LockServiceReleaseRequest) (*lock.Outcome, *commonpb.Result) {
	if r := q.expireBefore(ctx, req.GetLeaseId(), nil); r != nil {
		return nil, r
	}
	return ProposeEach[*lock.Outcome](ctx, q.node, lock.Name, lock.OpRelease, req)
}

// localLocks drives the LOCAL table with this node's clock. Expiries run on
// a timer set to the table's next deadline (no goroutine while idle).
type localLocks struct {
	t        *lock.Table
	stopping <-chan struct{}
	mu       sync.Mutex
	timer    *time.Timer
	timerAt  int64
}

func (l *localLocks) table() *lock.Table { return l.t }

func lockNowMs() int64 { return time.Now().UnixMilli() }

func (l *localLocks) acquire(_ context.Context, req *lockpb.LockServiceMultiTryAcquireRequest) (*lock.Outcome, *commonpb.Result) {
	defer l.schedule()
	return l.t.Acquire(lockAcquireRequest(req), lockNowMs()), nil
}

func (l *localLocks) cancel(reqID string, attempt uint64) {
	l.t.Cancel(reqID, attempt, lockNowMs())
	l.schedule()
}

func (l *localLocks) renew(_ context.Context, req *lockpb.LockServiceRenewRequest) (*lock.Outcome, *commonpb.Result) {
	defer l.schedule()
	return l.t.Renew(req.GetLeaseId(), req.GetRequestId(), req.GetLeaseTtlMs(), lockNowMs()), nil
}

func (l *localLocks) release(_ context.Context, req *lockpb.LockServiceReleaseRequest) (*lock.Outcome, *commonpb.Result) {
	defer l.schedule()
	return l.t.Release(req.GetLeaseId(), req.GetRequestId(), lockNowMs()), nil
}

// schedule makes the timer fire at the table's next deadline.
func (l *localLocks) schedule() {
	d := l.t.NextDeadline()
	l.mu.Lock()
	defer l.mu.Unlock()
	if d == 0 || (l.timerAt != 0 && l.timerAt <= d) {
		return
	}
	select {
	case <-l.stopping:
		return // a stopping node expires nothing more; its local locks die with it
	default:
	}
	l.timerAt = d
	wait := time.Until(time.UnixMilli(d))
	if l.timer == nil {
		l.timer = time.AfterFunc(wait, l.fire)
	} else {
		l.timer.Reset(wait)
	}
}

func (l *localLocks) fire() {
	l.mu.Lock()
	l.timerAt = 0
	l.mu.Unlock()
	l.t.Tick(lockNowMs())
	l.schedule()
}

func lockAcquireRequest(req *lockpb.LockServiceMultiTryAcquireRequest) lock.AcquireRequest {
	return lock.AcquireRequest{
		RequestID:   req.GetRequestId(),
		Keys:        req.GetKeys(),
		Mode:        lock.NormalMode(req.GetMode()),
		MaxWaitMs:   req.GetMaxWaitMs(),
		TTLMs:       req.GetLeaseTtlMs(),
		RecoverOnly: req.GetRecoverOnly(),
		Value:       string(req.GetValue()),
	}
}

func (s *LockService) backend(scope lockpb.LockScope) lockBackend {
	if scope == lockpb.LockScope_LOCK_SCOPE_LOCAL {
		return s.local
	}
	return s.quorum
}

// backendOf routes a lease id: LOCAL lease ids carry their prefix.
func (s *LockService) backendOf(leaseID string) lockBackend {
	if strings.HasPrefix(leaseID, localLeasePrefix) {
		return s.local
	}
	return s.quorum
}

// validateAcquire checks an acquisition (keys given as one field or a list)
// and fills in the defaults.
func (s *LockService) validateAcquire(req *lockpb.LockServiceMultiTryAcquireRequest, multi bool) *commonpb.Result {
	var v Validator
	if multi {
		v.Check(len(req.Keys) > 0, "keys", "must not be empty")
		v.Check(len(req.Keys) <= lockMaxKeys, "keys", "must hold at most "+strconv.Itoa(lockMaxKeys)+" keys")
		seen := make(map[string]struct{}, len(req.Keys))
		for i, k := range req.Keys {
			field := "keys[" + strconv.Itoa(i) + "]"
			v.NonEmpty(field, k)
			v.MaxLen(field, len(k), s.d.Limits.MaxKeyLen)
			_, dup := seen[k]
			v.Check(!dup, "keys", "key "+strconv.Quote(k)+" appears twice")
			seen[k] = struct{}{}
		}
	} else {
		v.NonEmpty("key", req.Keys[0])
		v.MaxLen("key", len(req.Keys[0]), s.d.Limits.MaxKeyLen)
	}
	v.Check(lockValidMode(req.Mode), "mode", "unknown mode")
	v.Check(lockValidScope(req.Scope), "scope", "unknown scope")
	v.NonEmpty("request_id", req.RequestId)
	v.MaxLen("request_id", len(req.RequestId), lockMaxRequestID)
	v.NonNegative("max_wait_ms", req.MaxWaitMs)
	v.Check(req.MaxWaitMs <= lockMaxWaitMs, "max_wait_ms", "must be at most "+strconv.Itoa(lockMaxWaitMs))
	lockValidTTL(&v, req.LeaseTtlMs)
	v.MaxLen("value", len(req.Value), lock.MaxValueLen)
	if r := v.Result(); r != nil {
		return r
	}
	if req.LeaseTtlMs == 0 {
		req.LeaseTtlMs = lockDefaultTTLMs
	}
	req.Mode = lock.NormalMode(req.Mode)
	return nil
}

func lockValidTTL(v *Validator, ttl int64) {
	v.NonNegative("lease_ttl_ms", ttl)
	v.Check(ttl == 0 || ttl >= lockMinTTLMs, "lease_ttl_ms", "must be 0 (default 30000) or at least "+strconv.Itoa(lockMinTTLMs))
	v.Check(ttl <= lockMaxTTLMs, "lease_ttl_ms", "must be at most "+strconv.Itoa(lockMaxTTLMs))
}

func lockValidMode(m lockpb.LockMode) bool {
	_, ok := lockpb.LockMode_name[int32(m)]
	return ok
}

func lockValidScope(s lockpb.LockScope) bool {
	_, ok := lockpb.LockScope_name[int32(s)]
	return ok
}

func lockOutcomeResult(o *lock.Outcome) *commonpb.Result {
	if o.Code != "" {
		return result.Fail(o.Code, o.Message)
	}
	return nil
}

// lockOutcome is a backend's answer as (lease, Result): the failure of
// the proposal or of the outcome, else the outcome's lease.
func lockOutcome(o *lock.Outcome, r *commonpb.Result) (*lockpb.LockLease, *commonpb.Result) {
	if r == nil {
		r = lockOutcomeResult(o)
	}
	if r != nil {
		return nil, r
	}
	return o.Lease, nil
}

// readDeps is what a read of local (a node's own locks, not replicated)
// or quorum locks passes through: local reads need no read barrier.
func (s *LockService) readDeps(local bool) Deps {
	d := s.d
	if local {
		d.ReadBarrier = nil
	}
	return d
}

// acquire runs one validated acquisition to its end: a grant (or recovery),
// a refusal, or, for a waiting one, the grant or the end of the wait. A
// waiting call whose context ends drops its waiter, unless a grant beat it.
func (s *LockService) acquire(ctx context.Context, req *lockpb.LockServiceMultiTryAcquireRequest) (*lockpb.LockLease, *commonpb.Result) {
	b := s.backend(req.Scope)
	t := b.table()
	if req.RecoverOnly {
		// A rebind changes nothing, so it is answered from the state
		// without a log write. A lease past its expiry is gone even before
		// the tick that removes it.
		o := t.Recover(lockAcquireRequest(req), lockNowMs())
		if r := lockOutcomeResult(o); r != nil {
			return nil, r
		}
		return o.Lease, nil
	}
	arrival := lockNowMs()
	// A contended try changes nothing either: the leader's applied state,
	// which every acknowledged operation is in, answers it (the leader-
	// election follower's hot path costs no log write).
	if req.MaxWaitMs == 0 && t.Contended(lockAcquireRequest(req), arrival) {
		return nil, result.Fail(result.CodeExpired, lock.MsgContended)
	}
	// Subscribe before proposing, so a grant right after the queuing is
	// never missed.
	w := t.Watch(req.RequestId)
	defer w.Stop()
	o, r := b.acquire(ctx, req)
	if r != nil {
		return nil, r
	}
	if r := lockOutcomeResult(o); r != nil {
		return nil, r
	}
	if !o.Waiting {
		return o.Lease, nil
	}
	fallback := time.NewTimer(time.Duration(req.MaxWaitMs)*time.Millisecond + lockWaitSlack)
	defer fallback.Stop()
	for {
		st := t.Status(req.RequestId, o.Attempt)
		switch {
		case st.Lease != nil:
			st.Lease.WaitedMs = max(0, st.Lease.GrantedAtMs-arrival)
			return st.Lease, nil
		case st.TakenOver:
			return nil, result.Fail(result.CodeConflict, "another call with this request_id took over the wait")
		case !st.Waiting:
			return nil, result.Fail(result.CodeExpired, lock.MsgWaitedOut)
		}
		select {
		case <-w.C():
			_ = w.Wait(ctx) // returns at once: re-subscribes
		case <-fallback.C:
			b.cancel(req.RequestId, o.Attempt) // the tick did not end the wait in time
		case <-ctx.Done():
			b.cancel(req.RequestId, o.Attempt)
			return nil, FromError(ctx.Err())
		case <-s.d.Stopping:
			b.cancel(req.RequestId, o.Attempt)
			return nil, result.Fail(result.CodeUnavailable, "the server is stopping")
		}
	}
}

// TryAcquire implements lockpb.LockServiceServer.
func (s *LockService) TryAcquire(ctx context.Context, req *lockpb.LockServiceTryAcquireRequest) (*lockpb.LockServiceTryAcquireResponse, error) {
	m := &lockpb.LockServiceMultiTryAcquireRequest{Keys: []string{req.GetKey()}, Mode: req.GetMode(), Scope: req.GetScope(), RequestId: req.GetRequestId(), MaxWaitMs: req.GetMaxWaitMs(), LeaseTtlMs: req.GetLeaseTtlMs(), RecoverOnly: req.GetRecoverOnly(), Value: req.GetValue()}
	lease, r := s.acquireValid(ctx, m, false)
	return respond(&lockpb.LockServiceTryAcquireResponse{Result: result.OK(), Lease: lease}, r)
}

// MultiTryAcquire implements lockpb.LockServiceServer.
func (s *LockService) MultiTryAcquire(ctx context.Context, req *lockpb.LockServiceMultiTryAcquireRequest) (*lockpb.LockServiceMultiTryAcquireResponse, error) {
	lease, r := s.acquireValid(ctx, req, true)
	return respond(&lockpb.LockServiceMultiTryAcquireResponse{Result: result.OK(), Lease: lease}, r)
}

// acquireValid validates an acquisition (multi: of several keys) and runs
// it to its end (acquire); the lease names its scope.
func (s *LockService) acquireValid(ctx context.Context, req *lockpb.LockServiceMultiTryAcquireRequest, multi bool) (*lockpb.LockLease, *commonpb.Result) {
	if r := s.validateAcquire(req, multi); r != nil {
		return nil, r
	}
	lease, r := s.acquire(ctx, req)
	if r != nil {
		return nil, r
	}
	lease.Scope = lockScopeOf(req.Scope)
	return lease, nil
}

func lockScopeOf(s lockpb.LockScope) lockpb.LockScope {
	if s == lockpb.LockScope_LOCK_SCOPE_LOCAL {
		return s
	}
	return lockpb.LockScope_LOCK_SCOPE_QUORUM
}

// Acquire implements lockpb.LockServiceServer: the acquisition, then the
// lease's events until a terminal one.
func (s *LockService) Acquire(req *lockpb.LockServiceAcquireRequest, stream grpc.ServerStreamingServer[lockpb.LockServiceAcquireResponse]) error {
	m := &lockpb.LockServiceMultiTryAcquireRequest{Keys: []string{req.GetKey()}, Mode: req.GetMode(), Scope: req.GetScope(), RequestId: req.GetRequestId(), MaxWaitMs: req.GetMaxWaitMs(), LeaseTtlMs: req.GetLeaseTtlMs(), RecoverOnly: req.GetRecoverOnly(), Value: req.GetValue()}
	return s.acquireStream(stream, m, false, func(r *commonpb.Result, ev *lockpb.LockEvent) error {
		return stream.Send(&lockpb.LockServiceAcquireResponse{Result: r, Event: ev})
	})
}

// MultiAcquire implements lockpb.LockServiceServer.
func (s *LockService) MultiAcquire(req *lockpb.LockServiceMultiAcquireRequest, stream grpc.ServerStreamingServer[lockpb.LockServiceMultiAcquireResponse]) error {
	m := &lockpb.LockServiceMultiTryAcquireRequest{Keys: req.GetKeys(), Mode: req.GetMode(), Scope: req.GetScope(), RequestId: req.GetRequestId(), MaxWaitMs: req.GetMaxWaitMs(), LeaseTtlMs: req.GetLeaseTtlMs(), RecoverOnly: req.GetRecoverOnly(), Value: req.GetValue()}
	return s.acquireStream(stream, m, true, func(r *commonpb.Result, ev *lockpb.LockEvent) error {
		return stream.Send(&lockpb.LockServiceMultiAcquireResponse{Result: r, Event: ev})
	})
}

type lockSendFunc func(*commonpb.Result, *lockpb.LockEvent) error

func (s *LockService) acquireStream(ss grpc.ServerStream, req *lockpb.LockServiceMultiTryAcquireRequest, multi bool, send lockSendFunc) error {
	lease, r := s.acquireValid(ss.Context(), req, multi)
	if r != nil {
		return send(r, nil)
	}
	return s.follow(ss, s.backend(req.Scope).table(), lease, send)
}

// Watch implements lockpb.LockServiceServer.
func (s *LockService) Watch(req *lockpb.LockServiceWatchRequest, stream grpc.ServerStreamingServer[lockpb.LockServiceWatchResponse]) error {
	send := func(r *commonpb.Result, ev *lockpb.LockEvent) error {
		return stream.Send(&lockpb.LockServiceWatchResponse{Result: r, Event: ev})
	}
	var v Validator
	v.NonEmpty("lease_id", req.GetLeaseId())
	v.NonEmpty("request_id", req.GetRequestId())
	if r := readStart(stream.Context(), s.readDeps(strings.HasPrefix(req.GetLeaseId(), localLeasePrefix)), v.Result()); r != nil {
		return send(r, nil)
	}
	t := s.backendOf(req.GetLeaseId()).table()
	st, ok := t.LeaseState(req.GetLeaseId(), req.GetRequestId())
	switch {
	case !ok:
		return send(result.Fail(result.CodeLeaseExpired, "no live lease "+req.GetLeaseId()+" owned by this request_id"), nil)
	case st.Lease == nil && st.Ended == lockpb.LockEventType_LOCK_EVENT_TYPE_EXPIRED:
		return send(result.Fail(result.CodeLeaseExpired, "the lease has expired"), nil)
	case st.Lease == nil:
		return send(result.Fail(result.CodeNotOwner, "the lease has ended"), nil)
	}
	st.Lease.Recovered = true
	if strings.HasPrefix(req.GetLeaseId(), localLeasePrefix) {
		st.Lease.Scope = lockpb.LockScope_LOCK_SCOPE_LOCAL
	} else {
		st.Lease.Scope = lockpb.LockScope_LOCK_SCOPE_QUORUM
	}
	return s.follow(stream, t, st.Lease, send)
}

// follow sends GRANTED with lease, then one event per change of the lease
// until it ends (RELEASED, EXPIRED, REVOKED), the client goes away, or the
// server stops (then the stream fails Unavailable and the client rebinds).
// Between changes it waits without a goroutine when the stream can take
// its loop (park).
func (s *LockService) follow(ss grpc.ServerStream, t *lock.Table, lease *lockpb.LockLease, send lockSendFunc) error {
	w := t.Watch(lease.RequestId)
	if err := send(result.OK(), &lockpb.LockEvent{Type: lockpb.LockEventType_LOCK_EVENT_TYPE_GRANTED, Lease: lease, OccurredAtMs: lease.GrantedAtMs}); err != nil {
		w.Stop()
		return err
	}
	l := &lockFollowLoop{t: t, w: w, scope: lease.Scope, leaseID: lease.LeaseId, reqID: lease.RequestId, send: send}
	l.remember(lease)
	return park.Run(ss.Context(), ss, s.d.Stopping, l)
}

// lockFollowLoop is a lease's event stream after GRANTED, in steps. An
// idle one is what a held lock costs the server beside the lease itself,
// so it keeps the lease it last sent marshalled (the final event carries
// it), not as a message.
type lockFollowLoop struct {
	t              *lock.Table
	w              *notify.Waiter[string]
	scope          lockpb.LockScope
	leaseID, reqID string
	expiresAt      int64  // of the lease last sent
	last           []byte // the lease last sent, marshalled
	send           lockSendFunc
}

func (l *lockFollowLoop) remember(lease *lockpb.LockLease) {
	l.expiresAt = lease.GetLeaseExpiresAtMs()
	b, err := proto.Marshal(lease)
	if err != nil {
		b = nil // lastLease falls back to the ids
	}
	l.last = b
}

// lastLease is the lease last sent, for the event that ends the stream.
func (l *lockFollowLoop) lastLease() *lockpb.LockLease {
	lease := new(lockpb.LockLease)
	if proto.Unmarshal(l.last, lease) != nil || lease.LeaseId == "" {
		lease = &lockpb.LockLease{LeaseId: l.leaseID, RequestId: l.reqID, LeaseExpiresAtMs: l.expiresAt, Scope: l.scope}
	}
	return lease
}

func (l *lockFollowLoop) Step() (park.Waiter, error) {
	st, known := l.t.LeaseState(l.leaseID, l.reqID)
	switch {
	case !known || st.Lease == nil:
		typ := st.Ended
		if !known {
			typ = lockpb.LockEventType_LOCK_EVENT_TYPE_EXPIRED
		}
		return nil, l.send(result.OK(), &lockpb.LockEvent{Type: typ, Lease: l.lastLease(), OccurredAtMs: lockNowMs()})
	case st.Lease.LeaseExpiresAtMs != l.expiresAt:
		st.Lease.Scope = l.scope
		l.remember(st.Lease)
		if err := l.send(result.OK(), &lockpb.LockEvent{Type: lockpb.LockEventType_LOCK_EVENT_TYPE_RENEWED, Lease: st.Lease, OccurredAtMs: lockNowMs()}); err != nil {
			return nil, err
		}
	}
	return l.w, nil
}

func (l *lockFollowLoop) Stopping() error {
	return status.Error(codes.Unavailable, "the server is stopping; rebind")
}

func (l *lockFollowLoop) Close() { l.w.Stop() }

// Renew implements lockpb.LockServiceServer.
func (s *LockService) Renew(ctx context.Context, req *lockpb.LockServiceRenewRequest) (*lockpb.LockServiceRenewResponse, error) {
	var v Validator
	v.NonEmpty("lease_id", req.GetLeaseId())
	v.NonEmpty("request_id", req.GetRequestId())
	lockValidTTL(&v, req.GetLeaseTtlMs())
	if r := v.Result(); r != nil {
		return &lockpb.LockServiceRenewResponse{Result: r}, nil
	}
	lease, r := lockOutcome(s.backendOf(req.GetLeaseId()).renew(ctx, req))
	return respond(&lockpb.LockServiceRenewResponse{Result: result.OK(), Lease: lease}, r)
}

// Release implements lockpb.LockServiceServer.
func (s *LockService) Release(ctx context.Context, req *lockpb.LockServiceReleaseRequest) (*lockpb.LockServiceReleaseResponse, error) {
	var v Validator
	v.NonEmpty("lease_id", req.GetLeaseId())
	v.NonEmpty("request_id", req.GetRequestId())
	if r := v.Result(); r != nil {
		return &lockpb.LockServiceReleaseResponse{Result: r}, nil
	}
	_, r := lockOutcome(s.backendOf(req.GetLeaseId()).release(ctx, req))
	return respond(&lockpb.LockServiceReleaseResponse{Result: result.OK()}, r)
}

// Inspect implements lockpb.LockServiceServer.
func (s *LockService) Inspect(ctx context.Context, req *lockpb.LockServiceInspectRequest) (*lockpb.LockServiceInspectResponse, error) {
	var v Validator
	v.NonEmpty("key", req.GetKey())
	v.MaxLen("key", len(req.GetKey()), s.d.Limits.MaxKeyLen)
	v.Check(lockValidScope(req.GetScope()), "scope", "unknown scope")
	return read(ctx, s.readDeps(lockScopeOf(req.GetScope()) == lockpb.LockScope_LOCK_SCOPE_LOCAL), v.Result(), func() *lockpb.LockServiceInspectResponse {
		resp := s.backend(req.GetScope()).table().Inspect(req.GetKey())
		resp.Result = result.OK()
		return resp
	})
}

// List implements lockpb.LockServiceServer: the quorum-scope keys held or
// waited for.
func (s *LockService) List(ctx context.Context, req *lockpb.LockServiceListRequest) (*lockpb.LockServiceListResponse, error) {
	var v Validator
	v.MaxLen("prefix", len(req.GetPrefix()), s.d.Limits.MaxKeyLen)
	size := v.PageSize("page_size", req.GetPageSize(), defaultPageSize, maxPageSize)
	after := v.PageToken("page_token", ScopeLocks, req.GetPageToken())
	return read(ctx, s.d, v.Result(), func() *lockpb.LockServiceListResponse {
		keys, more := s.quorum.table().List(req.GetPrefix(), after, size)
		resp := &lockpb.LockServiceListResponse{Result: result.OK(), Keys: keys}
		if more && len(keys) > 0 {
			resp.NextPageToken = NextPageToken(ScopeLocks, keys[len(keys)-1].Key)
		}
		return resp
	})
}

// Revoke implements lockpb.LockServiceServer (quorum scope).
func (s *LockService) Revoke(ctx context.Context, req *lockpb.LockServiceRevokeRequest) (*lockpb.LockServiceRevokeResponse, error) {
	var v Validator
	v.NonEmpty("key", req.GetKey())
	v.MaxLen("key", len(req.GetKey()), s.d.Limits.MaxKeyLen)
	v.MaxLen("request_id", len(req.GetRequestId()), fsm.MaxRequestIDLen)
	return write[*lockpb.LockServiceRevokeResponse](ctx, s.d, lock.Name, lock.OpRevoke, req, v.Result())
}
