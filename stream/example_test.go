package stream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/stream"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Publish to a stream and consume it with a durable push consumer. (Runs
// against a server: see server/e2e for runnable examples.)
func Example() {
	ctx := context.Background()
	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	streams := stream.New(conn)

	s, err := streams.GetOrCreate(ctx, stream.Config{Name: "orders", Retention: stream.RetentionWorkQueue})
	if err != nil {
		panic(err)
	}
	if _, err := s.Publish(ctx, "orders.eu.42", []byte("paid"), stream.WithMsgID("order-42-paid")); err != nil {
		panic(err)
	}
	consumer, err := s.GetOrCreateConsumer(ctx, stream.ConsumerConfig{DurableName: "billing", AckWait: 30 * time.Second})
	if err != nil {
		panic(err)
	}
	for msg, err := range consumer.All(ctx) {
		if err != nil {
			break
		}
		fmt.Println(msg.Subject, string(msg.Payload))
		_ = msg.Ack(ctx)
	}
}

// Pipeline many publishes over one stream and wait for every ack.
func ExampleStream_PublishAsync() {
	ctx := context.Background()
	conn, _ := transport.Dial(ctx, []string{"localhost:8818"})
	defer conn.Close()
	s := stream.New(conn).Stream("metrics")
	for i := range 10_000 {
		if _, err := s.PublishAsync(ctx, "metrics.cpu", []byte(fmt.Sprint(i))); err != nil {
			panic(err)
		}
	}
	<-s.PublishAsyncComplete()
}

// Next as the published README loops, under the one end contract of every
// iterator (see the transport package doc): at the end Next returns a nil
// message and a non-nil error, io.EOF after Stop.
func ExampleMessages_Next() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	s, err := stream.New(conn).Get(ctx, "orders")
	if err != nil {
		panic(err)
	}
	msgs, err := s.Consumer("billing").Messages(ctx)
	if err != nil {
		panic(err)
	}
	defer msgs.Stop()
	for {
		msg, err := msgs.Next()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, context.DeadlineExceeded) {
				break // stopped, or the minute is over
			}
			panic(err) // ErrNotFound (consumer deleted), ErrClosed, ...
		}
		fmt.Println(msg.Subject, string(msg.Payload))
		_ = msg.Ack(ctx)
	}
}
