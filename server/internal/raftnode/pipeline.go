package raftnode

import (
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// drainedTransport is raft's NetworkTransport with its append pipelines
// made safe to abandon (drainedPipeline); every other method is the
// transport's own, so every optional interface it implements
// (WithPreVote, WithClose, ...) stays implemented.
type drainedTransport struct{ *raft.NetworkTransport }

func (t drainedTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	p, err := t.NetworkTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return newDrainedPipeline(p), nil
}

// drainedPipeline keeps raft's pipeline replication from deadlocking.
//
// raft (v1.7) reads a pipeline's responses in pipelineDecode, which returns
// at the first failed one (the follower refused the entries, or answered a
// newer term, or the connection failed), while the sending loop may still
// send once more before it notices. NetworkTransport's pipeline hands each
// response to an unbuffered channel and takes each request on another
// (MaxRPCsInFlight 2, the default): with no reader left, its decoder parks
// on the first and that last send parks on the second, for good. Close,
// which would free both, is deferred in the parked sending loop itself. The
// leader then never replicates to that follower again, and its Shutdown
// waits on that loop forever (hashicorp/raft issue 612).
//
// drainedPipeline reads the inner pipeline's responses on its own
// goroutine, always, so the inner decoder never parks and a send never
// waits on it for more than one response. It hands responses on to raft's
// reader up to the first failed one, which ends that reader, and drops the
// rest; after a failed response AppendEntries refuses at once, so the
// sending loop stops and closes the pipeline, as raft intends.
type drainedPipeline struct {
	inner  raft.AppendPipeline
	out    chan raft.AppendFuture
	failed atomic.Bool
	done   chan struct{} // closed by Close: the forwarder ends
	fwd    sync.WaitGroup
	once   sync.Once
}

func newDrainedPipeline(inner raft.AppendPipeline) *drainedPipeline {
	p := &drainedPipeline{inner: inner, out: make(chan raft.AppendFuture), done: make(chan struct{})}
	p.fwd.Add(1)
	go p.forward()
	return p
}

// forward reads every response of the inner pipeline until Close.
func (p *drainedPipeline) forward() {
	defer p.fwd.Done()
	in := p.inner.Consumer()
	for {
		var f raft.AppendFuture
		select {
		case f = <-in:
		case <-p.done:
			return
		}
		if p.failed.Load() {
			continue // raft's reader has returned: nobody wants it
		}
		// The inner decoder has answered f before handing it over, so
		// Error does not wait. These are the cases in which raft's
		// pipelineDecode stops reading.
		if f.Error() != nil || !f.Response().Success || f.Response().Term > f.Request().Term {
			p.failed.Store(true)
		}
		select {
		case p.out <- f:
		case <-p.done:
			return
		}
	}
}

// AppendEntries sends one request, or refuses once a response has failed:
// the pipeline is over then, and raft falls back to plain replication.
func (p *drainedPipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	if p.failed.Load() {
		return nil, raft.ErrPipelineShutdown
	}
	return p.inner.AppendEntries(args, resp)
}

func (p *drainedPipeline) Consumer() <-chan raft.AppendFuture { return p.out }

// Close closes the inner pipeline and waits for the forwarder to end.
func (p *drainedPipeline) Close() error {
	var err error
	p.once.Do(func() {
		err = p.inner.Close()
		close(p.done)
		p.fwd.Wait()
	})
	return err
}
