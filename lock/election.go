package lock

import (
	"context"
	"errors"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// MaxValueLen is the most bytes a candidate's value may have.
const MaxValueLen = 4096

// ErrNoLeader is returned by Election.Leader when nobody leads.
var ErrNoLeader = errors.New("waymaker: the election has no leader")

// ElectionConfig shapes an Election. The zero value is a 30-second lease
// renewed every 10 seconds.
type ElectionConfig struct {
	// LeaseTTL is how long a leader that stopped renewing (crashed, paused,
	// cut off) keeps leadership; 0 means DefaultLeaseTTL, otherwise
	// between MinLeaseTTL and MaxLeaseTTL.
	LeaseTTL time.Duration
	// RenewEvery is how often a leader renews its lease; 0 means a third
	// of LeaseTTL. It must be below LeaseTTL.
	RenewEvery time.Duration
}

// Election is a leader election on one lock key, built on the lock API
// alone: a candidate's Campaign waits in FIFO order for the key and
// returns its Leadership, which carries the fence of its term and is lost
// exactly as a Lock is; Observe follows every change of leader from the
// server's replicated record of the key's holders.
//
// It is safe for concurrent use. Campaigns of one Election are separate
// candidates; Resign resigns the latest one that won.
type Election struct {
	c   *Client
	key string
	cfg ElectionConfig

	mu      sync.Mutex
	current *Leadership
}

// Election returns the election on key. It touches no network.
func (c *Client) Election(key string, cfg ElectionConfig) (*Election, error) {
	if err := validateKey("key", key); err != nil {
		return nil, err
	}
	if err := (Config{LeaseTTL: cfg.LeaseTTL}).validate(); err != nil {
		return nil, err
	}
	ttl := Config{LeaseTTL: cfg.LeaseTTL}.ttl()
	cfg.LeaseTTL = ttl
	switch {
	case cfg.RenewEvery < 0 || cfg.RenewEvery >= ttl:
		return nil, transport.Invalid("RenewEvery", "must be 0 (a third of LeaseTTL) or positive and below LeaseTTL %v, got %v", ttl, cfg.RenewEvery)
	case cfg.RenewEvery == 0:
		cfg.RenewEvery = ttl / 3
	}
	return &Election{c: c, key: key, cfg: cfg}, nil
}

// Key returns the election's lock key.
func (e *Election) Key() string { return e.key }

// Leadership is one candidate's term as leader: a held Lock on the
// election's key (its Fence, Watch, IsLost, Done and Err are the Lock's),
// renewed in the background until Resign or loss. Pass Fence() to every
// write the leader makes (kv.WithFence and the others): the server refuses
// it once the term is over, even from a leader that does not know yet.
type Leadership struct {
	*Lock
	value   []byte
	renewal *Renewal
}

// Value returns the value the candidate campaigned with.
func (l *Leadership) Value() []byte { return append([]byte(nil), l.value...) }

// Resign ends the term: it stops the renewal and releases the key, so the
// next candidate in line leads at once. As Unlock, it is idempotent for a
// held term and never succeeds silently for a lost one.
func (l *Leadership) Resign(ctx context.Context) error {
	l.renewal.Stop()
	return l.Unlock(ctx)
}

// Campaign runs value as a candidate: it waits, in FIFO order behind the
// candidates that campaigned before it, until it leads or ctx ends (then
// its place in line is given up), and returns its Leadership. value (at
// most MaxValueLen bytes, e.g. the candidate's name or address) is what
// Leader and Observe report for this term.
func (e *Election) Campaign(ctx context.Context, value []byte) (*Leadership, error) {
	if len(value) > MaxValueLen {
		return nil, transport.Invalid("value", "is %d bytes, limit %d", len(value), MaxValueLen)
	}
	value = append([]byte(nil), value...)
	for {
		wait := MaxMaxWait
		if d, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(d).Truncate(time.Millisecond))
		}
		if err := ctx.Err(); err != nil {
			return nil, transport.MapError(ctx, err)
		}
		if wait <= 0 {
			return nil, transport.MapError(ctx, context.DeadlineExceeded)
		}
		l, err := e.c.acquire(ctx, e.key, nil, Exclusive, Config{MaxWait: wait, LeaseTTL: e.cfg.LeaseTTL}, value)
		if transport.IsServerCode(err, transport.CodeExpired) && ctx.Err() == nil {
			continue // waited MaxMaxWait: queue again
		}
		if err != nil {
			return nil, err
		}
		lead := &Leadership{Lock: l, value: value, renewal: l.SpawnRenewal(e.cfg.RenewEvery)}
		e.mu.Lock()
		e.current = lead
		e.mu.Unlock()
		return lead, nil
	}
}

