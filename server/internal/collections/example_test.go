package collections_test

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/collections"
)

// The state machine applies commands with the leader's clock and expires
// what is due at a tick: a popped, unacked message is back after its
// visibility timeout, and the old receipt no longer acks it.
func ExampleMachine() {
	m := collections.New()
	run := func(op uint16, at int64, req proto.Message) any {
		payload, _ := proto.Marshal(req)
		return m.ApplyOp(op, at, payload)
	}
	run(collections.OpCreateStore, 0, &pb.CollectionsServiceCreateStoreRequest{Config: &pb.CollectionsStoreConfig{
		Name: "jobs", Kind: &pb.CollectionsStoreConfig_Queue{Queue: &pb.QueueConfig{VisibilityTimeoutMs: 100}}}})
	run(collections.OpQueuePush, 1, &pb.CollectionsServiceQueuePushRequest{Queue: "jobs", Payload: []byte("job"), Id: "j1"})
	pop := run(collections.OpQueuePop, 2, &pb.CollectionsServiceQueuePopRequest{Queue: "jobs"}).(*pb.CollectionsServiceQueuePopResponse)
	fmt.Println("popped", pop.GetMessages()[0].GetId(), "deadline", m.NextDeadline())
	m.Tick(102)
	ack := run(collections.OpQueueAck, 103, &pb.CollectionsServiceQueueAckRequest{Queue: "jobs", Receipt: pop.GetMessages()[0].GetReceipt()}).(*pb.CollectionsServiceQueueAckResponse)
	fmt.Println("stale ack:", ack.GetResult().GetResultCode())
	fmt.Println("ready again:", m.QueueLen(&pb.CollectionsServiceQueueLenRequest{Queue: "jobs"}, 103).GetReady())
	// Output:
	// popped j1 deadline 102
	// stale ack: not_owner
	// ready again: 1
}
