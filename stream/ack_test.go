package stream_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/stream"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// ackServer is a stream server that delivers messages on Fetch and
// records every Ack request; while gate is set, Ack handlers wait for it
// to be closed.
type ackServer struct {
	streampb.UnimplementedStreamServiceServer

	mu      sync.Mutex
	reqs    [][]uint64 // stream seqs of each Ack request, in arrival order
	gate    chan struct{}
	entered chan struct{} // receives once per Ack request, before the gate
	refuse  bool          // answer every item not_found
	// refuseSeq answers the items of these stream seqs not_found.
	refuseSeq map[uint64]bool
	// failSeq fails a whole request carrying one of these stream seqs
	// (PermissionDenied, which is never retried).
	failSeq map[uint64]bool
	// noResults answers success without per-item results.
	noResults bool
}

func (s *ackServer) Fetch(_ context.Context, req *streampb.StreamServiceFetchRequest) (*streampb.StreamServiceFetchResponse, error) {
	msgs := make([]*streampb.StreamMsg, req.GetBatch())
	for i := range msgs {
		msgs[i] = &streampb.StreamMsg{Subject: "s.x", Stream: req.GetStream(), Consumer: req.GetConsumer(), StreamSeq: uint64(i + 1), ConsumerSeq: uint64(i + 1), NumDelivered: 1}
	}
	return &streampb.StreamServiceFetchResponse{Result: &commonpb.Result{Success: true}, Msgs: msgs}, nil
}

func (s *ackServer) Ack(ctx context.Context, req *streampb.StreamServiceAckRequest) (*streampb.StreamServiceAckResponse, error) {
	seqs := make([]uint64, len(req.GetItems()))
	for i, it := range req.GetItems() {
		seqs[i] = it.GetStreamSeq()
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, seqs)
	gate, refuse, refuseSeq, failSeq, noResults := s.gate, s.refuse, s.refuseSeq, s.failSeq, s.noResults
	s.mu.Unlock()
	select {
	case s.entered <- struct{}{}:
	default:
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for _, q := range seqs {
		if failSeq[q] {
			return nil, status.Error(codes.PermissionDenied, "denied")
		}
	}
	if noResults {
		return &streampb.StreamServiceAckResponse{Result: &commonpb.Result{Success: true}}, nil
	}
	results := make([]*commonpb.Result, len(seqs))
	for i := range results {
		results[i] = &commonpb.Result{Success: true}
		if refuse || refuseSeq[seqs[i]] {
			results[i] = &commonpb.Result{ResultCode: "not_found", Message: "consumer not found"}
		}
	}
	return &streampb.StreamServiceAckResponse{Result: &commonpb.Result{Success: true}, Results: results}, nil
}

func (s *ackServer) requests() [][]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]uint64(nil), s.reqs...)
}

// acked returns every stream seq the server was sent an ack for.
func (s *ackServer) acked() map[uint64]bool {
	out := map[uint64]bool{}
	for _, r := range s.requests() {
		for _, q := range r {
			out[q] = true
		}
	}
	return out
}

// startAckServer serves srv on a free port and dials it; the Conn is
// closed when the test ends (before the server stops).
func startAckServer(t *testing.T, srv *ackServer, opts ...transport.Option) (*transport.Conn, *stream.Client) {
	t.Helper()
	srv.entered = make(chan struct{}, 1)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	streampb.RegisterStreamServiceServer(gs, srv)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(lis)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-served
	})
	conn, err := transport.Dial(context.Background(), []string{lis.Addr().String()}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, stream.New(conn)
}

func fetch(t *testing.T, c *stream.Client, n int) []*stream.Msg {
	t.Helper()
	msgs, err := c.Stream("s").Consumer("c").Fetch(context.Background(), n, 0)
	if err != nil || len(msgs) != n {
		t.Fatalf("fetch = %d, %v", len(msgs), err)
	}
	return msgs
}

func waitEntered(t *testing.T, srv *ackServer) {
	t.Helper()
	select {
	case <-srv.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no Ack request reached the server")
	}
}

