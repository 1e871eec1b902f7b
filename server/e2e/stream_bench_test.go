package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

// Stream benchmarks: the SDK against an embedded in-memory server, 128-byte
// payloads. Each reports msg/s.
//
//	cd server && go test -run '^$' -bench 'Stream' -benchtime 3s ./e2e/

var payload128 = make([]byte, 128)

func benchStream(b *testing.B) (*waymaker.Client, *waymaker.Stream) {
	b.Helper()
	c := start(b)
	s := newStream(b, c, waymaker.StreamConfig{})
	return c, s
}

func reportRate(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msg/s")
}

func BenchmarkStreamPublishSync(b *testing.B) {
	_, s := benchStream(b)
	ctx := context.Background()
	subj := s.Name() + ".bench"
	b.ResetTimer()
	for range b.N {
		if _, err := s.Publish(ctx, subj, payload128); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, b.N)
}

func BenchmarkStreamPublishAsync(b *testing.B) {
	_, s := benchStream(b)
	ctx := context.Background()
	subj := s.Name() + ".bench"
	b.ResetTimer()
	for range b.N {
		if _, err := s.PublishAsync(ctx, subj, payload128); err != nil {
			b.Fatal(err)
		}
	}
	<-s.PublishAsyncComplete()
	reportRate(b, b.N)
}

const benchBatch = 1000

func batchOf(subject string, n int) []stream.Message {
	msgs := make([]stream.Message, n)
	for i := range msgs {
		msgs[i] = stream.Message{Subject: subject, Data: payload128}
	}
	return msgs
}

func BenchmarkStreamPublishBatch(b *testing.B) {
	_, s := benchStream(b)
	ctx := context.Background()
	full := batchOf(s.Name()+".bench", benchBatch)
	b.ResetTimer()
	for sent := 0; sent < b.N; sent += benchBatch {
		if _, err := s.PublishBatch(ctx, full[:min(benchBatch, b.N-sent)]); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, b.N)
}

// fill stores n messages through batches, outside the timer.
func fill(b *testing.B, s *waymaker.Stream, n int) {
	b.Helper()
	ctx := context.Background()
	full := batchOf(s.Name()+".bench", benchBatch)
	for sent := 0; sent < n; sent += benchBatch {
		if _, err := s.PublishBatch(ctx, full[:min(benchBatch, n-sent)]); err != nil {
			b.Fatal(err)
		}
	}
}

// pushDelivery stores b.N messages, creates the consumer cfg and opens its
// push delivery, outside the timer; the delivery stops with the benchmark.
func pushDelivery(b *testing.B, cfg waymaker.ConsumerConfig) (context.Context, *waymaker.Consumer, *stream.Messages) {
	b.Helper()
	_, s := benchStream(b)
	fill(b, s, b.N)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b.Cleanup(cancel)
	cons, err := s.CreateConsumer(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	it, err := cons.Messages(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(it.Stop)
	return ctx, cons, it
}

// BenchmarkStreamConsumePushAck receives with Messages and acks every
// message before taking the next, as the README's loop does.
func BenchmarkStreamConsumePushAck(b *testing.B) {
	ctx, _, it := pushDelivery(b, waymaker.ConsumerConfig{DurableName: "bench"})
	for range b.N {
		m, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Ack(ctx); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, b.N)
}

// BenchmarkStreamConsumePushAckSync is BenchmarkStreamConsumePushAck with
// confirmed acks (Msg.AckSync), the loop of the harness's
// streams.consume-ack at c=1.
func BenchmarkStreamConsumePushAckSync(b *testing.B) {
	ctx, _, it := pushDelivery(b, waymaker.ConsumerConfig{DurableName: "bench", MaxAckPending: 1024})
	for range b.N {
		m, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		if err := m.AckSync(ctx); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, b.N)
}

// BenchmarkStreamConsumePushAckSyncWorkers is the loop of
// BenchmarkStreamConsumePushAckSync with the processing spread over 16
// goroutines, each confirming its message with AckSync: the confirmed acks
// of one consumer made meanwhile share Ack requests and commits.
func BenchmarkStreamConsumePushAckSyncWorkers(b *testing.B) {
	const workers = 16
	ctx, _, it := pushDelivery(b, waymaker.ConsumerConfig{DurableName: "bench", MaxAckPending: 1024})
	work := make(chan *stream.Msg, workers)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range work {
				if err := m.AckSync(ctx); err != nil {
					select {
					case errs <- err:
					default: // one is enough; keep draining work
					}
				}
			}
		}()
	}
	for range b.N {
		m, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		work <- m
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	reportRate(b, b.N)
}

// BenchmarkStreamFetchPull pulls batches of 100 with an AckAll consumer and
// acks each batch by acking its last message.
func BenchmarkStreamFetchPull(b *testing.B) {
	_, s := benchStream(b)
	fill(b, s, b.N)
	ctx := context.Background()
	cons, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "bench", AckPolicy: waymaker.AckAll, MaxAckPending: 10_000})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for got := 0; got < b.N; {
		msgs, err := cons.Fetch(ctx, 100, time.Second)
		if err != nil || len(msgs) == 0 {
			b.Fatalf("fetch: %d, %v", len(msgs), err)
		}
		if err := msgs[len(msgs)-1].Ack(ctx); err != nil {
			b.Fatal(err)
		}
		got += len(msgs)
	}
	reportRate(b, b.N)
}

// BenchmarkStreamConsumePushAckBatched receives with Messages and acks
// every 100 messages with one Consumer.Ack call.
func BenchmarkStreamConsumePushAckBatched(b *testing.B) {
	ctx, cons, it := pushDelivery(b, waymaker.ConsumerConfig{DurableName: "bench"})
	batch := make([]*waymaker.Msg, 0, 100)
	for i := range b.N {
		m, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, m)
		if len(batch) == cap(batch) || i == b.N-1 {
			if err := cons.Ack(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	reportRate(b, b.N)
}
