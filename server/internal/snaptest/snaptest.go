// Package snaptest is test support for the state machines' snapshots
// (internal/collections, internal/lock): writing a snapshot while the
// state goes on changing, and the benchmark of how long a snapshot stalls
// apply. Only tests and benchmarks import it; it is no part of the server.
package snaptest

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// EnvInt is the positive whole number in the environment variable name,
// or def when it is unset, not a number, or not above zero.
func EnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// Write runs the snapshot writer w into memory and returns what it wrote;
// an error from w fails t at once.
func Write(t testing.TB, w func(io.Writer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := w(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// WriteAround returns what the snapshot writer w writes, with churn run on
// the calling goroutine: while w writes on another goroutine when
// concurrent is true, before w writes when it is false. An error from w
// fails t (marked failed from the writing goroutine, when concurrent).
func WriteAround(t testing.TB, w func(io.Writer) error, concurrent bool, churn func()) []byte {
	t.Helper()
	if !concurrent {
		churn()
		return Write(t, w)
	}
	var got []byte
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var b bytes.Buffer
		if err := w(&b); err != nil {
			t.Error(err)
		}
		got = b.Bytes()
	}()
	churn()
	wg.Wait()
	return got
}

// countWriter keeps nothing and counts what it was given.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// Stall is the body of a snapshot-stall benchmark, run b.N times: it calls
// apply(0), apply(1), ... one after another; just before apply(1000) it
// takes a snapshot on the same goroutine, as raft does between two
// applies, and writes it (counting, not keeping, the bytes) on another
// goroutine while the applies go on, until the write has ended. Reported
// each round: the snapshot call (cut-ms), the longest apply, cut included,
// until the write ends (max-apply-ms), and the write's duration (write-s)
// and size (snapshot-MiB). An error from snapshot or the write fails b.
func Stall(b *testing.B, snapshot func() (func(io.Writer) error, error), apply func(i int)) {
	b.Helper()
	for range b.N {
		var cut, worst, write time.Duration
		var size int64
		done := make(chan error, 1)
		writing := false
		for i := 0; ; i++ {
			start := time.Now()
			if i == 1000 {
				w, err := snapshot()
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
			apply(i)
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