// Resign resigns the latest Leadership this Election's Campaign won, if
// it still holds; it returns nil when there is none.
func (e *Election) Resign(ctx context.Context) error {
	e.mu.Lock()
	lead := e.current
	e.current = nil
	e.mu.Unlock()
	if lead == nil {
		return nil
	}
	return lead.Resign(ctx)
}

// Leader is one term of an election as the server recorded it.
type Leader struct {
	// Value is what the leader campaigned with.
	Value []byte
	// Fence is the term's fence: the election's key and the leader's
	// token, which strictly increases from term to term.
	Fence transport.Fence
	// LeaseID names the leader's lease.
	LeaseID string
	// Revision is the holder revision at which this term began (Observe),
	// or of the key's latest change when it was read (Leader).
	Revision uint64
}

// Leader returns the current leader, read linearizably (on any node, it is
// never older than a leader an Observe already delivered), or ErrNoLeader.
func (e *Election) Leader(ctx context.Context) (Leader, error) {
	req := &lockpb.LockServiceInspectRequest{Key: e.key, Scope: lockpb.LockScope_LOCK_SCOPE_QUORUM}
	resp, err := transport.Call(ctx, e.c.conn, transport.Idempotent, func(ctx context.Context) (*lockpb.LockServiceInspectResponse, error) {
		return e.c.rpc.Inspect(ctx, req)
	})
	if err != nil {
		return Leader{}, err
	}
	if ld, ok := leaderOf(e.key, resp.GetHolders(), resp.GetHolderRevision()); ok {
		return ld, nil
	}
	return Leader{}, ErrNoLeader
}

// leaderOf is the exclusive holder among holders, as a Leader at rev.
func leaderOf(key string, holders []*lockpb.LockLease, rev uint64) (Leader, bool) {
	for _, h := range holders {
		for _, g := range h.GetGrants() {
			if g.GetKey() == key && g.GetMode() != lockpb.LockMode_LOCK_MODE_SHARED {
				return Leader{Value: h.GetValue(), Fence: transport.Fence{Key: key, Token: g.GetFenceToken()}, LeaseID: h.GetLeaseId(), Revision: rev}, true
			}
		}
	}
	return Leader{}, false
}

// LeaderChange is one change of an election's leadership.
type LeaderChange struct {
	// Revision is the change's holder revision: it strictly increases from
	// change to change, and ObserveFrom resumes after it.
	Revision uint64
	// Leader is the leader from this change on; zero when Vacant.
	Leader Leader
	// Vacant is true when the leader's term ended (resigned, expired,
	// revoked) and nobody has taken over yet.
	Vacant bool
}

// observeBuffer is how many changes an Observer holds for a slow reader.
const observeBuffer = 16

// Observer delivers an election's leadership changes, each exactly once
// and in the order the server applied them, so it never delivers a leader
// older than one it already delivered. When its stream drops (server
// restart, failover, network) it resumes on any node after the last
// revision it delivered; if the server no longer keeps the changes after
// it, the Observer ends with an error matching transport.ErrCompacted,
// never with a gap. It ends as every SDK iterator does (see the transport
// package doc, # Iterators). Call Stop when done.
type Observer struct {
	p   *transport.Pump[LeaderChange]
	rev atomic.Uint64
}

// Observe follows the election: the first change delivered is the
// leadership now (a Leader, or Vacant), then every change after it. It
// returns once the server has answered.
func (e *Election) Observe(ctx context.Context) (*Observer, error) {
	return e.observe(ctx, 0, false)
}

