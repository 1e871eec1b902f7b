package lock

import (
	"strconv"
	"testing"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/snaptest"
)

// BenchmarkSnapshotStall measures how long a snapshot stalls the lock
// table's apply: a table holding WAYMAKER_STALL_LOCKS held locks (default
// 100,000) applies acquire/release pairs one after another; after the first
// thousand it takes a snapshot on the same goroutine, as raft does between
// two applies, and writes it on another while the pairs go on. Reported:
// the Snapshot call (the cut), the longest apply (cut included) until the
// write ends, and the write's duration and size.
//
//	cd server && WAYMAKER_STALL_LOCKS=100000 go test -run '^$' -bench SnapshotStall -benchtime 1x ./internal/lock/
func BenchmarkSnapshotStall(b *testing.B) {
	n := snaptest.EnvInt("WAYMAKER_STALL_LOCKS", 100_000)
	m := New()
	for i := range n {
		o := m.Acquire(AcquireRequest{RequestID: "h" + strconv.Itoa(i), Keys: []string{"k" + strconv.Itoa(i)}, Mode: excl, TTLMs: 1 << 40, Value: "v"}, 1)
		if o.Code != "" {
			b.Fatal(o.Message)
		}
	}
	b.ResetTimer()
	seq := 0 // request ids never repeat: an ended one is remembered
	snaptest.Stall(b, m.Snapshot, func(i int) {
		seq++
		o := m.Acquire(AcquireRequest{RequestID: "w" + strconv.Itoa(seq), Keys: []string{"w" + strconv.Itoa(i%1000)}, Mode: excl, TTLMs: 1000}, int64(2+seq))
		m.Release(o.Lease.LeaseId, o.Lease.RequestId, int64(2+seq))
	})
}
