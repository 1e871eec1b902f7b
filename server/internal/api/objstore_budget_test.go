package api

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/objstore"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// heldProposer stands for raft under the object store: every command
// applies to sm, but a chunk's proposal is held until the test releases it
// (or its context ends), so the test decides when chunk data stops being in
// flight. It measures the chunk bytes inside Propose at any moment.
type heldProposer struct {
	sm *objstore.Machine

	mu        sync.Mutex
	held      []heldChunk   // chunks not yet released, oldest first
	heldBytes int64         // their data
	inflight  int64         // chunk data in Propose, held or released, not yet returned
	peak      int64         // the most inflight ever was
	chunks    int           // chunk proposals so far
	changed   chan struct{} // closed and replaced on every change of the above
}

type heldChunk struct {
	release chan struct{}
	n       int64
}

func newHeldProposer(sm *objstore.Machine) *heldProposer {
	return &heldProposer{sm: sm, changed: make(chan struct{})}
}

// signal wakes the waiters; p.mu is held.
func (p *heldProposer) signal() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *heldProposer) Propose(ctx context.Context, subsystem string, op uint16, payload []byte) (any, error) {
	if op == objstore.OpChunk {
		n := chunkDataLen(payload)
		release := make(chan struct{})
		p.mu.Lock()
		p.held = append(p.held, heldChunk{release, n})
		p.heldBytes += n
		p.inflight += n
		p.peak = max(p.peak, p.inflight)
		p.chunks++
		p.signal()
		p.mu.Unlock()
		var err error
		select {
		case <-release:
		case <-ctx.Done():
			err = ctx.Err()
		}
		p.mu.Lock()
		p.inflight -= n
		if i := slices.IndexFunc(p.held, func(c heldChunk) bool { return c.release == release }); i >= 0 {
			p.heldBytes -= n
			p.held = slices.Delete(p.held, i, i+1)
		}
		p.signal()
		p.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	res := p.sm.Apply(fsm.Command{Subsystem: subsystem, Op: op, AtMs: time.Now().UnixMilli(), Payload: payload})
	if err, ok := res.(error); ok {
		return nil, err
	}
	return res, nil
}

// releaseOldest lets the oldest held chunk apply; p.mu is held.
func (p *heldProposer) releaseOldest() {
	close(p.held[0].release)
	p.heldBytes -= p.held[0].n
	p.held = p.held[1:]
}

// waitFor waits, up to 10s, until cond (called with p.mu held) is true.
func (p *heldProposer) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		ok, changed := cond(), p.changed
		p.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			p.mu.Lock()
			defer p.mu.Unlock()
			t.Fatalf("%s: not within 10s (%d chunks proposed, %d held, %d bytes in flight)", what, p.chunks, len(p.held), p.inflight)
		}
	}
}

// chunkDataLen is the length of the data an OpChunk payload carries (see
// objstore.EncodeChunk).
func chunkDataLen(p []byte) int64 {
	n, k := binary.Uvarint(p) // blob id length, then the id
	p = p[k+int(n):]
	_, k = binary.Uvarint(p) // chunk size
	p = p[k:]
	_, k = binary.Uvarint(p) // index
	return int64(len(p[k:]) - 4)
}

// putStream is the server side of a Put whose client sends msgs, then
// waits for the context to end.
type putStream struct {
	grpc.ServerStream
	ctx  context.Context
	msgs []*objstorepb.ObjectStoreServicePutRequest
	sent chan struct{} // closed once the last message was received
	resp *objstorepb.ObjectStoreServicePutResponse
}

func (s *putStream) Context() context.Context { return s.ctx }

func (s *putStream) Recv() (*objstorepb.ObjectStoreServicePutRequest, error) {
	if len(s.msgs) == 0 {
		<-s.ctx.Done()
		return nil, s.ctx.Err()
	}
	m := s.msgs[0]
	s.msgs = s.msgs[1:]
	if len(s.msgs) == 0 && s.sent != nil {
		close(s.sent)
	}
	return m, nil
}

func (s *putStream) SendAndClose(r *objstorepb.ObjectStoreServicePutResponse) error {
	s.resp = r
	return nil
}

