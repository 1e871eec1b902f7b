package waymaker

import (
	"context"

	"git.awesomike.com/pub/waymaker-client/go/lock"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Lock types of the published API, aliases of package lock's.
type (
	// Lock is a held lock; see lock.Lock.
	Lock = lock.Lock
	// LockConfig shapes one acquisition: MaxWait, LeaseTTL, Scope.
	LockConfig = lock.Config
	// LockScope is ScopeQuorum or ScopeLocal.
	LockScope = lock.Scope
	// LockMode is LockExclusive or LockShared.
	LockMode = lock.Mode
	// LockState is a snapshot of a Lock.
	LockState = lock.State
	// LockGrant is one key of a Lock with its fence token.
	LockGrant = lock.Grant
	// LockRenewal renews a Lock's lease in the background.
	LockRenewal = lock.Renewal
	// LockInfo describes one key as the server sees it.
	LockInfo = lock.Info
	// Fence is a held lock's key and fence token, which makes a write of
	// any subsystem conditional on the lock (Lock.Fence, kv.WithFence,
	// ...); see transport.Fence.
	Fence = transport.Fence
)

// Lock scopes and modes.
const (
	// ScopeQuorum: the grant and its fence token go through raft (default).
	ScopeQuorum = lock.ScopeQuorum
	// ScopeLocal: held in the granting node's memory only; see lock.ScopeLocal
	// for what it gives up.
	ScopeLocal = lock.ScopeLocal
	// LockExclusive excludes every other holder.
	LockExclusive = lock.Exclusive
	// LockShared shares a key with other shared holders.
	LockShared = lock.Shared
)

// AcquireLock takes key exclusively; see lock.Client.Acquire.
func (c *Client) AcquireLock(ctx context.Context, key string, cfg LockConfig) (*Lock, error) {
	return c.locks.Acquire(ctx, key, cfg)
}

// AcquireReadLock takes key shared; see lock.Client.AcquireRead.
func (c *Client) AcquireReadLock(ctx context.Context, key string, cfg LockConfig) (*Lock, error) {
	return c.locks.AcquireRead(ctx, key, cfg)
}

// MultiLock takes every key exclusively, or none; see lock.Client.MultiLock.
func (c *Client) MultiLock(ctx context.Context, keys []string, cfg LockConfig) (*Lock, error) {
	return c.locks.MultiLock(ctx, keys, cfg)
}
