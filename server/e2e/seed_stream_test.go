package e2e

//lint:file-ignore SA4006 the published README's Streams sample is kept verbatim, including its unused errs.

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

// processed collects what the seed sample's process() saw.
var processed struct {
	mu   sync.Mutex
	msgs []string
	seen chan struct{} // signalled on every call
}

func process(payload []byte) {
	processed.mu.Lock()
	processed.msgs = append(processed.msgs, string(payload))
	ch := processed.seen
	processed.mu.Unlock()
	if ch != nil {
		ch <- struct{}{}
	}
}

// seedStreams is the README's "Streams" sample, verbatim between the marks.
func seedStreams(ctx context.Context, client *waymaker.Client) {
	// --- README: Streams ---
	stream, err := client.GetOrCreateStream(ctx, waymaker.StreamConfig{
		Name:      "events",
		Retention: waymaker.RetentionLimits,
	})
	ack, err := stream.Publish(ctx, "events.user.123", []byte(`{"action":"login"}`))

	consumer, err := stream.GetOrCreateConsumer(ctx, waymaker.ConsumerConfig{
		DurableName:   "processor",
		DeliverPolicy: waymaker.DeliverAll,
		AckWait:       30 * time.Second,
	})
	msgs, err := consumer.Messages(ctx)
	for {
		msg, err := msgs.Next()
		if err != nil || msg == nil {
			break
		}
		process(msg.Payload)
		_ = msg.Ack(ctx)
	}
	// --- end of sample ---
	_, _ = ack, err
}

// TestStreamSeedSample runs the published Streams sample as written: the
// message is published, delivered to the durable consumer, processed and
// acked; the loop ends when the context ends.
func TestStreamSeedSample(t *testing.T) {
	_, client := startEmbedded(t) // the sample's names are fixed: own server
	processed.mu.Lock()
	processed.msgs = nil
	processed.seen = make(chan struct{}, 1)
	processed.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// End the sample's loop once the message is processed and its ack has
	// reached the server.
	watchErr := make(chan error, 1)
	go func() {
		defer cancel()
		select {
		case <-processed.seen:
		case <-ctx.Done():
			watchErr <- ctx.Err()
			return
		}
		c := client.Streams().Stream("events").Consumer("processor")
		if !eventually(20*time.Second, func() bool {
			info, err := c.Info(ctx)
			return err == nil && info.NumAckPending == 0 && info.AckFloor.Stream == 1
		}) {
			watchErr <- errors.New("ack never reached the server")
			return
		}
		watchErr <- nil
	}()
	seedStreams(ctx, client)
	if err := <-watchErr; err != nil {
		t.Fatalf("message was not processed and acked: %v", err)
	}
	processed.mu.Lock()
	got := append([]string(nil), processed.msgs...)
	processed.seen = nil
	processed.mu.Unlock()
	if len(got) != 1 || got[0] != `{"action":"login"}` {
		t.Fatalf("processed %q, want the one published payload", got)
	}
	info, err := client.Streams().Stream("events").Consumer("processor").Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Delivered.Stream != 1 || info.NumAckPending != 0 || info.NumPending != 0 || info.NumRedelivered != 0 {
		t.Fatalf("consumer info after the sample = %+v", info)
	}
}
