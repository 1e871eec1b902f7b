package lock

import (
	"maps"
	"slices"
	"strings"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
)

// OpRevoke: payload LockServiceRevokeRequest; result
// *lockpb.LockServiceRevokeResponse.
const OpRevoke uint16 = 5

// List returns up to limit keys, in key order, that start with prefix and
// sort after after, each as Inspect answers it, and whether more follow.
// It sorts the table's keys on every call: an operator's listing, not a
// hot path.
func (t *Table) List(prefix, after string, limit int) ([]*lockpb.LockKeyState, bool) {
	t.mu.Lock()
	keys := slices.Sorted(maps.Keys(t.keys))
	t.mu.Unlock()
	var out []*lockpb.LockKeyState
	for _, k := range keys {
		if k <= after || !strings.HasPrefix(k, prefix) {
			continue
		}
		if len(out) == limit {
			return out, true
		}
		in := t.Inspect(k)
		out = append(out, &lockpb.LockKeyState{Key: k, Holders: in.Holders, Waiters: in.Waiters, LastFenceToken: in.LastFenceToken})
	}
	return out, false
}

// Revoke ends every lease holding key with event REVOKED (each lease ends
// whole, with every key it held) and grants the key to its next waiter. It
// returns how many leases it ended.
func (t *Table) Revoke(key string, atMs int64) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now(atMs)
	ks := t.keys[key]
	if ks == nil {
		return 0
	}
	holders := slices.Clone(ks.holders)
	for _, l := range holders {
		t.end(l, lockpb.LockEventType_LOCK_EVENT_TYPE_REVOKED, now)
	}
	return len(holders)
}
