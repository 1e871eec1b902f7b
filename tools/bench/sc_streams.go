package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"git.awesomike.com/pub/waymaker-client/go/stream"
)

// Streams: waymaker's stream subsystem against NATS JetStream. Memory
// storage against waymaker without a data dir; where durability is compared,
// JetStream file storage with sync_always against waymaker with a data dir.
// Streams are capped at 256 MiB (discard old) on both sides.

const (
	natsJSMem  = "NATS JetStream (memory)"
	natsJSFile = "NATS JetStream (file, sync_always)"
	wmMem      = "waymaker (memory)"
	wmDisk     = "waymaker (data dir)"

	streamMaxBytes = 256 << 20
	asyncWindow    = 64  // async publishes in flight per operation
	batchSize      = 100 // messages per batch publish and per fetch
)

func init() {
	register(&Case{
		Group: "streams", Name: "publish",
		Note:     "synchronous publish (wait for the stored ack) of one message of the payload size",
		Payloads: payloadSizes,
		Sides: []Side{
			{System: "waymaker", Label: wmMem, Peer: natsJSMem, Setup: wmPublish(false, memWM)},
			{System: "nats", Label: natsJSMem, Setup: natsPublish(jetstream.MemoryStorage)},
			{System: "waymaker-disk", Label: wmDisk, Peer: natsJSFile, Setup: wmPublish(false, diskWM)},
			{System: "nats", Label: natsJSFile, Setup: natsPublish(jetstream.FileStorage)},
		},
	})
	register(&Case{
		Group: "streams", Name: "publish-async",
		Note:     fmt.Sprintf("%d asynchronous publishes of 128 B in flight, the operation ends when all are acked (one operation = %d messages)", asyncWindow, asyncWindow),
		Payloads: []int{128},
		Conc:     []int{1, 4, 16},
		PerOp:    asyncWindow,
		Sides: []Side{
			{System: "waymaker", Label: wmMem, Peer: natsJSMem, Setup: wmPublish(true, memWM)},
			{System: "nats", Label: natsJSMem, Setup: natsPublishAsync(jetstream.MemoryStorage, asyncWindow)},
		},
	})
	register(&Case{
		Group: "streams", Name: "publish-batch",
		Note:     fmt.Sprintf("a batch of %d messages of 128 B in one call (waymaker PublishBatch; nats.go has no batch call, so its side is a burst of %d PublishAsync waited for together)", batchSize, batchSize),
		Payloads: []int{128},
		Conc:     []int{1, 4, 16},
		PerOp:    batchSize,
		Sides: []Side{
			{System: "waymaker", Label: wmMem, Peer: natsJSMem, Setup: wmPublishBatch(memWM)},
			{System: "nats", Label: natsJSMem, Setup: natsPublishAsync(jetstream.MemoryStorage, batchSize)},
			{System: "waymaker-disk", Label: wmDisk, Peer: natsJSFile, Setup: wmPublishBatch(diskWM)},
			{System: "nats", Label: natsJSFile, Setup: natsPublishAsync(jetstream.FileStorage, batchSize)},
		},
	})
	register(&Case{
		Group: "streams", Name: "consume-ack",
		Note: "push delivery of a prefilled stream (128 B messages) with an explicit, confirmed ack of each message (waymaker Msg.AckSync; NATS Msg.DoubleAck); one durable consumer per worker",
		Conc: []int{1, 4},
		Sides: []Side{
			{System: "waymaker", Label: wmMem, Peer: natsJSMem, Setup: wmConsume(true)},
			{System: "nats", Label: natsJSMem, Setup: natsConsume(true)},
		},
	})
	register(&Case{
		Group: "streams", Name: "consume-loop",
		Note: "the published README's consume loop: push delivery of a prefilled stream (128 B messages), each message acked with the default ack, which hands the ack over without waiting for it (waymaker Msg.Ack; NATS Msg.Ack); one durable consumer per worker",
		Conc: []int{1, 4},
		Sides: []Side{
			{System: "waymaker", Label: wmMem, Peer: natsJSMem, Setup: wmConsume(false)},
			{System: "nats", Label: natsJSMem, Setup: natsConsume(false)},
		},
	})
	register(&Case{
		Group: "streams", Name: "fetch",
		Note:  fmt.Sprintf("pull fetch of up to %d ready messages (128 B) and one confirmed ack of the last (AckAll policy); one durable consumer per worker (one operation = %d messages)", batchSize, batchSize),
		Conc:  []int{1, 4},
		PerOp: batchSize,
		Sides: []Side{
			{System: "waymaker", Label: wmMem, Peer: natsJSMem, Setup: wmFetch},
			{System: "nats", Label: natsJSMem, Setup: natsFetch},
		},
	})
}

func memWM(e *Env) *wmSys  { return e.WM }
func diskWM(e *Env) *wmSys { return e.WMD }

