package api

import (
	"context"
	"sync"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/objstore"
)

// DefaultPutInflightBytes bounds the chunk data a node has proposed to raft
// for all its Puts and not yet seen applied: a Put whose chunk does not fit
// stops reading its stream until one applies, and gRPC's flow control
// then holds the client back. Each chunk in flight is held about twice
// (its command payload and raft's log entry), so this costs at most
// 2 × 8 MiB of a leader's memory whatever the objects' sizes.
const DefaultPutInflightBytes = 8 << 20

// byteBudget is a counting semaphore of bytes.
type byteBudget struct {
	mu   sync.Mutex
	size int64
	free int64 // below 0 while a request larger than size holds it
	wake chan struct{}
}

func newByteBudget(n int64) *byteBudget {
	return &byteBudget{size: n, free: n, wake: make(chan struct{})}
}

// acquire takes n bytes, waiting until they are free or ctx ends. A request
// larger than the whole budget, which would never fit, waits until nothing
// else holds any of it and then proceeds alone.
func (b *byteBudget) acquire(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if b.free >= n || b.free == b.size {
			b.free -= n
			b.mu.Unlock()
			return nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.free += n
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
}

// chunkProposer proposes the chunks of one upload, several at a time within
// the node's budget. Chunks name their index, so the order raft applies
// them in does not matter; the commit is proposed only after every chunk
// has applied (wait).
type chunkProposer struct {
	ctx    context.Context
	p      Proposer
	budget *byteBudget
	blob   string
	cs     int64

	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

func (c *chunkProposer) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// send proposes chunk k; data is no longer used once send returns.
func (c *chunkProposer) send(k int64, data []byte) error {
	if err := c.failed(); err != nil {
		return err
	}
	n := int64(len(data))
	if err := c.budget.acquire(c.ctx, n); err != nil {
		return err
	}
	payload := objstore.EncodeChunk(c.blob, c.cs, k, data)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.budget.release(n)
		if _, err := c.p.Propose(c.ctx, objstore.Name, objstore.OpChunk, payload); err != nil {
			c.mu.Lock()
			if c.err == nil {
				c.err = err
			}
			c.mu.Unlock()
		}
	}()
	return nil
}

// wait returns once every proposal has returned, with the first failure.
// After it, every chunk proposed is in raft's log ahead of anything
// proposed next (a discard among them), applied or not.
func (c *chunkProposer) wait() error {
	c.wg.Wait()
	return c.failed()
}
