package raftnode

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

// Group commit.
//
// Proposals do not call raft one by one. Each joins a queue; one committer
// goroutine takes everything queued at once and proposes it as one raft
// log entry (an fsm batch, or the command itself when it is alone), and
// one resolver goroutine waits for each entry's future, in log order, and
// hands every proposal its own answer. Nothing waits on a timer: a
// proposal that finds the committer idle goes at once, and the ones that
// arrive while an entry is being appended (an fsync on a data dir, a
// round trip to the followers in a cluster) travel together in the next.
// So c=16 costs a few entries, not sixteen, and a caller waits on its own
// channel: no goroutine per call.
const (
	// maxBatchCommands and maxBatchBytes bound one entry, so followers
	// receive it in one AppendEntries and apply it in one short step. A
	// command larger than maxBatchBytes goes alone.
	maxBatchCommands = 256
	maxBatchBytes    = 1 << 20
	// maxInflight bounds the entries proposed and not yet applied. While
	// they are in flight the queue fills, which is what makes the next
	// entry a group.
	maxInflight = 4
)

// proposal is one Propose call waiting for its answer. done has room for
// the one answer, so the resolver never blocks on a caller that gave up.
type proposal struct {
	ctx  context.Context
	data []byte // the encoded command
	done chan outcome
}

type outcome struct {
	res any
	err error
}

var proposalPool = sync.Pool{New: func() any { return &proposal{done: make(chan outcome, 1)} }}

// inflight is one proposed entry and the proposals it carries.
type inflight struct {
	f     raft.ApplyFuture
	batch []*proposal
}

// committer holds the queue of proposals and the counters of what it
// committed.
type committer struct {
	mu    sync.Mutex
	queue []*proposal
	spare []*proposal // the last batch's slice, reused
	wake  chan struct{}
	fly   chan inflight
	// raftDone is closed by Shutdown once raft has shut down. Every
	// future the committer hands the resolver is bound to it
	// (bindShutdown), so a future raft dropped at shutdown ends the
	// resolver's wait instead of holding it for good.
	raftDone chan struct{}

	// commands and entries count what was committed: commands/entries
	// is the mean group size.
	commands, entries atomic.Uint64
}

func (c *committer) init() {
	c.wake = make(chan struct{}, 1)
	c.fly = make(chan inflight, maxInflight)
	c.raftDone = make(chan struct{})
}

// enqueue adds p to the queue and wakes the committer.
func (c *committer) enqueue(p *proposal) {
	c.mu.Lock()
	c.queue = append(c.queue, p)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// take removes what one entry can carry from the queue: up to
// maxBatchCommands proposals and maxBatchBytes of commands, at least one.
func (c *committer) take() []*proposal {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		return nil
	}
	n, size := 0, 0
	for n < len(c.queue) && n < maxBatchCommands {
		size += len(c.queue[n].data)
		if n > 0 && size > maxBatchBytes {
			break
		}
		n++
	}
	batch := append(c.spare[:0], c.queue[:n]...)
	c.spare = nil
	rest := copy(c.queue, c.queue[n:])
	clear(c.queue[rest:])
	c.queue = c.queue[:rest]
	if rest > 0 {
		select { // more is waiting: come back without a new wake
		case c.wake <- struct{}{}:
		default:
		}
	}
	return batch
}

// recycle keeps a finished batch's slice for a later take.
func (c *committer) recycle(batch []*proposal) {
	clear(batch)
	c.mu.Lock()
	if c.spare == nil {
		c.spare = batch[:0]
	}
	c.mu.Unlock()
}

// runCommitter proposes the queue, one entry at a time, until Shutdown.
func (n *Node) runCommitter(r *raft.Raft) {
	defer n.wg.Done()
	defer close(n.commit.fly)
	var cmds [][]byte
	for {
		select {
		case <-n.commit.wake:
		case <-n.ctx.Done():
			n.failQueued()
			return
		}
		batch := n.commit.take()
		// A caller that gave up before its command left needs no answer
		// and its command is not applied: drop it here.
		live := batch[:0]
		for _, p := range batch {
			if err := p.ctx.Err(); err != nil {
				p.done <- outcome{err: err}
				continue
			}
			live = append(live, p)
		}
		clear(batch[len(live):])
		batch = live
		if len(batch) == 0 {
			n.commit.recycle(batch)
			continue
		}
		var data []byte
		if len(batch) == 1 {
			data = batch[0].data
		} else {
			cmds = cmds[:0]
			for _, p := range batch {
				cmds = append(cmds, p.data)
			}
			data = fsm.AppendBatch(make([]byte, 0, fsm.BatchSize(cmds)), cmds)
			clear(cmds)
		}
		// No timeout: each caller bounds its own wait by its context, and
		// raft's shutdown ends this one.
		n.commit.commands.Add(uint64(len(batch)))
		n.commit.entries.Add(1)
		f := r.Apply(data, 0)
		bindShutdown(f, n.commit.raftDone)
		select {
		case n.commit.fly <- inflight{f: f, batch: batch}:
		case <-n.ctx.Done():
			for _, p := range batch {
				p.done <- outcome{err: ErrShuttingDown}
			}
			n.failQueued()
			return
		}
	}
}

