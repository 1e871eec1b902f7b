package e2e

import (
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// Msg.Ack hands the ack over and returns; once the acks are flushed the
// server holds them all, and none of the messages comes again after
// AckWait.
func TestStreamAckAsyncFlushedNotRedelivered(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	const n = 300
	publishN(t, s, s.Name(), n)
	const ackWait = 500 * time.Millisecond
	cons, it := pushMessages(t, ctx, s, waymaker.ConsumerConfig{DurableName: "d", AckWait: ackWait})
	for range n {
		m := next(t, it, 10*time.Second)
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Streams().FlushAcks(ctx); err != nil {
		t.Fatal(err)
	}
	if f := c.Streams().AckFailures(); f != 0 {
		t.Fatalf("AckFailures = %d", f)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.AckFloor.Stream != n {
		t.Fatalf("after FlushAcks: %+v", info)
	}
	// Nothing is delivered again over several ack waits: the server holds
	// no unacked message. (Under heavy load a message may have been
	// redelivered before its ack landed, as at-least-once allows; that is
	// before this point.)
	<-time.After(3 * ackWait)
	later, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if later.NumAckPending != 0 || later.Delivered != info.Delivered || later.NumRedelivered != info.NumRedelivered {
		t.Fatalf("delivered again after every ack was flushed: before %+v, after %+v", info, later)
	}
}

// Closing the client sends the acks still queued: a new client finds them
// all on the server.
func TestStreamAckCloseFlushes(t *testing.T) {
	srv, c := startEmbedded(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	const n = 200
	publishN(t, s, s.Name(), n)
	cons, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "d", AckWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := cons.Fetch(ctx, n, time.Second)
	if err != nil || len(msgs) != n {
		t.Fatalf("fetch = %d, %v", len(msgs), err)
	}
	for _, m := range msgs {
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if f := c.Streams().AckFailures(); f != 0 {
		t.Fatalf("AckFailures = %d", f)
	}
	c2 := connect(t, srv.Addr())
	info, err := c2.Streams().Stream(s.Name()).Consumer("d").Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.AckFloor.Stream != n {
		t.Fatalf("after Close: %+v, want every ack on the server", info)
	}
}

// An ack handed over while the server is down, and never delivered before
// the client closes, is lost: its message is delivered again after
// AckWait, never lost. AckSync'd messages are not.
func TestStreamAckLostIsRedelivered(t *testing.T) {
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir(), waymakertest.WithAbruptStop())
	ctx := testCtx(t, 60*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	publishN(t, s, s.Name(), 6)
	cons, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "d", AckWait: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := cons.Fetch(ctx, 6, time.Second)
	if err != nil || len(msgs) != 6 {
		t.Fatalf("fetch = %d, %v", len(msgs), err)
	}
	for _, m := range msgs[:2] {
		if err := m.AckSync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	srv.Stop() // killed before the flush
	for _, m := range msgs[2:] {
		if err := m.Ack(ctx); err != nil { // handed over: Ack does not wait for the server
			t.Fatal(err)
		}
	}
	_ = c.Close() // gives up on the queued acks after its bound
	if f := c.Streams().AckFailures(); f != 4 {
		t.Fatalf("AckFailures = %d, want the 4 undelivered acks counted", f)
	}
	srv.Restart()
	c2 := connect(t, srv.Addr())
	cons2 := c2.Streams().Stream(s.Name()).Consumer("d")
	seen := map[uint64]uint32{}
	if !eventually(20*time.Second, func() bool {
		got, err := cons2.Fetch(ctx, 10, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range got {
			if m.StreamSeq <= 2 {
				t.Fatalf("AckSync'd seq %d delivered again", m.StreamSeq)
			}
			seen[m.StreamSeq] = m.NumDelivered
			if err := m.AckSync(ctx); err != nil {
				t.Fatal(err)
			}
		}
		return len(seen) == 4
	}) {
		t.Fatalf("redelivered %v, want seqs 3-6", seen)
	}
	for seq := uint64(3); seq <= 6; seq++ {
		if seen[seq] != 2 {
			t.Fatalf("deliveries = %v, want seqs 3-6 delivered a second time", seen)
		}
	}
}
