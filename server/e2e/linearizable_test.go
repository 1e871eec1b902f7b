package e2e

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// The KV history model: each key is a register with the revision of its
// latest write. Revisions are per bucket, so across keys only their order
// is known; for one key, a read must see exactly the latest write's value
// and revision.

type kvOpKind int

const (
	opGet kvOpKind = iota
	opPut
	opUpdate
)

type kvIn struct {
	kind    kvOpKind
	key     string
	value   string
	lastRev uint64 // Update's precondition
}

type kvOut struct {
	unknown  bool // the outcome of a write is not known (its reply never came)
	notFound bool // Get: no live value
	wrongRev bool // Update: refused with wrong_revision
	value    string
	rev      uint64
}

// kvReg is one key's state. rev 0 with exists means "written by a write
// whose revision is unknown": the next read fixes it.
type kvReg struct {
	exists bool
	value  string
	rev    uint64
}

var kvModel = porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(kvIn).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []any { return []any{kvReg{}} },
	Step: func(state, input, output any) []any {
		st, in, out := state.(kvReg), input.(kvIn), output.(kvOut)
		written := func(rev uint64) kvReg { return kvReg{exists: true, value: in.value, rev: rev} }
		switch in.kind {
		case opGet:
			if out.notFound {
				if !st.exists {
					return []any{st}
				}
				return nil
			}
			if st.exists && st.value == out.value && (st.rev == 0 || st.rev == out.rev) {
				return []any{kvReg{exists: true, value: out.value, rev: out.rev}}
			}
			return nil
		case opPut:
			if out.unknown {
				// Applied here; "never applied" is the linearization at the
				// end, which the checker finds on its own.
				return []any{written(0)}
			}
			if st.rev == 0 || out.rev > st.rev {
				return []any{written(out.rev)}
			}
			return nil
		default: // opUpdate
			matches := st.rev == in.lastRev || (in.lastRev == 0 && !st.exists)
			revKnown := st.rev != 0 || !st.exists
			switch {
			case out.unknown:
				if revKnown && !matches {
					return []any{st} // it can only have been refused
				}
				if revKnown {
					return []any{written(0)}
				}
				return []any{st, written(0)}
			case out.wrongRev:
				if revKnown && matches {
					return nil
				}
				return []any{st}
			default:
				if revKnown && !matches {
					return nil
				}
				if out.rev <= in.lastRev {
					return nil
				}
				return []any{written(out.rev)}
			}
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvIn), output.(kvOut)
		res := fmt.Sprintf("%q@%d", out.value, out.rev)
		switch {
		case out.unknown:
			res = "unknown"
		case out.notFound:
			res = "not found"
		case out.wrongRev:
			res = "wrong revision"
		}
		switch in.kind {
		case opGet:
			return fmt.Sprintf("get(%s) → %s", in.key, res)
		case opPut:
			return fmt.Sprintf("put(%s, %q) → %s", in.key, in.value, res)
		}
		return fmt.Sprintf("update(%s, %q, last %d) → %s", in.key, in.value, in.lastRev, res)
	},
}

// TestKVLinearizableUnderAbruptRestarts runs 8 clients doing Get, Put and
// Update on three keys while the server is stopped abruptly (in-flight
// calls cut off after a millisecond, as in a crash) and restarted on its
// data dir, and checks the history with porcupine. A write whose reply
// never came is modelled as unknown: it may or may not have been applied,
// at any point after it was called.
func TestKVLinearizableUnderAbruptRestarts(t *testing.T) {
	const (
		restarts = 3
		phase    = 400 * time.Millisecond // load between restarts
	)
	srv := waymakertest.Start(t, withSuite(t, waymakertest.WithTempDataDir(), waymakertest.WithAbruptStop())...)
	var clients []*waymaker.Client
	for range 8 {
		clients = append(clients, connect(t, srv.Addr()))
	}
	load := startKVLoad(t, clients)
	for range restarts {
		load.wait(t, 200, phase, "before a restart")
		srv.Restart()
	}
	load.wait(t, 200, phase, "after the last restart")
	load.check(t, fmt.Sprintf("%d abrupt restarts", restarts))
}

// kvLoad is a porcupine-checked KV load: one goroutine per client doing
// Get, Put and Update on three keys of one bucket.
type kvLoad struct {
	start   time.Time
	mu      sync.Mutex
	history []porcupine.Operation
	stop    atomic.Bool
	wg      sync.WaitGroup
	ops     opCounter
	errs    map[string]int // why writes ended unknown, by message
	// readErrs counts why reads failed (left out of the history).
	readErrs map[string]int
	// describe, when set, tells the state of the servers when the load
	// stalls.
	describe func() string
}