// putMessages is a Put of data as object name of store, in client chunks of
// piece bytes, with its commit when commit is set.
func putMessages(store, name string, data []byte, piece int, commit bool) []*objstorepb.ObjectStoreServicePutRequest {
	msgs := []*objstorepb.ObjectStoreServicePutRequest{{Part: &objstorepb.ObjectStoreServicePutRequest_Header{
		Header: &objstorepb.ObjectPutHeader{Store: store, Meta: &objstorepb.ObjectMeta{Name: name}},
	}}}
	for off := 0; off < len(data); off += piece {
		msgs = append(msgs, &objstorepb.ObjectStoreServicePutRequest{Part: &objstorepb.ObjectStoreServicePutRequest_Chunk{
			Chunk: &objstorepb.ObjectChunk{Offset: int64(off), Data: data[off:min(off+piece, len(data))]},
		}})
	}
	if commit {
		msgs = append(msgs, &objstorepb.ObjectStoreServicePutRequest{Part: &objstorepb.ObjectStoreServicePutRequest_Commit{
			Commit: &objstorepb.ObjectPutCommit{},
		}})
	}
	return msgs
}

// newBudgetService is an object store service over a machine in memory
// with a store "s" of chunkSize chunks, proposing through a heldProposer.
func newBudgetService(t *testing.T, chunkSize int32) (*ObjectStoreService, *heldProposer) {
	t.Helper()
	sm, err := objstore.New("")
	if err != nil {
		t.Fatal(err)
	}
	payload, err := proto.Marshal(&objstorepb.ObjectStoreServiceCreateStoreRequest{Config: &objstorepb.ObjectStoreConfig{Name: "s", ChunkSize: chunkSize}})
	if err != nil {
		t.Fatal(err)
	}
	res := sm.Apply(fsm.Command{Subsystem: objstore.Name, Op: objstore.OpCreateStore, Payload: payload})
	if r, ok := res.(*objstorepb.ObjectStoreServiceCreateStoreResponse); !ok || !r.GetResult().GetSuccess() {
		t.Fatalf("create store: %v", res)
	}
	p := newHeldProposer(sm)
	return NewObjectStoreService(sm, Deps{Node: p, Limits: DefaultLimits(), Logger: zap.NewNop(), Stopping: make(chan struct{})}), p
}

// freeOf is what b has free.
func freeOf(b *byteBudget) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.free
}

// TestPutInflightBytesStayWithinTheBudget: concurrent Puts, with every
// chunk proposal held until the test lets it apply, never have more than
// DefaultPutInflightBytes of chunk data proposed and not yet returned, and
// reach that bound (so the test did press against it). The test lets the
// oldest chunk apply only when the budget is full, or when every chunk is
// proposed, and every Put then completes with its data intact. While the
// held chunks fill the budget, it checks that the budget gives no byte more:
// whether it gives one is known at once, so that check fails at the first
// full budget whenever the Puts' chunks get past it.
func TestPutInflightBytesStayWithinTheBudget(t *testing.T) {
	const (
		cs      = objstore.MaxChunkSize // 8 chunks fill the budget
		puts    = 3
		perPut  = 4 // chunks
		total   = puts * perPut
		budget  = DefaultPutInflightBytes
		clientN = 256 << 10 // the client's message size, re-cut to cs by the server
	)
	s, p := newBudgetService(t, cs)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(cancel) // on a failure, ends the Puts still held (runs before wg.Wait)
	ended, endNow := context.WithCancel(context.Background())
	endNow()

	datas := make([][]byte, puts)
	streams := make([]*putStream, puts)
	for i := range puts {
		datas[i] = make([]byte, perPut*cs) // every chunk of every object differs
		for j := range datas[i] {
			datas[i][j] = byte(j*7 + j/cs*13 + i*101)
		}
		streams[i] = &putStream{ctx: ctx, msgs: putMessages("s", fmt.Sprintf("o%d", i), datas[i], clientN, true)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Put(streams[i])
		}()
	}

	for released := 0; released < total; released++ {
		p.waitFor(t, "a full budget or every chunk proposed", func() bool {
			return len(p.held) > 0 && (p.heldBytes >= budget || p.chunks == total)
		})
		// Only the test releases held chunks, so while they fill the
		// budget nothing may take from it. (A context already ended makes
		// acquire answer at once: the bytes if they are free, else the
		// context's error.)
		p.mu.Lock()
		full, heldBytes := p.heldBytes >= budget, p.heldBytes
		p.mu.Unlock()
		if full {
			if err := answerOf(t, "an acquire with an ended context", acquireAsync(ended, s.budget, 1)); err == nil {
				s.budget.release(1)
				t.Fatalf("with %d bytes of chunks held in raft, the budget of %d still gave a byte", heldBytes, budget)
			}
		}
		p.mu.Lock()
		p.releaseOldest()
		p.mu.Unlock()
	}
	wg.Wait()

	p.mu.Lock()
	peak, chunks := p.peak, p.chunks
	p.mu.Unlock()
	if peak > budget {
		t.Fatalf("%d bytes of chunks were in flight at once, over the budget of %d", peak, budget)
	}
	if peak != budget || chunks != total {
		t.Fatalf("peak %d bytes in flight over %d chunk proposals, want the whole budget %d over %d", peak, chunks, budget, total)
	}
	for i, st := range streams {
		if !st.resp.GetResult().GetSuccess() {
			t.Fatalf("Put o%d: %v", i, st.resp.GetResult())
		}
		ver, _, ok := s.sm.Lookup("s", fmt.Sprintf("o%d", i))
		if !ok || ver == nil {
			t.Fatalf("o%d was not committed", i)
		}
		rd, err := s.sm.Open(ver.Blob)
		if err != nil {
			t.Fatal(err)
		}
		for k := range int64(perPut) {
			buf, err := objstore.ReadChunk(rd, ver, k)
			if err != nil || !bytes.Equal(buf, datas[i][k*cs:(k+1)*cs]) {
				t.Errorf("o%d chunk %d: %d bytes, %v", i, k, len(buf), err)
			}
		}
		_ = rd.Close()
	}
	if free := freeOf(s.budget); free != budget {
		t.Fatalf("the budget has %d bytes free after every Put ended, want %d", free, budget)
	}
}

