package raftnode

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Faults injects network faults into one node's raft transport: RPCs to
// the peers it cuts off outward fail as a dead connection would, RPCs from
// the peers it cuts off inward are refused, and every RPC out can be
// delayed. A two-way partition cuts both directions on both sides; a
// one-way one only some. The zero state passes everything. Safe for
// concurrent use; changes apply to the next RPC.
type Faults struct {
	mu    sync.RWMutex
	out   map[string]bool // peer ids this node cannot send to
	in    map[string]bool // peer ids this node does not accept RPCs from
	delay time.Duration
}

// NewFaults returns Faults that pass everything.
func NewFaults() *Faults { return &Faults{out: map[string]bool{}, in: map[string]bool{}} }

// Cut stops RPCs to (out) and from (in) the peer id.
func (f *Faults) Cut(id string, out, in bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if out {
		f.out[id] = true
	}
	if in {
		f.in[id] = true
	}
}

// Heal removes every cut and delay.
func (f *Faults) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.out)
	clear(f.in)
	f.delay = 0
}

// SetDelay delays every RPC this node sends by d.
func (f *Faults) SetDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// CutOut reports whether this node cannot reach the peer id.
func (f *Faults) CutOut(id string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.out[id]
}

// errCut is what an RPC across a cut fails with.
var errCut = errors.New("raftnode: injected network fault")

func (f *Faults) before(id raft.ServerID) error {
	f.mu.RLock()
	cut, d := f.out[string(id)], f.delay
	f.mu.RUnlock()
	if cut {
		return fmt.Errorf("%w: cut off from %s", errCut, id)
	}
	if d > 0 {
		// A delay is the fault itself, not a synchronisation.
		<-time.After(d)
	}
	return nil
}

func (f *Faults) refuses(cmd any) bool {
	h, ok := cmd.(raft.WithRPCHeader)
	if !ok {
		return false
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.in) > 0 && f.in[string(h.GetRPCHeader().ID)]
}

// Wrap returns t with the faults applied. It keeps raft.WithPreVote and
// raft.WithClose; t must have both.
func (f *Faults) Wrap(t raft.Transport) raft.Transport {
	w := &faultTransport{Transport: t, f: f, consumer: make(chan raft.RPC), done: make(chan struct{})}
	go w.forward()
	return w
}

type faultTransport struct {
	raft.Transport
	f        *Faults
	consumer chan raft.RPC
	done     chan struct{}
	once     sync.Once
}

// forward passes incoming RPCs on, refusing those from cut-off peers.
func (w *faultTransport) forward() {
	in := w.Transport.Consumer()
	for {
		select {
		case <-w.done:
			return
		case rpc := <-in:
			if w.f.refuses(rpc.Command) {
				rpc.Respond(nil, errCut)
				continue
			}
			select {
			case w.consumer <- rpc:
			case <-w.done:
				rpc.Respond(nil, raft.ErrTransportShutdown)
				return
			}
		}
	}
}

func (w *faultTransport) Consumer() <-chan raft.RPC { return w.consumer }

func (w *faultTransport) SetHeartbeatHandler(cb func(rpc raft.RPC)) {
	if cb == nil {
		w.Transport.SetHeartbeatHandler(nil)
		return
	}
	w.Transport.SetHeartbeatHandler(func(rpc raft.RPC) {
		if w.f.refuses(rpc.Command) {
			rpc.Respond(nil, errCut)
			return
		}
		cb(rpc)
	})
}

func (w *faultTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	if err := w.f.before(id); err != nil {
		return nil, err
	}
	p, err := w.Transport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return &faultPipeline{AppendPipeline: p, f: w.f, id: id}, nil
}

func (w *faultTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	if err := w.f.before(id); err != nil {
		return err
	}
	return w.Transport.AppendEntries(id, target, args, resp)
}

func (w *faultTransport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	if err := w.f.before(id); err != nil {
		return err
	}
	return w.Transport.RequestVote(id, target, args, resp)
}

func (w *faultTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	if err := w.f.before(id); err != nil {
		return err
	}
	return w.Transport.(raft.WithPreVote).RequestPreVote(id, target, args, resp)
}

func (w *faultTransport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	if err := w.f.before(id); err != nil {
		return err
	}
	return w.Transport.InstallSnapshot(id, target, args, resp, data)
}

func (w *faultTransport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	if err := w.f.before(id); err != nil {
		return err
	}
	return w.Transport.TimeoutNow(id, target, args, resp)
}

func (w *faultTransport) Close() error {
	w.once.Do(func() { close(w.done) })
	if c, ok := w.Transport.(raft.WithClose); ok {
		return c.Close()
	}
	return nil
}

type faultPipeline struct {
	raft.AppendPipeline
	f  *Faults
	id raft.ServerID
}

func (p *faultPipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	if err := p.f.before(p.id); err != nil {
		return nil, err
	}
	return p.AppendPipeline.AppendEntries(args, resp)
}