// prefillCount is how many messages a consume scenario prepares: more than
// the fastest side consumes in all its rounds.
func prefillCount(env *Env) int {
	if env.quick {
		return 5_000
	}
	return 150_000
}

// ---- waymaker sides

func wmStream(ctx context.Context, env *Env, sys func(*Env) *wmSys) (*stream.Stream, string, func(), error) {
	name := env.uniq("bench")
	c := sys(env).c.Streams()
	s, err := c.Create(ctx, stream.Config{Name: name, Subjects: []string{name + ".>"}, MaxBytes: streamMaxBytes, Discard: stream.DiscardOld})
	if err != nil {
		return nil, "", nil, err
	}
	return s, name + ".x", func() { _ = c.Delete(context.Background(), name) }, nil
}

func wmPublish(async bool, sys func(*Env) *wmSys) setupFunc {
	return func(ctx context.Context, env *Env, p Point) (Op, func(), error) {
		s, subj, cleanup, err := wmStream(ctx, env, sys)
		if err != nil {
			return nil, nil, err
		}
		data := payload(p.Payload)
		if !async {
			return func(ctx context.Context, w, i int) error {
				_, err := s.Publish(ctx, subj, data)
				return err
			}, cleanup, nil
		}
		futs := make([][]*stream.PubAckFuture, p.Conc)
		return func(ctx context.Context, w, i int) error {
			fs := futs[w][:0]
			for range asyncWindow {
				f, err := s.PublishAsync(ctx, subj, data)
				if err != nil {
					return err
				}
				fs = append(fs, f)
			}
			futs[w] = fs
			for _, f := range fs {
				if _, err := f.Wait(ctx); err != nil {
					return err
				}
			}
			return nil
		}, cleanup, nil
	}
}

func wmPublishBatch(sys func(*Env) *wmSys) setupFunc {
	return func(ctx context.Context, env *Env, p Point) (Op, func(), error) {
		s, subj, cleanup, err := wmStream(ctx, env, sys)
		if err != nil {
			return nil, nil, err
		}
		msgs := make([]stream.Message, batchSize)
		for i := range msgs {
			msgs[i] = stream.Message{Subject: subj, Data: payload(p.Payload)}
		}
		return func(ctx context.Context, w, i int) error {
			acks, err := s.PublishBatch(ctx, msgs)
			if err != nil {
				return err
			}
			for _, a := range acks {
				if a.Err != nil {
					return a.Err
				}
			}
			return nil
		}, cleanup, nil
	}
}

func wmPrefill(ctx context.Context, env *Env, p Point) (*stream.Stream, func(), error) {
	s, subj, cleanup, err := wmStream(ctx, env, memWM)
	if err != nil {
		return nil, nil, err
	}
	msgs := make([]stream.Message, 1000)
	for i := range msgs {
		msgs[i] = stream.Message{Subject: subj, Data: payload(128)}
	}
	for n := 0; n < prefillCount(env); n += len(msgs) {
		if _, err := s.PublishBatch(ctx, msgs); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	return s, cleanup, nil
}

func wmConsume(confirmed bool) setupFunc {
	return func(ctx context.Context, env *Env, p Point) (Op, func(), error) {
		return wmConsumeLoop(ctx, env, p, confirmed)
	}
}

func wmConsumeLoop(ctx context.Context, env *Env, p Point, confirmed bool) (Op, func(), error) {
	s, cleanup, err := wmPrefill(ctx, env, p)
	if err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	its := make([]*stream.Messages, p.Conc)
	stop := func() {
		for _, it := range its {
			if it != nil {
				it.Stop()
			}
		}
		cancel()
		cleanup()
	}
	for w := range its {
		c, err := s.CreateConsumer(ctx, stream.ConsumerConfig{DurableName: fmt.Sprintf("c%d", w), AckPolicy: stream.AckExplicit, AckWait: time.Minute, MaxAckPending: 1024})
		if err != nil {
			stop()
			return nil, nil, err
		}
		if its[w], err = c.Messages(cctx); err != nil {
			stop()
			return nil, nil, err
		}
	}
	got := make([]int, p.Conc)
	total := prefillCount(env)
	return func(ctx context.Context, w, i int) error {
		if got[w] >= total {
			return errExhausted
		}
		m, err := its[w].Next()
		if err != nil {
			return err
		}
		got[w]++
		if confirmed {
			return m.AckSync(ctx)
		}
		return m.Ack(ctx)
	}, stop, nil
}

func wmFetch(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	s, cleanup, err := wmPrefill(ctx, env, p)
	if err != nil {
		return nil, nil, err
	}
	cs := make([]*stream.Consumer, p.Conc)
	for w := range cs {
		if cs[w], err = s.CreateConsumer(ctx, stream.ConsumerConfig{DurableName: fmt.Sprintf("f%d", w), AckPolicy: stream.AckAll, AckWait: time.Minute, MaxAckPending: 10_000}); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	return func(ctx context.Context, w, i int) error {
		msgs, err := cs[w].Fetch(ctx, batchSize, 0)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			return errExhausted
		}
		return msgs[len(msgs)-1].Ack(ctx)
	}, cleanup, nil
}

// ---- NATS sides

func natsStream(ctx context.Context, env *Env, storage jetstream.StorageType) (jetstream.Stream, string, func(), error) {
	name := env.uniq("bench")
	s, err := env.NATS.js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Storage: storage, MaxBytes: streamMaxBytes, Discard: jetstream.DiscardOld})
	if err != nil {
		return nil, "", nil, err
	}
	return s, name + ".x", func() { _ = env.NATS.js.DeleteStream(context.Background(), name) }, nil
}

