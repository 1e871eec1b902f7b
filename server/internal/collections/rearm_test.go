package collections

import (
	"testing"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
)

// A re-arm at a later leader's time makes a popped message visible no
// earlier than a full visibility timeout from that time: its receipt
// still acks after the old deadline, and a pop gets nothing until the
// re-armed one.
func TestRearmMovesQueueVisibility(t *testing.T) {
	m := New()
	create(t, m, 0, queueCfg("q", &pb.QueueConfig{VisibilityTimeoutMs: 100}))
	for _, id := range []string{"a", "b"} {
		apply[*pb.CollectionsServiceQueuePushResponse](t, m, OpQueuePush, 0, &pb.CollectionsServiceQueuePushRequest{Queue: "q", Id: id})
	}
	pop := apply[*pb.CollectionsServiceQueuePopResponse](t, m, OpQueuePop, 10, &pb.CollectionsServiceQueuePopRequest{Queue: "q", MaxMessages: 2})
	if len(pop.GetMessages()) != 2 {
		t.Fatalf("pop = %v", pop)
	}
	m.Rearm(90) // visible at 110; re-armed to 190
	if d := m.NextDeadline(); d != 190 {
		t.Fatalf("NextDeadline after the re-arm = %d, want 190", d)
	}
	m.Tick(150)
	if got := apply[*pb.CollectionsServiceQueuePopResponse](t, m, OpQueuePop, 150, &pb.CollectionsServiceQueuePopRequest{Queue: "q"}); len(got.GetMessages()) != 0 {
		t.Fatalf("visible again at 150, before the re-armed 190: %v", got)
	}
	ack := apply[*pb.CollectionsServiceQueueAckResponse](t, m, OpQueueAck, 160, &pb.CollectionsServiceQueueAckRequest{Queue: "q", Receipt: pop.GetMessages()[0].GetReceipt()})
	if !ack.GetResult().GetSuccess() {
		t.Fatalf("ack after the old deadline, before the re-armed one: %v", ack.GetResult())
	}
	m.Tick(190)
	got := apply[*pb.CollectionsServiceQueuePopResponse](t, m, OpQueuePop, 190, &pb.CollectionsServiceQueuePopRequest{Queue: "q"})
	if len(got.GetMessages()) != 1 || got.GetMessages()[0].GetId() != pop.GetMessages()[1].GetId() {
		t.Fatalf("pop at the re-armed deadline = %v", got)
	}
}