// TestPutInflightWaitEndsWithTheStream: a Put whose chunk waits for a full
// budget ends when its stream's context does: it answers unavailable,
// proposes none of its data, and gives back no bytes it did not take.
func TestPutInflightWaitEndsWithTheStream(t *testing.T) {
	s, p := newBudgetService(t, objstore.MinChunkSize)
	// Something else holds the whole budget.
	if err := s.budget.acquire(context.Background(), DefaultPutInflightBytes); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := &putStream{ctx: ctx, msgs: putMessages("s", "o", bytes.Repeat([]byte("x"), objstore.MinChunkSize), objstore.MinChunkSize, false), sent: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Put(st)
	}()
	// The chunk arrived, and fills the Put's buffer: the Put sends it,
	// waiting for the budget.
	select {
	case <-st.sent:
	case <-time.After(10 * time.Second):
		t.Fatal("the Put did not take its chunk within 10s")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the Put waiting for the budget did not end with its stream within 10s")
	}
	if r := st.resp.GetResult(); r.GetResultCode() != result.CodeUnavailable {
		t.Fatalf("Put: %v", r)
	}
	p.mu.Lock()
	chunks := p.chunks
	p.mu.Unlock()
	if chunks != 0 {
		t.Fatalf("%d chunks proposed while the budget was full", chunks)
	}
	if free := freeOf(s.budget); free != 0 {
		t.Fatalf("the budget has %d bytes free, want 0 (its holder has not released)", free)
	}
	s.budget.release(DefaultPutInflightBytes)
	if free := freeOf(s.budget); free != DefaultPutInflightBytes {
		t.Fatalf("the budget has %d bytes free after its holder released, want %d", free, DefaultPutInflightBytes)
	}
}

// acquireSoon calls b.acquire(n) with a context that ends after d, for a
// request that should wait: a correct budget answers the context's error.
// An acquire that outlives its context by 10s fails the test (and is left
// behind, which goleak reports too).
func acquireSoon(t *testing.T, b *byteBudget, n int64, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return answerOf(t, "an acquire whose context ends", acquireAsync(ctx, b, n))
}

// acquireAsync starts b.acquire(ctx, n) and returns where its error lands.
func acquireAsync(ctx context.Context, b *byteBudget, n int64) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- b.acquire(ctx, n) }()
	return ch
}

// answerOf returns what ch delivers within 10s, failing the test otherwise.
func answerOf(t *testing.T, what string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer within 10s", what)
		return nil
	}
}