// startKVLoad creates the bucket through clients[0] and starts the load.
// The load runs until check, or until the test ends; nothing else bounds
// it as a whole. Each operation has its own deadline and each phase its
// stall bound (wait), which is what fails a load that stopped making
// progress. (A two-minute bound on the whole load, which the cluster test
// outlives on a loaded machine, made every later write fail at once with
// DeadlineExceeded, as an unknown outcome: tens of thousands of them, and
// porcupine gave up on the history.)
func startKVLoad(t *testing.T, clients []*waymaker.Client) *kvLoad {
	t.Helper()
	const bucket = "lin"
	if _, err := clients[0].KeyValue().Create(testCtx(t, time.Minute), kv.Config{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	l := &kvLoad{start: time.Now(), errs: map[string]int{}, readErrs: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { // after check, or after a failure that left the load running
		l.stop.Store(true)
		cancel()
		l.wg.Wait()
	})
	for c, cl := range clients {
		l.wg.Add(1)
		go l.run(ctx, c, cl.KeyValue().Bucket(bucket))
	}
	return l
}

func (l *kvLoad) failed(err error) {
	if err == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs[err.Error()]++
}

func (l *kvLoad) now() int64 { return int64(time.Since(l.start)) }

func (l *kvLoad) record(client int, in kvIn, call int64, out kvOut) {
	ret := l.now()
	if out.unknown {
		ret = math.MaxInt64 // may take effect any time after its call
	}
	l.mu.Lock()
	l.history = append(l.history, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	l.mu.Unlock()
	l.ops.add()
}

func (l *kvLoad) run(ctx context.Context, c int, b *kv.Bucket) {
	defer l.wg.Done()
	keys := []string{"a", "b", "c"}
	rng := rand.New(rand.NewPCG(uint64(c), 42))
	seen := map[string]uint64{}
	for i := 0; !l.stop.Load() && ctx.Err() == nil; i++ {
		key := keys[rng.IntN(len(keys))]
		in := kvIn{key: key, value: fmt.Sprintf("c%d-%d", c, i)}
		opCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
		call := l.now()
		switch p := rng.IntN(10); {
		case p < 4:
			in.kind = opGet
			e, err := b.Get(opCtx, key)
			switch {
			case errors.Is(err, waymaker.ErrNotFound):
				l.record(c, in, call, kvOut{notFound: true})
			case err == nil:
				seen[key] = e.Revision
				l.record(c, in, call, kvOut{value: string(e.Value), rev: e.Revision})
			default:
				l.mu.Lock()
				l.readErrs[err.Error()]++
				l.mu.Unlock()
			}
			// A failed read has no effect: it is left out.
		case p < 7:
			in.kind = opPut
			rev, err := b.Put(opCtx, key, []byte(in.value))
			l.failed(err)
			l.record(c, in, call, kvOut{unknown: err != nil, rev: rev, value: in.value})
		default:
			in.kind, in.lastRev = opUpdate, seen[key]
			rev, err := b.Update(opCtx, key, []byte(in.value), in.lastRev)
			switch {
			case errors.Is(err, waymaker.ErrWrongRevision):
				l.record(c, in, call, kvOut{wrongRev: true})
			default:
				l.failed(err)
				l.record(c, in, call, kvOut{unknown: err != nil, rev: rev, value: in.value})
			}
		}
		cancel()
	}
}

// check stops the load and checks its history; what names the faults.
func (l *kvLoad) check(t *testing.T, what string) {
	t.Helper()
	l.stop.Store(true)
	l.wg.Wait()
	unknown := 0
	for _, op := range l.history {
		if op.Output.(kvOut).unknown {
			unknown++
		}
	}
	t.Logf("%d operations, %d with unknown outcome, %s", len(l.history), unknown, what)
	for msg, n := range l.errs {
		t.Logf("%d writes ended unknown with: %s", n, msg)
	}
	res, info := porcupine.CheckOperationsVerbose(kvModel.ToModel(), l.history, time.Minute)
	if res != porcupine.Ok {
		path := t.TempDir() + "/history.html"
		if err := porcupine.VisualizePath(kvModel.ToModel(), info, path); err == nil {
			t.Logf("history visualised in %s", path)
		}
		t.Fatalf("KV history under %s is %v, want linearizable", what, res)
	}
}

// opCounter counts completed operations and tells when more have.
type opCounter struct {
	mu   sync.Mutex
	n    int64
	want int64
	done chan struct{}
}

func (c *opCounter) add() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if c.done != nil && c.n >= c.want {
		close(c.done)
		c.done = nil
	}
}

func (c *opCounter) count() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// stallAfter is how long a phase may take to complete its operations
// before the load counts as stalled. It is generous: on this 2-core
// machine, with the race detector and other packages' tests running
// alongside, 1,500 operations have taken up to 27 s with no fault at all.
const stallAfter = time.Minute

// wait lets the load run for at least d and until k more operations
// completed, so every phase between restarts has load in it. It reports
// false when fewer than k complete within stallAfter.
func (c *opCounter) wait(k int64, d time.Duration) bool {
	c.mu.Lock()
	c.want, c.done = c.n+k, make(chan struct{})
	done := c.done
	c.mu.Unlock()
	<-time.After(d) // the phase's length of load, not a synchronisation
	select {
	case <-done:
		return true
	case <-time.After(stallAfter):
		return false
	}
}

// wait is opCounter.wait for the load, failing the test with what the
// load met when fewer than k operations complete within stallAfter; phase names
// the fault in effect.
func (l *kvLoad) wait(t *testing.T, k int64, d time.Duration, phase string) {
	t.Helper()
	start := time.Now()
	if l.ops.wait(k, d) {
		if took := time.Since(start); took > 5*time.Second {
			t.Logf("%d operations took %v (%s)", k, took.Round(time.Millisecond), phase)
		}
		return
	}
	l.mu.Lock()
	msg := fmt.Sprintf("fewer than %d operations completed within %v (%s)", k, stallAfter, phase)
	for m, n := range l.errs {
		msg += fmt.Sprintf("\n\t%d writes failed with: %s", n, m)
	}
	for m, n := range l.readErrs {
		msg += fmt.Sprintf("\n\t%d reads failed with: %s", n, m)
	}
	l.mu.Unlock()
	if l.describe != nil {
		msg += "\n\t" + l.describe()
	}
	t.Fatal(msg)
}
