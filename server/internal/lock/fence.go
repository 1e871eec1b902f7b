package lock

import (
	"fmt"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

var _ fsm.Fencer = (*Machine)(nil)

// CheckFence implements fsm.Fencer: key must be held exclusively, at atMs,
// by a lease that has not expired and whose fence token for key is token.
// A lease past its expiry that no tick has removed yet does not pass: the
// holder's lease is over whatever the log has caught up with. It reads
// only; current is the token that would pass now (0: none). Once the
// leader decides expiry (checkpoint.go), a lease is live until its expiry
// command: the replicated expiry lags renewals answered from the leader's
// memory, and no one else can be granted the key before that command.
func (t *Table) CheckFence(key string, token uint64, atMs int64) (current uint64, refusal string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := max(atMs, t.clock)
	ks := t.keys[key]
	if ks == nil || len(ks.holders) == 0 {
		last := t.floor
		if ks != nil {
			last = ks.fence
		}
		if token > last {
			return 0, fmt.Sprintf("token %d of lock %q was never granted, and the lock is not held", token, key)
		}
		return 0, fmt.Sprintf("lock %q is not held (released or expired); token %d is stale", key, token)
	}
	h := ks.holders[0]
	if h.mode != lockpb.LockMode_LOCK_MODE_EXCLUSIVE {
		return 0, fmt.Sprintf("lock %q is held shared, not exclusively; a fence needs an exclusive lock", key)
	}
	var held uint64
	for i, k := range h.keys {
		if k == key {
			held = h.fences[i]
		}
	}
	if !t.leaderExpiry && h.expiresAt <= now {
		return 0, fmt.Sprintf("the lease holding lock %q with token %d has expired", key, held)
	}
	switch {
	case token < held:
		return held, fmt.Sprintf("token %d of lock %q is stale: the lock was granted again", token, key)
	case token > held:
		return held, fmt.Sprintf("token %d of lock %q was never granted", token, key)
	}
	return held, ""
}
