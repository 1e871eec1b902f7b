package lock

import (
	"context"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Client is the lock client. It is cheap to create and safe for
// concurrent use; it shares the Conn's connection, retries and lifetime.
type Client struct {
	conn *transport.Conn
	rpc  lockpb.LockServiceClient
}

// New returns a lock client on conn. It touches no network.
func New(conn *transport.Conn) *Client {
	return &Client{conn: conn, rpc: lockpb.NewLockServiceClient(conn)}
}

// waitGrace is added to MaxWait to bound an acquisition call whose context
// has no deadline: long enough for the server to answer "expired" itself,
// short enough that a vanished server cannot hang the caller.
const waitGrace = 10 * time.Second

// Acquire takes key exclusively. With cfg.MaxWait == 0 it tries once and a
// held key fails with a server error of code "expired"
// (transport.IsServerCode(err, "expired")); with MaxWait > 0 it waits in
// FIFO order. The returned Lock follows its lease in the background until
// Unlock, loss, or Close of the connection.
func (c *Client) Acquire(ctx context.Context, key string, cfg Config) (*Lock, error) {
	if err := validateKey("key", key); err != nil {
		return nil, err
	}
	return c.acquire(ctx, key, nil, Exclusive, cfg, nil)
}

// AcquireRead takes key shared: any number of readers hold it together, and
// no writer while they do. A reader that arrives while a writer waits queues
// behind that writer.
func (c *Client) AcquireRead(ctx context.Context, key string, cfg Config) (*Lock, error) {
	if err := validateKey("key", key); err != nil {
		return nil, err
	}
	return c.acquire(ctx, key, nil, Shared, cfg, nil)
}

// MultiLock takes every key exclusively, or none, under one lease. The
// server grants the whole set at once, so overlapping MultiLocks in any key
// order cannot deadlock. The Lock's Grants give each key's fence token;
// FenceToken is the first key's.
func (c *Client) MultiLock(ctx context.Context, keys []string, cfg Config) (*Lock, error) {
	if err := validateKeys(keys); err != nil {
		return nil, err
	}
	return c.acquire(ctx, "", append([]string(nil), keys...), Exclusive, cfg, nil)
}

// acquire takes keys (a MultiLock), or key alone when keys is nil; the
// grant carries value (an election candidate's).
func (c *Client) acquire(ctx context.Context, key string, keys []string, mode Mode, cfg Config, value []byte) (*Lock, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ttl := cfg.ttl()
	l := c.newLock(key, keys, mode, cfg.Scope, ttl)
	waitUntil := time.Now().Add(cfg.MaxWait)
	if cfg.MaxWait > 0 {
		if d, ok := ctx.Deadline(); !ok || d.After(waitUntil.Add(waitGrace)) {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, waitUntil.Add(waitGrace))
			defer cancel()
		}
	}
	remaining := func() int64 {
		if cfg.MaxWait == 0 {
			return 0
		}
		return max(0, time.Until(waitUntil).Milliseconds())
	}
	// A retry reuses the request id, so it takes over its own waiter's place
	// or recovers a grant whose answer was lost; never a second grant.
	var first, sent time.Time
	stamp := func() {
		sent = time.Now()
		if first.IsZero() {
			first = sent
		}
	}
	var lease *lockpb.LockLease
	want := 1 // grants: one per key
	if keys != nil {
		want = len(keys)
		req := &lockpb.LockServiceMultiTryAcquireRequest{Keys: keys, Mode: mode.pb(), Scope: cfg.Scope.pb(), RequestId: l.requestID, LeaseTtlMs: ttl.Milliseconds(), Value: value}
		resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*lockpb.LockServiceMultiTryAcquireResponse, error) {
			stamp()
			req.MaxWaitMs = remaining()
			return c.rpc.MultiTryAcquire(ctx, req)
		})
		if err != nil {
			return nil, err
		}
		lease = resp.GetLease()
	} else {
		req := &lockpb.LockServiceTryAcquireRequest{Key: key, Mode: mode.pb(), Scope: cfg.Scope.pb(), RequestId: l.requestID, LeaseTtlMs: ttl.Milliseconds(), Value: value}
		resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*lockpb.LockServiceTryAcquireResponse, error) {
			stamp()
			req.MaxWaitMs = remaining()
			return c.rpc.TryAcquire(ctx, req)
		})
		if err != nil {
			return nil, err
		}
		lease = resp.GetLease()
	}
	if len(lease.GetGrants()) != want {
		return nil, &transport.Error{Kind: transport.KindServer, Code: transport.CodeInternal, Message: "grant does not cover the requested keys"}
	}
	// The lease surely lives until ttl after the grant, and the grant came
	// no earlier than the server's waited_ms after we sent the request. A
	// recovered answer means an earlier attempt was granted, so count from
	// the first send.
	granted := sent.Add(time.Duration(lease.GetWaitedMs()) * time.Millisecond)
	if lease.GetRecovered() {
		granted = first
	}
	l.start(lease, granted.Add(ttl))
	return l, nil
}

// Info describes one key as the server sees it.
type Info struct {
	// Holders are the grants holding the key now: one Exclusive, or any
	// number of Shared.
	Holders []Holder
	// Waiters is the number of acquisitions waiting for the key.
	Waiters int64
	// LastFenceToken is the last fence token granted for the key, or for a
	// key nobody holds or waits for, a bound at least that high: the next
	// grant is higher.
	LastFenceToken uint64
}

// Holder is one lease holding a key.
type Holder struct {
	// LeaseID names the lease.
	LeaseID string
	// Mode is how the key is held.
	Mode Mode
	// FenceToken is this grant's token.
	FenceToken uint64
	// LeaseExpiresAtMs is when the lease expires unless renewed (epoch ms).
	LeaseExpiresAtMs int64
	// Value is what the acquisition carried (an Election candidate's
	// value); nil for a plain lock.
	Value []byte
}

// Inspect reports who holds key in scope and how many wait for it. It is a
// read for tools and tests; it takes nothing.
func (c *Client) Inspect(ctx context.Context, key string, scope Scope) (Info, error) {
	if err := validateKey("key", key); err != nil {
		return Info{}, err
	}
	if scope != ScopeQuorum && scope != ScopeLocal {
		return Info{}, transport.Invalid("scope", "must be ScopeQuorum or ScopeLocal, got %d", int(scope))
	}
	req := &lockpb.LockServiceInspectRequest{Key: key, Scope: scope.pb()}
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*lockpb.LockServiceInspectResponse, error) {
		return c.rpc.Inspect(ctx, req)
	})
	if err != nil {
		return Info{}, err
	}
	return infoOf(resp.GetHolders(), resp.GetWaiters(), resp.GetLastFenceToken()), nil
}

func infoOf(holders []*lockpb.LockLease, waiters int64, last uint64) Info {
	info := Info{Waiters: waiters, LastFenceToken: last}
	for _, h := range holders {
		for _, g := range h.GetGrants() {
			info.Holders = append(info.Holders, Holder{LeaseID: h.GetLeaseId(), Mode: modeOf(g.GetMode()), FenceToken: g.GetFenceToken(), LeaseExpiresAtMs: h.GetLeaseExpiresAtMs(), Value: h.GetValue()})
		}
	}
	return info
}
