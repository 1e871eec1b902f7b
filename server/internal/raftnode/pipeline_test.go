package raftnode

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// A pipeline whose reader stopped at a failed response, as raft's
// pipelineDecode does, still takes the sends raft's loop makes before it
// notices: with NetworkTransport's own pipeline the second such send
// parks for good (its decoder waits for a reader that is gone), and so
// does the leader's Shutdown. The responses before the failure reach the
// reader in order.
func TestDrainedPipelineSurvivesAnAbandonedReader(t *testing.T) {
	follower, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 5*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	leaderNet, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 5*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer leaderNet.Close()
	leader := drainedTransport{leaderNet}

	// The follower accepts the first append and refuses every later one,
	// as one whose log no longer matches does.
	stop := make(chan struct{})
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		for n := 0; ; n++ {
			select {
			case rpc := <-follower.Consumer():
				rpc.Respond(&raft.AppendEntriesResponse{Term: 1, Success: n == 0}, nil)
			case <-stop:
				return
			}
		}
	}()
	defer func() { close(stop); <-answered }()

	p, err := leader.AppendEntriesPipeline("f", follower.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	send := func() error {
		_, err := p.AppendEntries(&raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax}, Term: 1}, new(raft.AppendEntriesResponse))
		return err
	}
	// The reader reads as raft's pipelineDecode does: until a response
	// fails.
	var got []*raft.AppendEntriesResponse
	left := make(chan struct{})
	go func() {
		defer close(left)
		for f := range p.Consumer() {
			if f.Error() != nil {
				return
			}
			got = append(got, f.Response())
			if !f.Response().Success {
				return
			}
		}
	}()
	for range 2 {
		if err := send(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-left:
	case <-time.After(10 * time.Second):
		t.Fatal("no refusal read within 10s")
	}
	if len(got) != 2 || !got[0].Success || got[1].Success {
		t.Fatalf("responses read %+v, want a success then a refusal", got)
	}
	// The reader is gone now. Sends must not park.
	sent := make(chan error, 1)
	go func() {
		var err error
		for range 3 {
			if err = send(); err != nil {
				break
			}
		}
		sent <- err
	}()
	select {
	case err := <-sent:
		if err != nil && !errors.Is(err, raft.ErrPipelineShutdown) {
			t.Fatalf("a send after the failure: %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = p.Close() // frees the parked send
		<-sent
		t.Fatal("a send after the reader left parked for 10s: the pipeline is wedged")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
