package main

import (
	"context"
	"fmt"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

func init() { register(30, "streams", tourStreams) }

// tourStreams publishes to a stream, consumes with a durable push consumer
// and acks, pulls with Fetch, and pipelines async publishes.
func tourStreams(ctx context.Context, c *waymaker.Client) error {
	s, err := c.GetOrCreateStream(ctx, waymaker.StreamConfig{Name: "tour_events", Retention: waymaker.RetentionLimits})
	if err != nil {
		return err
	}
	defer func() { _ = c.DeleteStream(context.WithoutCancel(ctx), s.Name()) }()
	fmt.Printf("stream %q binds %q and %q (no Subjects given)\n", s.Name(), s.Name(), s.Name()+".>")
	for i, user := range []string{"ada", "bob", "cy"} {
		ack, err := s.Publish(ctx, "tour_events.user."+user, []byte(`{"action":"login"}`), stream.WithMsgID(fmt.Sprint("login-", i)))
		if err != nil {
			return err
		}
		fmt.Printf("published tour_events.user.%s -> seq %d\n", user, ack.Sequence)
	}
	dup, err := s.Publish(ctx, "tour_events.user.ada", []byte(`{"action":"login"}`), stream.WithMsgID("login-0"))
	if err != nil {
		return err
	}
	fmt.Printf("republished msg id login-0 -> seq %d duplicate=%v (nothing stored)\n", dup.Sequence, dup.Duplicate)

	cons, err := s.GetOrCreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "processor", DeliverPolicy: waymaker.DeliverAll, AckWait: 30 * time.Second})
	if err != nil {
		return err
	}
	msgs, err := cons.Messages(ctx)
	if err != nil {
		return err
	}
	for range 3 {
		msg, err := msgs.Next()
		if err != nil {
			return err
		}
		if err := msg.Ack(ctx); err != nil {
			return err
		}
		fmt.Printf("push consumer got %s seq=%d delivery=%d, acked\n", msg.Subject, msg.StreamSeq, msg.NumDelivered)
	}
	msgs.Stop()

	var futures []*waymaker.PubAckFuture
	for i := range 1000 {
		f, err := s.PublishAsync(ctx, "tour_events.metrics", []byte(fmt.Sprint(i)))
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	select {
	case <-s.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	last, err := futures[len(futures)-1].Result()
	if err != nil {
		return err
	}
	fmt.Printf("1000 async publishes pipelined over one stream; last seq %d\n", last.Sequence)

	puller, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "puller", FilterSubjects: []string{"tour_events.metrics"}})
	if err != nil {
		return err
	}
	batch, err := puller.Fetch(ctx, 100, time.Second)
	if err != nil {
		return err
	}
	for _, m := range batch {
		if err := m.Ack(ctx); err != nil {
			return err
		}
	}
	fmt.Printf("pull consumer fetched and acked %d messages (first seq %d)\n", len(batch), batch[0].StreamSeq)
	return nil
}