func natsPublish(storage jetstream.StorageType) setupFunc {
	return func(ctx context.Context, env *Env, p Point) (Op, func(), error) {
		_, subj, cleanup, err := natsStream(ctx, env, storage)
		if err != nil {
			return nil, nil, err
		}
		data := payload(p.Payload)
		return func(ctx context.Context, w, i int) error {
			_, err := env.NATS.js.Publish(ctx, subj, data)
			return err
		}, cleanup, nil
	}
}

func natsPublishAsync(storage jetstream.StorageType, n int) setupFunc {
	return func(ctx context.Context, env *Env, p Point) (Op, func(), error) {
		_, subj, cleanup, err := natsStream(ctx, env, storage)
		if err != nil {
			return nil, nil, err
		}
		data := payload(p.Payload)
		futs := make([][]jetstream.PubAckFuture, p.Conc)
		return func(ctx context.Context, w, i int) error {
			fs := futs[w][:0]
			for range n {
				f, err := env.NATS.js.PublishAsync(subj, data)
				if err != nil {
					return err
				}
				fs = append(fs, f)
			}
			futs[w] = fs
			for _, f := range fs {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					return err
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}, cleanup, nil
	}
}

func natsPrefill(ctx context.Context, env *Env) (jetstream.Stream, func(), error) {
	s, subj, cleanup, err := natsStream(ctx, env, jetstream.MemoryStorage)
	if err != nil {
		return nil, nil, err
	}
	data := payload(128)
	// In windows of 1,000, below nats.go's limit of outstanding async
	// publishes.
	for n := 0; n < prefillCount(env); n += 1000 {
		for range 1000 {
			if _, err := env.NATS.js.PublishAsync(subj, data); err != nil {
				cleanup()
				return nil, nil, err
			}
		}
		select {
		case <-env.NATS.js.PublishAsyncComplete():
		case <-time.After(time.Minute):
			cleanup()
			return nil, nil, errors.New("prefill not acked within a minute")
		}
	}
	return s, cleanup, nil
}

func natsConsume(confirmed bool) setupFunc {
	return func(ctx context.Context, env *Env, p Point) (Op, func(), error) {
		return natsConsumeLoop(ctx, env, p, confirmed)
	}
}

func natsConsumeLoop(ctx context.Context, env *Env, p Point, confirmed bool) (Op, func(), error) {
	s, cleanup, err := natsPrefill(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	its := make([]jetstream.MessagesContext, p.Conc)
	stop := func() {
		for _, it := range its {
			if it != nil {
				it.Stop()
			}
		}
		cleanup()
	}
	for w := range its {
		c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: fmt.Sprintf("c%d", w), AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, MaxAckPending: 1024})
		if err != nil {
			stop()
			return nil, nil, err
		}
		if its[w], err = c.Messages(); err != nil {
			stop()
			return nil, nil, err
		}
	}
	got := make([]int, p.Conc)
	total := prefillCount(env)
	return func(ctx context.Context, w, i int) error {
		if got[w] >= total {
			return errExhausted
		}
		m, err := its[w].Next()
		if err != nil {
			return err
		}
		got[w]++
		if confirmed {
			return m.DoubleAck(ctx)
		}
		return m.Ack()
	}, stop, nil
}

func natsFetch(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	s, cleanup, err := natsPrefill(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	cs := make([]jetstream.Consumer, p.Conc)
	for w := range cs {
		if cs[w], err = s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: fmt.Sprintf("f%d", w), AckPolicy: jetstream.AckAllPolicy, AckWait: time.Minute, MaxAckPending: 10_000}); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	return func(ctx context.Context, w, i int) error {
		b, err := cs[w].FetchNoWait(batchSize)
		if err != nil {
			return err
		}
		var last jetstream.Msg
		for m := range b.Messages() {
			last = m
		}
		if err := b.Error(); err != nil {
			return err
		}
		if last == nil {
			return errExhausted
		}
		return last.DoubleAck(ctx)
	}, cleanup, nil
}
