package lock

import (
	"io"
	"os"
	"strconv"
	"testing"
	"time"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// countWriter keeps nothing and counts what it was given.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

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
	n := envInt("WAYMAKER_STALL_LOCKS", 100_000)
	m := New()
	for i := range n {
		o := m.Acquire(AcquireRequest{RequestID: "h" + strconv.Itoa(i), Keys: []string{"k" + strconv.Itoa(i)}, Mode: excl, TTLMs: 1 << 40, Value: "v"}, 1)
		if o.Code != "" {
			b.Fatal(o.Message)
		}
	}
	b.ResetTimer()
	seq := 0 // request ids never repeat: an ended one is remembered
	for range b.N {
		var cut, worst, write time.Duration
		var size int64
		done := make(chan error, 1)
		writing := false
		for i := 0; ; i++ {
			start := time.Now()
			if i == 1000 {
				w, err := m.Snapshot()
				if err != nil {
					b.Fatal(err)
				}
				cut = time.Since(start)
				writing = true
				go func(w func(io.Writer) error) {
					ws := time.Now()
					cw := &countWriter{}
					err := w(cw)
					write, size = time.Since(ws), cw.n
					done <- err
				}(w)
			}
			seq++
			o := m.Acquire(AcquireRequest{RequestID: "w" + strconv.Itoa(seq), Keys: []string{"w" + strconv.Itoa(i%1000)}, Mode: excl, TTLMs: 1000}, int64(2+seq))
			m.Release(o.Lease.LeaseId, o.Lease.RequestId, int64(2+seq))
			worst = max(worst, time.Since(start))
			if writing {
				select {
				case err := <-done:
					if err != nil {
						b.Fatal(err)
					}
					writing = false
				default:
				}
				if !writing {
					break
				}
			}
		}
		b.ReportMetric(float64(cut.Microseconds())/1000, "cut-ms")
		b.ReportMetric(float64(worst.Microseconds())/1000, "max-apply-ms")
		b.ReportMetric(write.Seconds(), "write-s")
		b.ReportMetric(float64(size)/(1<<20), "snapshot-MiB")
	}
}
