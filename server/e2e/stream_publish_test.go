package e2e

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

func TestStreamPublishAsyncInOrder(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 60*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	const n = 20_000
	futures := make([]*waymaker.PubAckFuture, n)
	for i := range n {
		f, err := s.PublishAsync(ctx, s.Name()+".async", []byte(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		futures[i] = f
		if p := s.PublishAsyncPending(); p > stream.MaxAsyncPending {
			t.Fatalf("pending %d exceeds the bound", p)
		}
	}
	select {
	case <-s.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatalf("not complete: %d pending", s.PublishAsyncPending())
	}
	for i, f := range futures {
		a, err := f.Result()
		if err != nil || a.Sequence != uint64(i+1) {
			t.Fatalf("future %d = %+v, %v", i, a, err)
		}
	}
	m, err := s.GetMsg(ctx, n)
	if err != nil || string(m.Payload) != fmt.Sprint(n-1) {
		t.Fatalf("last = %+v, %v", m, err)
	}
	// A refused message fails only its own future.
	bad, err := s.PublishAsync(ctx, "nobody."+s.Name(), nil)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := s.PublishAsync(ctx, s.Name(), nil)
	if _, err := bad.Wait(ctx); !errors.Is(err, waymaker.ErrNoSubject) {
		t.Fatalf("unbound async = %v", err)
	}
	if a, err := good.Wait(ctx); err != nil || a.Sequence != n+1 {
		t.Fatalf("after a refused one = %+v, %v", a, err)
	}
}

func TestStreamPublishAsyncDedupesByMsgID(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	var fs []*waymaker.PubAckFuture
	for i := range 200 {
		f, err := s.PublishAsync(ctx, s.Name(), nil, stream.WithMsgID(fmt.Sprint(i%100)))
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	<-s.PublishAsyncComplete()
	for i, f := range fs {
		a, err := f.Result()
		if err != nil || a.Duplicate != (i >= 100) || a.Sequence != uint64(i%100+1) {
			t.Fatalf("future %d = %+v, %v", i, a, err)
		}
	}
}

func TestStreamPublishBatch(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{MaxMsgSize: 100})
	msgs := make([]stream.Message, 1000)
	for i := range msgs {
		msgs[i] = stream.Message{Subject: s.Name() + ".b", Data: []byte(fmt.Sprint(i)), MsgID: fmt.Sprint("b", i)}
	}
	msgs[500].Data = make([]byte, 200) // over MaxMsgSize: fails alone
	acks, err := s.PublishBatch(ctx, msgs)
	if err != nil {
		t.Fatal(err)
	}
	seq := uint64(0)
	for i, a := range acks {
		if i == 500 {
			var werr *waymaker.Error
			if !errors.As(a.Err, &werr) || werr.Code != "limit_exceeded" {
				t.Fatalf("oversized = %+v", a)
			}
			continue
		}
		seq++
		if a.Err != nil || a.Sequence != seq {
			t.Fatalf("ack %d = %+v, want seq %d", i, a, seq)
		}
	}
	// The same batch again is all duplicates.
	msgs[500].Data = nil
	acks, err = s.PublishBatch(ctx, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if !acks[0].Duplicate || acks[0].Sequence != 1 || acks[500].Duplicate {
		t.Fatalf("re-sent batch: %+v / %+v", acks[0], acks[500])
	}
	if info, _ := s.Info(ctx); info.State.Msgs != 1000 {
		t.Fatalf("stored %d", info.State.Msgs)
	}
}

// TestStreamBadInput sends bad input through the SDK (refused before
// sending, Kind "invalid") and straight to the server through the generated
// stub (invalid_argument naming the field), and checks nothing was stored.
func TestStreamBadInput(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{MaxMsgSize: 64})
	cons, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "d"})
	if err != nil {
		t.Fatal(err)
	}

	// SDK side.
	_, err = s.Publish(ctx, s.Name()+".*", nil)
	wantCode(t, err, "invalid", "invalid_argument", "wildcards")
	_, err = s.Publish(ctx, "", nil)
	wantCode(t, err, "invalid", "invalid_argument", "subject")
	_, err = s.CreateConsumer(ctx, waymaker.ConsumerConfig{DeliverPolicy: waymaker.DeliverByStartSeq})
	wantCode(t, err, "invalid", "invalid_argument", "OptStartSeq")
	_, err = c.CreateStream(ctx, waymaker.StreamConfig{Name: "bad name"})
	wantCode(t, err, "invalid", "invalid_argument", "Name")

	// Server side: rules the SDK cannot know.
	_, err = s.Publish(ctx, "unbound."+s.Name(), nil)
	wantCode(t, err, "server", "no_subject", "subject")
	_, err = s.Publish(ctx, s.Name(), make([]byte, 100))
	wantCode(t, err, "server", "limit_exceeded", "max_msg_size")
	_, err = c.GetStream(ctx, "missing_"+s.Name())
	wantCode(t, err, "server", "not_found", "missing_")
	_, err = s.Consumer("missing").Fetch(ctx, 1, 0)
	wantCode(t, err, "server", "not_found", "consumer")
	_, err = s.Consumer("missing").Messages(ctx)
	wantCode(t, err, "server", "not_found", "consumer")
	other := c.Streams().Stream(s.Name() + "_other")
	_, err = other.Publish(ctx, s.Name(), nil) // bound, but by another stream
	wantCode(t, err, "server", "no_subject", "expected stream")

	// Server side through the generated stub, bypassing SDK validation.
	rpc := streampb.NewStreamServiceClient(c.Conn())
	check := func(r interface {
		GetSuccess() bool
		GetResultCode() string
		GetMessage() string
	}, err error, field string) {
		t.Helper()
		if err != nil || r.GetSuccess() || r.GetResultCode() != "invalid_argument" || !strings.HasPrefix(r.GetMessage(), field) {
			t.Fatalf("want invalid_argument naming %s, got %v / %v", field, r, err)
		}
	}
	pr, err := rpc.Publish(ctx, &streampb.StreamServicePublishRequest{Message: &streampb.StreamPublishMessage{Subject: s.Name() + ".>"}})
	check(pr.GetResult(), err, "message.subject")
	pr, err = rpc.Publish(ctx, &streampb.StreamServicePublishRequest{Message: &streampb.StreamPublishMessage{Subject: s.Name(), Data: make([]byte, 2<<20)}})
	check(pr.GetResult(), err, "message.data")
	pr, err = rpc.Publish(ctx, &streampb.StreamServicePublishRequest{})
	check(pr.GetResult(), err, "message")
	cr, err := rpc.CreateStream(ctx, &streampb.StreamServiceCreateStreamRequest{Config: &streampb.StreamConfig{Name: "x", Subjects: []string{"a.>.b"}}})
	check(cr.GetResult(), err, "config.subjects[0]")
	cr, err = rpc.CreateStream(ctx, &streampb.StreamServiceCreateStreamRequest{Config: &streampb.StreamConfig{Name: "x", MaxMsgs: -1}})
	check(cr.GetResult(), err, "config.max_msgs")
	cr, err = rpc.CreateStream(ctx, &streampb.StreamServiceCreateStreamRequest{})
	check(cr.GetResult(), err, "config")
	ccr, err := rpc.CreateConsumer(ctx, &streampb.StreamServiceCreateConsumerRequest{Stream: s.Name(), Config: &streampb.ConsumerConfig{
		DeliverPolicy: streampb.ConsumerDeliverPolicy_CONSUMER_DELIVER_POLICY_BY_START_SEQ}})
	check(ccr.GetResult(), err, "config.opt_start_seq")
	ccr, err = rpc.CreateConsumer(ctx, &streampb.StreamServiceCreateConsumerRequest{Stream: s.Name(), Config: &streampb.ConsumerConfig{DeliverPolicy: 99}})
	check(ccr.GetResult(), err, "config.deliver_policy")
	ar, err := rpc.Ack(ctx, &streampb.StreamServiceAckRequest{Stream: s.Name(), Consumer: "d"})
	check(ar.GetResult(), err, "items")
	ar, err = rpc.Ack(ctx, &streampb.StreamServiceAckRequest{Stream: s.Name(), Consumer: "d", Items: []*streampb.StreamAckItem{{StreamSeq: 0}}})
	check(ar.GetResult(), err, "items[0].stream_seq")
	fr, err := rpc.Fetch(ctx, &streampb.StreamServiceFetchRequest{Stream: s.Name(), Consumer: "d", Batch: -1})
	check(fr.GetResult(), err, "batch")
	br, err := rpc.PublishBatch(rawCtx(ctx), &streampb.StreamServicePublishBatchRequest{Messages: []*streampb.StreamPublishMessage{{Subject: s.Name()}, {Subject: "a..b"}}})
	if err != nil || !br.GetResult().GetSuccess() || !br.GetAcks()[0].GetResult().GetSuccess() {
		t.Fatalf("batch with one bad message = %v, %v", br, err)
	}
	check(br.GetAcks()[1].GetResult(), nil, "messages[1].subject")
	pur, err := rpc.Purge(ctx, &streampb.StreamServicePurgeRequest{Stream: s.Name(), Seq: 3, Keep: 1})
	check(pur.GetResult(), err, "keep")
	gr, err := rpc.GetMsg(ctx, &streampb.StreamServiceGetMsgRequest{Stream: s.Name()})
	check(gr.GetResult(), err, "seq")

	// Nothing but the batch's one valid message was stored, and the
	// consumer is untouched.
	if info, _ := s.Info(ctx); info.State.Msgs != 1 || info.State.ConsumerCount != 1 {
		t.Fatalf("state after bad input: %+v", info.State)
	}
	if info, _ := cons.Info(ctx); info.Delivered.Stream != 0 {
		t.Fatalf("consumer moved: %+v", info)
	}
}