// failQueued answers every queued proposal ErrShuttingDown.
func (n *Node) failQueued() {
	n.commit.mu.Lock()
	q := n.commit.queue
	n.commit.queue = nil
	n.commit.mu.Unlock()
	for _, p := range q {
		p.done <- outcome{err: ErrShuttingDown}
	}
}

// runResolver waits for each proposed entry in log order and answers its
// proposals. It ends once the committer has closed fly and every future in
// it has resolved. Raft resolves nearly every future by the time it has
// shut down, but not one whose entry was committed and not yet applied
// when it stopped: hashicorp/raft drops the FSM's queue and that future
// never resolves of itself. Each future is therefore bound to raftDone
// (bindShutdown), which Shutdown closes once raft has stopped: the wait
// ends ErrRaftShutdown and Shutdown can wait for this goroutine. The
// proposals' callers were answered earlier, by Shutdown's cancel (submit).
func (n *Node) runResolver(r *raft.Raft) {
	defer n.wg.Done()
	for fl := range n.commit.fly {
		if err := fl.f.Error(); err != nil {
			err = n.mapErr(r, err)
			for _, p := range fl.batch {
				p.done <- outcome{err: err}
			}
			n.commit.recycle(fl.batch)
			continue
		}
		resp := fl.f.Response()
		if len(fl.batch) == 1 {
			fl.batch[0].done <- answer(resp)
			n.commit.recycle(fl.batch)
			continue
		}
		results, ok := resp.(fsm.BatchResults)
		for i, p := range fl.batch {
			switch {
			case ok && len(results) == len(fl.batch):
				p.done <- answer(results[i])
			case !ok:
				p.done <- answer(resp) // the whole entry failed (an error)
			default:
				p.done <- outcome{err: errBatchAnswer}
			}
		}
		n.commit.recycle(fl.batch)
	}
}

// answer is the outcome of a command whose apply result is res: a result
// that is an error is the error.
func answer(res any) outcome {
	if e, ok := res.(error); ok {
		return outcome{err: e}
	}
	return outcome{res: res}
}

type batchAnswerError struct{}

func (batchAnswerError) Error() string {
	return "raftnode: a batch entry was answered with the wrong number of results"
}

var errBatchAnswer error = batchAnswerError{}

// submit queues the encoded command data and waits for its answer or for
// ctx to end. After ctx ends the command may still be applied.
func (n *Node) submit(ctx context.Context, data []byte) (any, error) {
	p := proposalPool.Get().(*proposal)
	p.ctx, p.data = ctx, data
	n.commit.enqueue(p)
	select {
	case o := <-p.done:
		p.ctx, p.data = nil, nil
		proposalPool.Put(p)
		return o.res, o.err
	case <-ctx.Done():
		// p stays with the committer and resolver, which answer into its
		// buffer; it is not reused.
		return nil, ctx.Err()
	case <-n.ctx.Done():
		// Shutdown: the committer may have answered the queue already.
		return nil, ErrShuttingDown
	}
}

// CommitCounts reports how many commands the node has proposed, and in how
// many raft log entries: commands/entries is the mean size of a group.
func (n *Node) CommitCounts() (commands, entries uint64) {
	return n.commit.commands.Load(), n.commit.entries.Load()
}

// futureShutdown is where, in each of raft's future types, the channel
// that ends a wait on it lies: hashicorp/raft's futures carry an exported
// ShutdownCh that their Error selects on, set for its own internal futures
// but not for those Apply and VerifyLeader return. Found by reflection, once
// per type; a type without such a field (another raft version) maps to nil,
// and then bindShutdown does nothing (TestShutdownWithAnEntryCommittedNotApplied
// then finds the resolver left behind, and TestFuturesBindToShutdown fails).
var futureShutdown sync.Map // reflect.Type -> []int

var shutdownChType = reflect.TypeFor[chan struct{}]()

// bindShutdown makes a wait on f end once done is closed, if f has not
// resolved by then, and reports whether it could. It must run before
// anything waits on f; raft itself never reads the field, so setting it
// races with nothing.
func bindShutdown(f raft.Future, done chan struct{}) bool {
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return false // an errorFuture (raft refused it): already resolved
	}
	e := v.Elem()
	var idx []int
	if cached, ok := futureShutdown.Load(e.Type()); ok {
		idx = cached.([]int)
	} else {
		if sf, ok := e.Type().FieldByName("ShutdownCh"); ok && sf.Type == shutdownChType && sf.IsExported() {
			idx = sf.Index
		}
		futureShutdown.Store(e.Type(), idx)
	}
	if idx == nil {
		return false
	}
	fv, err := e.FieldByIndexErr(idx)
	if err != nil || !fv.CanSet() || fv.Type() != shutdownChType {
		return false
	}
	fv.Set(reflect.ValueOf(done))
	return true
}