// ObserveFrom follows the election from after revision rev (a
// LeaderChange's Revision or Observer.Revision of an earlier Observe):
// every change after it, or an error matching transport.ErrCompacted when
// the server no longer keeps them all.
func (e *Election) ObserveFrom(ctx context.Context, rev uint64) (*Observer, error) {
	return e.observe(ctx, rev, true)
}

func (e *Election) observe(ctx context.Context, from uint64, resume bool) (*Observer, error) {
	o := &Observer{}
	o.rev.Store(from)
	var lastFence uint64 // of the last leader delivered
	open := func(ctx context.Context) (transport.Receiver[lockpb.LockServiceObserveResponse], error) {
		req := &lockpb.LockServiceObserveRequest{Key: e.key, Resume: resume, AfterRevision: o.rev.Load()}
		return e.c.rpc.Observe(ctx, req)
	}
	emit1 := func(emit func(LeaderChange) error, ch LeaderChange) error {
		// The resume point moves before the change is handed on, so a caller
		// that has it from Next also sees it in Revision. A rebind cannot
		// skip it: emit fails only when the pump is ending, and then nothing
		// rebinds.
		o.rev.Store(ch.Revision)
		resume = true
		return emit(ch)
	}
	handle := func(m *lockpb.LockServiceObserveResponse, emit func(LeaderChange) error) error {
		if err := transport.ServerError(m.GetResult()); err != nil {
			return err
		}
		if m.GetInitial() {
			ld, ok := leaderOf(e.key, m.GetHolders(), m.GetRevision())
			if ok {
				lastFence = ld.Fence.Token
				return emit1(emit, LeaderChange{Revision: m.GetRevision(), Leader: ld})
			}
			return emit1(emit, LeaderChange{Revision: m.GetRevision(), Vacant: true})
		}
		c := m.GetChange()
		if c == nil || c.GetRevision() <= o.rev.Load() {
			return nil // already delivered before a rebind
		}
		var ch LeaderChange
		switch {
		case c.GetMode() == lockpb.LockMode_LOCK_MODE_SHARED:
			// Not a leader: an election's candidates hold the key exclusively.
		case c.GetType() == lockpb.LockEventType_LOCK_EVENT_TYPE_GRANTED && c.GetFenceToken() > lastFence:
			lastFence = c.GetFenceToken()
			ch.Leader = Leader{Value: c.GetValue(), Fence: transport.Fence{Key: e.key, Token: c.GetFenceToken()}, LeaseID: c.GetLeaseId(), Revision: c.GetRevision()}
		case c.GetType() != lockpb.LockEventType_LOCK_EVENT_TYPE_GRANTED:
			// One exclusive holder at a time: this is the leader's term
			// ending (also when an ObserveFrom has not seen it begin).
			ch.Vacant = true
		}
		if ch.Vacant || ch.Leader.Fence.Token != 0 {
			ch.Revision = c.GetRevision()
			return emit1(emit, ch)
		}
		o.rev.Store(c.GetRevision())
		return nil
	}
	p, err := transport.StartPump(ctx, e.c.conn, transport.PumpConfig{Buffer: observeBuffer, AwaitFirst: true}, open, handle)
	if err != nil {
		return nil, err
	}
	o.p = p
	return o, nil
}

// Next returns the next change. After the Observer has ended it returns
// the zero LeaderChange and why: io.EOF after Stop, the context's error,
// ErrClosed, ErrCompacted.
func (o *Observer) Next() (LeaderChange, error) { return o.p.Next() }

// Revision is the resume point: every change up to this holder revision
// has been handed to Next's caller, or is buffered for it. Once Next has
// returned a change, Revision is at least that change's revision.
func (o *Observer) Revision() uint64 { return o.rev.Load() }

// Stop ends the Observer and waits for its stream to close. Safe to call
// more than once and from any goroutine.
func (o *Observer) Stop() { o.p.Stop() }

// All ranges over the changes until the Observer ends; breaking out of the
// loop stops it. An error that ended it (other than io.EOF) is yielded
// once, last.
func (o *Observer) All() iter.Seq2[LeaderChange, error] { return o.p.All() }