// Ack returns without waiting for the server: with the server's Ack
// handler held, acks are handed over at once; the ones made while a
// request is in flight travel together in the next one.
func TestAckDoesNotWaitAndCoalesces(t *testing.T) {
	gate := make(chan struct{})
	srv := &ackServer{gate: gate}
	_, c := startAckServer(t, srv)
	msgs := fetch(t, c, 500)
	ctx := context.Background()
	if err := msgs[0].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	waitEntered(t, srv) // the first ack is in flight, and held
	for _, m := range msgs[1:] {
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Every Ack returned while the server had answered none.
	if got := srv.requests(); len(got) != 1 {
		t.Fatalf("%d Ack requests while the first is held, want 1", len(got))
	}
	close(gate)
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.FlushAcks(fctx); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 2 || len(reqs[0]) != 1 || len(reqs[1]) != 499 {
		lens := make([]int, len(reqs))
		for i, r := range reqs {
			lens[i] = len(r)
		}
		t.Fatalf("Ack requests carried %v acks, want [1 499]", lens)
	}
	if a := srv.acked(); len(a) != 500 {
		t.Fatalf("server saw acks of %d messages, want 500", len(a))
	}
	if n := c.AckFailures(); n != 0 {
		t.Fatalf("AckFailures = %d", n)
	}
}

// Concurrent consumers' acks: far fewer Ack requests than acks.
func TestAckConcurrentFewerRequests(t *testing.T) {
	gate := make(chan struct{})
	srv := &ackServer{gate: gate}
	_, c := startAckServer(t, srv)
	const workers, per = 8, 200
	batches := make([][]*stream.Msg, workers)
	for w := range batches {
		batches[w] = fetch(t, c, per)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*per)
	for _, b := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, m := range b {
				if err := m.Ack(context.Background()); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait() // every Ack returned, the handler still held
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	close(gate)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.FlushAcks(ctx); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range srv.requests() {
		total += len(r)
	}
	if n := len(srv.requests()); total != workers*per || n > 4 {
		t.Fatalf("%d acks in %d requests, want %d in at most 4", total, n, workers*per)
	}
}

// Closing the connection sends the acks still queued first.
func TestAckCloseFlushes(t *testing.T) {
	gate := make(chan struct{})
	srv := &ackServer{gate: gate}
	conn, c := startAckServer(t, srv)
	msgs := fetch(t, c, 101)
	for _, m := range msgs[:100] {
		if err := m.Ack(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	waitEntered(t, srv)
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_ = conn.Close()
	}()
	select {
	case <-closed:
		t.Fatal("Close returned with acks pending")
	case <-srv.entered: // impossible: the first request is still held
		t.Fatal("second request before the first was answered")
	default:
	}
	close(gate)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	if a := srv.acked(); len(a) != 100 {
		t.Fatalf("server saw %d acks before Close returned, want 100", len(a))
	}
	if err := msgs[100].Ack(context.Background()); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Ack after Close = %v, want ErrClosed", err)
	}
	// Refused, the ack was not taken: the message is still open.
	if err := msgs[100].Ack(context.Background()); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("second Ack after Close = %v, want ErrClosed", err)
	}
}

// A server that never answers: Close gives up after its bound, and the
// dropped acks are counted and logged.
func TestAckCloseBounded(t *testing.T) {
	defer stream.SetAckCloseTimeout(200 * time.Millisecond)()
	gate := make(chan struct{})
	defer close(gate)
	srv := &ackServer{gate: gate}
	core, logs := observer.New(zapcore.WarnLevel)
	conn, c := startAckServer(t, srv, transport.WithLogger(zap.New(core)))
	msgs := fetch(t, c, 10)
	for _, m := range msgs {
		if err := m.Ack(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	waitEntered(t, srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = conn.Close()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with the server holding the acks")
	}
	if n := c.AckFailures(); n != 10 {
		t.Fatalf("AckFailures = %d, want 10", n)
	}
	if logs.FilterMessageSnippet("acks").Len() == 0 {
		t.Fatalf("no warning logged for the lost acks: %v", logs.All())
	}
}

// Acks the server refuses are counted and logged, not returned.
func TestAckRefusedCounted(t *testing.T) {
	srv := &ackServer{refuse: true}
	core, logs := observer.New(zapcore.WarnLevel)
	_, c := startAckServer(t, srv, transport.WithLogger(zap.New(core)))
	msgs := fetch(t, c, 3)
	for _, m := range msgs {
		if err := m.Ack(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.FlushAcks(ctx); err != nil {
		t.Fatal(err)
	}
	if n := c.AckFailures(); n != 3 {
		t.Fatalf("AckFailures = %d, want 3", n)
	}
	if logs.FilterMessageSnippet("refused").Len() == 0 {
		t.Fatalf("no warning logged: %v", logs.All())
	}
	// AckSync returns the server's answer.
	fresh := fetch(t, c, 1)
	if err := fresh[0].AckSync(ctx); !errors.Is(err, transport.ErrNotFound) {
		t.Fatalf("AckSync = %v, want not found", err)
	}
}

// A settled message: a second Ack, AckSync, Nak, Term or InProgress fails
// naming the message and sends nothing.
func TestAckTwiceRefused(t *testing.T) {
	srv := &ackServer{}
	_, c := startAckServer(t, srv)
	m := fetch(t, c, 1)[0]
	ctx := context.Background()
	if err := m.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.FlushAcks(fctx); err != nil {
		t.Fatal(err)
	}
	wantInvalid(t, m.Ack(ctx), "Msg")
	wantInvalid(t, m.AckSync(ctx), "Msg")
	wantInvalid(t, m.Nak(ctx), "Msg")
	wantInvalid(t, m.Term(ctx), "Msg")
	wantInvalid(t, m.InProgress(ctx), "Msg")
	if n := len(srv.requests()); n != 1 {
		t.Fatalf("%d Ack requests, want 1", n)
	}
	wantInvalid(t, (&stream.Msg{}).AckSync(ctx), "Msg")
}

// With MaxAckQueue acks pending, Ack waits for room until its ctx ends.
func TestAckBackPressure(t *testing.T) {
	gate := make(chan struct{})
	srv := &ackServer{gate: gate}
	_, c := startAckServer(t, srv)
	var msgs []*stream.Msg
	for len(msgs) < stream.MaxAckQueue+1 {
		msgs = append(msgs, fetch(t, c, 10_000)...)
	}
	ctx := context.Background()
	for _, m := range msgs[:stream.MaxAckQueue] {
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err := msgs[stream.MaxAckQueue].Ack(short)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ack with the queue full = %v, want the deadline", err)
	}
	close(gate)
	// Room again: the refused message can be acked now.
	if err := msgs[stream.MaxAckQueue].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	fctx, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	if err := c.FlushAcks(fctx); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Concurrent AckSyncs on one consumer share requests: while one is in
// flight, the others made meanwhile travel together in the next, and each
// returns its own item's result from it (a refused one its own error, the
// others nil), and only once the server has answered.
func TestAckSyncConcurrentShareRequests(t *testing.T) {
	gate := make(chan struct{})
	srv := &ackServer{gate: gate, refuseSeq: map[uint64]bool{7: true}}
	_, c := startAckServer(t, srv)
	const n = 16
	msgs := fetch(t, c, n)
	ctx := context.Background()
	errs := make([]chan error, n)
	for i := range errs {
		errs[i] = make(chan error, 1)
	}
	go func() { errs[0] <- msgs[0].AckSync(ctx) }()
	waitEntered(t, srv) // the first is in flight, and held
	for i := 1; i < n; i++ {
		go func() { errs[i] <- msgs[i].AckSync(ctx) }()
	}
	waitFor(t, "every AckSync handed over", func() bool { return stream.PendingAcks(c) == n })
	for i := range errs {
		select {
		case err := <-errs[i]:
			t.Fatalf("AckSync of seq %d returned %v before the server answered", msgs[i].StreamSeq, err)
		default:
		}
	}
	close(gate)
	for i, m := range msgs {
		select {
		case err := <-errs[i]:
			if m.StreamSeq == 7 {
				if !errors.Is(err, transport.ErrNotFound) {
					t.Errorf("AckSync of refused seq 7 = %v, want not found", err)
				}
			} else if err != nil {
				t.Errorf("AckSync of seq %d = %v", m.StreamSeq, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("AckSync of seq %d did not return", m.StreamSeq)
		}
	}
	reqs := srv.requests()
	if len(reqs) != 2 || len(reqs[0]) != 1 || len(reqs[1]) != n-1 {
		lens := make([]int, len(reqs))
		for i, r := range reqs {
			lens[i] = len(r)
		}
		t.Fatalf("%d AckSyncs carried by requests of %v acks, want [1 %d]", n, lens, n-1)
	}
	// AckSync's failures are returned, not counted with Msg.Ack's.
	if f := c.AckFailures(); f != 0 {
		t.Fatalf("AckFailures = %d, want 0", f)
	}
}

// An AckSync and the Acks made while a request of the consumer is in
// flight travel together; the AckSync returns once that request is
// answered.
func TestAckSyncRidesWithAcks(t *testing.T) {
	gate := make(chan struct{})
	srv := &ackServer{gate: gate}
	_, c := startAckServer(t, srv)
	msgs := fetch(t, c, 4)
	ctx := context.Background()
	if err := msgs[0].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	waitEntered(t, srv)
	if err := msgs[1].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- msgs[2].AckSync(ctx) }()
	waitFor(t, "the AckSync handed over", func() bool { return stream.PendingAcks(c) == 3 })
	if err := msgs[3].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	close(gate)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("AckSync did not return")
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.FlushAcks(fctx); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 2 || len(reqs[1]) != 3 {
		t.Fatalf("Ack requests %v, want [[1] [2 3 4]]", reqs)
	}
}

// A cancelled ctx returns AckSync at once with ctx's error, whether its
// ack is in flight or queued; the queued ack is still sent.
func TestAckSyncCancelled(t *testing.T) {
	gate := make(chan struct{})
	srv := &ackServer{gate: gate}
	_, c := startAckServer(t, srv)
	msgs := fetch(t, c, 2)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { errs <- msgs[0].AckSync(ctx) }()
	waitEntered(t, srv)
	go func() { errs <- msgs[1].AckSync(ctx) }()
	waitFor(t, "both AckSyncs handed over", func() bool { return stream.PendingAcks(c) == 2 })
	cancel()
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled AckSync = %v, want context.Canceled", err)
			}
			var e *transport.Error
			if !errors.As(err, &e) {
				t.Fatalf("cancelled AckSync = %T, want *transport.Error", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("cancelled AckSync did not return")
		}
	}
	close(gate)
	waitFor(t, "the queued ack sent", func() bool { return srv.acked()[2] })

	// A ctx already ended: AckSync sends nothing.
	fresh := fetch(t, c, 3)[2]
	if err := fresh.AckSync(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("AckSync with a cancelled ctx = %v, want context.Canceled", err)
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer fcancel()
	if err := c.FlushAcks(fctx); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.requests()); n != 2 {
		t.Fatalf("%d Ack requests, want 2 (nothing for the cancelled AckSync)", n)
	}
}

// A batch request that fails: each AckSync that rode in it returns the
// failure as a *transport.Error; the Msg.Ack in it is counted, not
// returned; the request before it is unaffected.
func TestAckSyncBatchFails(t *testing.T) {
	gate := make(chan struct{})
	srv := &ackServer{gate: gate, failSeq: map[uint64]bool{3: true}}
	_, c := startAckServer(t, srv)
	msgs := fetch(t, c, 4)
	ctx := context.Background()
	errs := make([]chan error, len(msgs))
	for i := range errs {
		errs[i] = make(chan error, 1)
	}
	go func() { errs[0] <- msgs[0].AckSync(ctx) }()
	waitEntered(t, srv)
	go func() { errs[1] <- msgs[1].AckSync(ctx) }()
	waitFor(t, "the first rider queued", func() bool { return stream.PendingAcks(c) == 2 })
	if err := msgs[2].Ack(ctx); err != nil { // seq 3: its request fails
		t.Fatal(err)
	}
	go func() { errs[3] <- msgs[3].AckSync(ctx) }()
	waitFor(t, "every ack queued", func() bool { return stream.PendingAcks(c) == 4 })
	close(gate)
	for _, i := range []int{0, 1, 3} {
		select {
		case err := <-errs[i]:
			var e *transport.Error
			switch {
			case i == 0 && err != nil:
				t.Errorf("AckSync sent alone = %v, want nil", err)
			case i != 0 && (!errors.As(err, &e) || !errors.Is(err, transport.ErrPermissionDenied)):
				t.Errorf("AckSync of seq %d in the failed request = %v (%T), want a *transport.Error PermissionDenied", msgs[i].StreamSeq, err, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("AckSync of seq %d did not return", msgs[i].StreamSeq)
		}
	}
	if reqs := srv.requests(); len(reqs) != 2 || len(reqs[1]) != 3 {
		t.Fatalf("Ack requests %v, want [[1] [2 3 4]]", reqs)
	}
	if f := c.AckFailures(); f != 1 {
		t.Fatalf("AckFailures = %d, want 1 (the Msg.Ack in the failed request)", f)
	}
}

// A response that confirms nothing for the item is not a success.
func TestAckSyncNoResult(t *testing.T) {
	srv := &ackServer{noResults: true}
	_, c := startAckServer(t, srv)
	err := fetch(t, c, 1)[0].AckSync(context.Background())
	if !transport.IsServerCode(err, transport.CodeInternal) {
		t.Fatalf("AckSync answered without its result = %v, want internal", err)
	}
}

// An AckSync waiting in the queue when the connection closes returns
// ErrClosed; after Close, AckSync refuses at once.
func TestAckSyncClosed(t *testing.T) {
	defer stream.SetAckCloseTimeout(100 * time.Millisecond)()
	gate := make(chan struct{})
	defer close(gate)
	srv := &ackServer{gate: gate}
	conn, c := startAckServer(t, srv)
	msgs := fetch(t, c, 3)
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { first <- msgs[0].AckSync(ctx) }()
	waitEntered(t, srv)
	queued := make(chan error, 1)
	go func() { queued <- msgs[1].AckSync(ctx) }()
	waitFor(t, "the AckSync queued", func() bool { return stream.PendingAcks(c) == 2 })
	_ = conn.Close()
	for i, ch := range []chan error{first, queued} {
		select {
		case err := <-ch:
			if !errors.Is(err, transport.ErrClosed) {
				t.Fatalf("AckSync %d pending at Close = %v, want ErrClosed", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("AckSync did not return after Close")
		}
	}
	if err := msgs[2].AckSync(ctx); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("AckSync after Close = %v, want ErrClosed", err)
	}
}