// TestByteBudgetWaitsForReleaseAndEndsWithItsContext: acquire takes bytes
// only while they are free, waits for a release otherwise (waking only the
// requests that then fit), and when its context ends while waiting answers
// the context's error, holding nothing.
func TestByteBudgetWaitsForReleaseAndEndsWithItsContext(t *testing.T) {
	b := newByteBudget(10)
	if err := b.acquire(context.Background(), 6); err != nil {
		t.Fatal(err)
	}
	if err := b.acquire(context.Background(), 4); err != nil {
		t.Fatal(err)
	}
	// Full: a request waits, until its context ends.
	if err := acquireSoon(t, b, 1, 20*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire from a full budget: %v, want it to wait out its deadline", err)
	}
	// Three waiters of 4; a release of 8 lets exactly two through.
	ctxs := make([]context.Context, 3)
	cancels := make([]context.CancelFunc, 3)
	results := make(chan error, 3)
	for i := range ctxs {
		ctxs[i], cancels[i] = context.WithCancel(context.Background())
		defer cancels[i]()
		ch := acquireAsync(ctxs[i], b, 4)
		go func() { results <- <-ch }()
	}
	b.release(6)
	b.release(2) // 8 free now
	for range 2 {
		if err := answerOf(t, "a waiter that fits after the release", results); err != nil {
			t.Fatalf("a waiter that fits: %v", err)
		}
	}
	// The third does not fit (0 free): ending its context ends its wait.
	for _, c := range cancels {
		c()
	}
	if err := answerOf(t, "the waiter whose context ended", results); !errors.Is(err, context.Canceled) {
		t.Fatalf("the waiter that did not fit: %v, want context.Canceled", err)
	}
	b.release(4)
	b.release(4)
	b.release(2)
	if freeOf(b) != 10 {
		t.Fatalf("%d bytes free after every holder released, want 10 (the cancelled waiter took or gave back some)", freeOf(b))
	}
	// A context already ended does not keep a request that fits from
	// taking its bytes, nor make one that does not fit wait.
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.acquire(ended, 10); err != nil {
		t.Fatal(err)
	}
	if err := b.acquire(ended, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire with an ended context from a full budget: %v", err)
	}
	b.release(10)
}

// TestByteBudgetOversizeRequestProceedsAlone: a request larger than the
// whole budget, which can never fit, does not wait forever: it waits until
// nothing else holds any of the budget, then takes it all, and others wait
// until it releases.
func TestByteBudgetOversizeRequestProceedsAlone(t *testing.T) {
	b := newByteBudget(1 << 10)
	if err := b.acquire(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	if err := acquireSoon(t, b, 4<<10, 20*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an oversize request while 100 bytes are held: %v, want it to wait", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	big := acquireAsync(ctx, b, 4<<10)
	b.release(100)
	if err := answerOf(t, "an oversize request once the budget is free", big); err != nil {
		t.Fatalf("an oversize request once the budget is free: %v", err)
	}
	if err := acquireSoon(t, b, 1, 20*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a request while an oversize one holds the budget: %v, want it to wait", err)
	}
	b.release(4 << 10)
	if freeOf(b) != 1<<10 {
		t.Fatalf("%d bytes free after the oversize request released, want %d", freeOf(b), 1<<10)
	}

	// Through a chunkProposer: a chunk larger than the budget is proposed.
	proposed := 0
	cp := &chunkProposer{ctx: ctx, budget: b, blob: objstore.NewBlobID(), cs: 4 << 10,
		p: proposeFunc(func(context.Context, string, uint16, []byte) (any, error) { proposed++; return nil, nil })}
	sent := make(chan error, 1)
	go func() {
		if err := cp.send(0, make([]byte, 4<<10)); err != nil {
			sent <- err
			return
		}
		sent <- cp.wait()
	}()
	if err := answerOf(t, "a chunk larger than the budget", sent); err != nil || proposed != 1 {
		t.Fatalf("a chunk larger than the budget: %v, %d proposals", err, proposed)
	}
	if freeOf(b) != 1<<10 {
		t.Fatalf("%d bytes free after the chunk applied, want %d", freeOf(b), 1<<10)
	}
}

// proposeFunc is a Proposer calling itself.
type proposeFunc func(ctx context.Context, subsystem string, op uint16, payload []byte) (any, error)

func (f proposeFunc) Propose(ctx context.Context, subsystem string, op uint16, payload []byte) (any, error) {
	return f(ctx, subsystem, op, payload)
}