// TestStreamAtLeastOnceAcrossRestart publishes 10,000 messages with ids
// while a durable consumer receives and acks, restarts the server (with a
// data dir) in the middle, and checks that every acknowledged publish was
// received at least once.
func TestStreamAtLeastOnceAcrossRestart(t *testing.T) {
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir())
	ctx := testCtx(t, 300*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	_, it := pushMessages(t, ctx, s, waymaker.ConsumerConfig{DurableName: "alo", AckWait: time.Second})

	const n = 10_000
	var mu sync.Mutex
	received := map[string]int{}
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		var acks sync.WaitGroup
		defer acks.Wait()
		sem := make(chan struct{}, 64) // acks in flight, so raft batches them
		for {
			m, err := it.Next()
			if err != nil {
				return
			}
			mu.Lock()
			received[m.MsgID]++
			mu.Unlock()
			sem <- struct{}{}
			acks.Add(1)
			go func() {
				defer acks.Done()
				_ = m.Ack(ctx) // may fail across the restart: then it is redelivered
				<-sem
			}()
		}
	}()

	// Eight publishers, each retrying through the restart by msg id.
	const publishers = 8
	acked := make([]bool, n)
	var sent atomic.Int64
	var pubs sync.WaitGroup
	pubErr := make(chan error, publishers)
	for p := range publishers {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for i := p; i < n; i += publishers {
				_, err := s.Publish(ctx, s.Name()+".alo", []byte(fmt.Sprint(i)), stream.WithMsgID(fmt.Sprint("m", i)))
				if err == nil {
					acked[i] = true
				} else if ctx.Err() != nil {
					pubErr <- err
					return
				}
				sent.Add(1)
			}
		}()
	}
	// Restart in the middle of publishing.
	if !eventually(120*time.Second, func() bool { return sent.Load() >= n/2 }) {
		t.Fatalf("only %d published", sent.Load())
	}
	srv.Restart()
	pubs.Wait()
	close(pubErr)
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	missing := func() []int {
		mu.Lock()
		defer mu.Unlock()
		var out []int
		for i := range n {
			if acked[i] && received[fmt.Sprint("m", i)] == 0 {
				out = append(out, i)
			}
		}
		return out
	}
	if !eventually(120*time.Second, func() bool { return len(missing()) == 0 }) {
		m := missing()
		t.Fatalf("%d acknowledged publishes never received, e.g. %v", len(m), m[:min(len(m), 10)])
	}
	nacked := 0
	for _, a := range acked {
		if a {
			nacked++
		}
	}
	if nacked < n*9/10 {
		t.Fatalf("only %d of %d publishes acknowledged", nacked, n)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// msg ids made the retried publishes exactly-once in the stream.
	if info.State.Msgs != int64(nacked) {
		t.Fatalf("stream holds %d messages, %d publishes acknowledged", info.State.Msgs, nacked)
	}
	it.Stop()
	<-recvDone
}
