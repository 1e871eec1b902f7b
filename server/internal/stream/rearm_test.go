package stream

import (
	"testing"

	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
)

// A re-arm at a later leader's time moves every ack deadline in flight to
// a full ack wait from that time: a tick at the old deadline redelivers
// nothing, one at the re-armed deadline does. Queued redeliveries and an
// acked message are untouched.
func TestRearmMovesAckDeadlines(t *testing.T) {
	m := New()
	apply(t, m, OpCreateStream, 1000, &sp.StreamServiceCreateStreamRequest{Config: &sp.StreamConfig{Name: "ev"}})
	for _, id := range []string{"a", "b", "c"} {
		apply(t, m, OpPublish, 1000, pub("ev.x", id))
	}
	apply(t, m, OpCreateConsumer, 1000, &sp.StreamServiceCreateConsumerRequest{Stream: "ev", Config: &sp.ConsumerConfig{DurableName: "c", AckWaitMs: 100}})
	if got := apply(t, m, OpDeliver, 1100, &sp.StreamServiceFetchRequest{Stream: "ev", Consumer: "c", Batch: 10}).(*sp.StreamServiceFetchResponse); len(got.GetMsgs()) != 3 {
		t.Fatalf("deliver = %v", got)
	}
	apply(t, m, OpAck, 1150, &sp.StreamServiceAckRequest{Stream: "ev", Consumer: "c", Items: []*sp.StreamAckItem{{StreamSeq: 2, NumDelivered: 1}}})

	m.Rearm(1180) // in flight until 1200; re-armed to 1280
	if d := m.NextDeadline(); d != 1280 {
		t.Fatalf("NextDeadline after the re-arm = %d, want 1280", d)
	}
	m.Tick(1200)
	if got := apply(t, m, OpDeliver, 1210, &sp.StreamServiceFetchRequest{Stream: "ev", Consumer: "c", Batch: 10}).(*sp.StreamServiceFetchResponse); len(got.GetMsgs()) != 0 {
		t.Fatalf("redelivered at the old deadline, before the re-armed one: %v", got)
	}
	m.Rearm(1100) // an earlier time moves nothing back
	m.Tick(1280)
	got := apply(t, m, OpDeliver, 1290, &sp.StreamServiceFetchRequest{Stream: "ev", Consumer: "c", Batch: 10}).(*sp.StreamServiceFetchResponse)
	if len(got.GetMsgs()) != 2 || got.GetMsgs()[0].GetStreamSeq() != 1 || got.GetMsgs()[1].GetStreamSeq() != 3 || got.GetMsgs()[0].GetNumDelivered() != 2 {
		t.Fatalf("redelivery at the re-armed deadline = %v", got)
	}
}
