package e2e

import (
	"context"
	"fmt"
	"net"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

// streamExampleServer starts an in-memory server for an Example (which has
// no testing.T) and returns its address and a stop function.
func streamExampleServer() (string, func()) {
	srv, err := server.New(server.Config{})
	if err != nil {
		panic(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	return lis.Addr().String(), func() { srv.Stop(); <-done }
}

// A stream with a durable push consumer: publish, receive, ack.
func ExampleClient_GetOrCreateStream() {
	addr, stop := streamExampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := waymaker.Connect(ctx, addr)
	if err != nil {
		panic(err)
	}
	defer client.Close()

	events, err := client.GetOrCreateStream(ctx, waymaker.StreamConfig{Name: "events", Retention: waymaker.RetentionLimits})
	if err != nil {
		panic(err)
	}
	for _, user := range []string{"ada", "bob"} {
		ack, err := events.Publish(ctx, "events.user."+user, []byte("login"), stream.WithMsgID("login-"+user))
		if err != nil {
			panic(err)
		}
		fmt.Println("stored", ack.Stream, ack.Sequence)
	}
	consumer, err := events.GetOrCreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "processor", DeliverPolicy: waymaker.DeliverAll, AckWait: 30 * time.Second})
	if err != nil {
		panic(err)
	}
	msgs, err := consumer.Messages(ctx)
	if err != nil {
		panic(err)
	}
	defer msgs.Stop()
	for range 2 {
		msg, err := msgs.Next()
		if err != nil {
			panic(err)
		}
		fmt.Println("got", msg.Subject, string(msg.Payload), "delivery", msg.NumDelivered)
		if err := msg.Ack(ctx); err != nil {
			panic(err)
		}
	}
	// Output:
	// stored events 1
	// stored events 2
	// got events.user.ada login delivery 1
	// got events.user.bob login delivery 1
}

// A work queue pulled in batches: each message goes to one consumer and is
// removed when acked.
func ExampleConsumer_Fetch() {
	addr, stop := streamExampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := waymaker.Connect(ctx, addr)
	if err != nil {
		panic(err)
	}
	defer client.Close()

	jobs, err := client.CreateStream(ctx, waymaker.StreamConfig{Name: "jobs", Retention: waymaker.RetentionWorkQueue})
	if err != nil {
		panic(err)
	}
	acks, err := jobs.PublishBatch(ctx, []stream.Message{{Subject: "jobs.resize", Data: []byte("a.png")}, {Subject: "jobs.resize", Data: []byte("b.png")}})
	if err != nil {
		panic(err)
	}
	fmt.Println("batch stored", len(acks), "messages")
	worker, err := jobs.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "worker"})
	if err != nil {
		panic(err)
	}
	batch, err := worker.Fetch(ctx, 10, time.Second)
	if err != nil {
		panic(err)
	}
	for _, m := range batch {
		fmt.Println("job", string(m.Payload))
	}
	if err := worker.Ack(ctx, batch...); err != nil {
		panic(err)
	}
	info, err := jobs.Info(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("left in the queue:", info.State.Msgs)
	// Output:
	// batch stored 2 messages
	// job a.png
	// job b.png
	// left in the queue: 0
}
