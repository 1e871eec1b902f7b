package api

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/collections"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// collProposer applies commands straight to the state machine, stamped with
// the wall clock, as a single raft node would; it has no ticker, so these
// tests see the waits work without ticks.
type collProposer struct {
	sm   *collections.Machine
	pops *atomic.Int64
}

func (p collProposer) Propose(_ context.Context, _ string, op uint16, payload []byte) (any, error) {
	if op == collections.OpQueuePop {
		p.pops.Add(1)
	}
	res := p.sm.ApplyOp(op, time.Now().UnixMilli(), payload)
	if err, ok := res.(error); ok {
		return nil, err
	}
	return res, nil
}

func newCollections(t *testing.T) (*CollectionsService, chan struct{}) {
	svc, stopping, _ := newCollectionsCounting(t)
	return svc, stopping
}

func newCollectionsCounting(t *testing.T) (*CollectionsService, chan struct{}, *atomic.Int64) {
	t.Helper()
	sm := collections.New()
	stopping := make(chan struct{})
	pops := &atomic.Int64{}
	svc := NewCollectionsService(sm, Deps{Node: collProposer{sm, pops}, Limits: DefaultLimits(), Stopping: stopping})
	resp, _ := svc.CreateStore(context.Background(), &pb.CollectionsServiceCreateStoreRequest{Config: &pb.CollectionsStoreConfig{
		Name: "q", Kind: &pb.CollectionsStoreConfig_Queue{Queue: &pb.QueueConfig{}}}})
	if !resp.GetResult().GetSuccess() {
		t.Fatal(resp.GetResult())
	}
	return svc, stopping, pops
}

// A push that wakes many waiters costs about one pop in the log, not one
// per waiter: waiters propose only while fewer pops are in flight than
// messages are ready.
func TestCollectionsPopHerd(t *testing.T) {
	svc, _, pops := newCollectionsCounting(t)
	ctx := context.Background()
	const waiters = 20
	var got atomic.Int64
	var wg sync.WaitGroup
	for range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := svc.QueuePop(ctx, &pb.CollectionsServiceQueuePopRequest{Queue: "q", WaitMs: 400})
			got.Add(int64(len(resp.GetMessages())))
		}()
	}
	svc.QueuePush(ctx, &pb.CollectionsServiceQueuePushRequest{Queue: "q", Payload: []byte("x"), Id: "a"})
	wg.Wait()
	if got.Load() != 1 {
		t.Fatalf("%d messages handed out, want 1", got.Load())
	}
	if n := pops.Load(); n > 3 {
		t.Fatalf("%d pops proposed for one message among %d waiters", n, waiters)
	}
}

func TestCollectionsPopWokenByPush(t *testing.T) {
	svc, _ := newCollections(t)
	ctx := context.Background()
	done := make(chan *pb.CollectionsServiceQueuePopResponse, 1)
	go func() {
		resp, _ := svc.QueuePop(ctx, &pb.CollectionsServiceQueuePopRequest{Queue: "q", WaitMs: 20_000})
		done <- resp
	}()
	start := time.Now()
	if r, _ := svc.QueuePush(ctx, &pb.CollectionsServiceQueuePushRequest{Queue: "q", Payload: []byte("x"), Id: "a"}); !r.GetResult().GetSuccess() {
		t.Fatal(r.GetResult())
	}
	resp := <-done
	if !resp.GetResult().GetSuccess() || len(resp.GetMessages()) != 1 || resp.GetMessages()[0].GetId() != "a" {
		t.Fatalf("pop = %v", resp)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("the push did not wake the pop")
	}
}

// A delayed message is popped when its delay ends, by the waiter's own
// timer: no tick and no notification is needed.
func TestCollectionsPopWaitsOutADelay(t *testing.T) {
	svc, _ := newCollections(t)
	ctx := context.Background()
	delay := int64(150)
	pushed := time.Now()
	svc.QueuePush(ctx, &pb.CollectionsServiceQueuePushRequest{Queue: "q", Payload: []byte("x"), DelayMs: &delay})
	resp, _ := svc.QueuePop(ctx, &pb.CollectionsServiceQueuePopRequest{Queue: "q", WaitMs: 10_000})
	if len(resp.GetMessages()) != 1 {
		t.Fatalf("pop = %v", resp)
	}
	if d := time.Since(pushed); d < 148*time.Millisecond || d > 5*time.Second { // the clock is in whole ms
		t.Fatalf("delayed message popped after %v", d)
	}
}

func TestCollectionsPopEnds(t *testing.T) {
	svc, stopping := newCollections(t)
	// Nothing within wait_ms: expired.
	resp, _ := svc.QueuePop(context.Background(), &pb.CollectionsServiceQueuePopRequest{Queue: "q", WaitMs: 30})
	if resp.GetResult().GetResultCode() != result.CodeExpired {
		t.Fatalf("empty pop = %v", resp.GetResult())
	}
	// The server stopping ends a wait with unavailable.
	done := make(chan *pb.CollectionsServiceQueuePopResponse, 1)
	go func() {
		resp, _ := svc.QueuePop(context.Background(), &pb.CollectionsServiceQueuePopRequest{Queue: "q", WaitMs: 60_000})
		done <- resp
	}()
	close(stopping)
	if r := <-done; r.GetResult().GetResultCode() != result.CodeUnavailable {
		t.Fatalf("pop during stop = %v", r.GetResult())
	}
	// A missing queue.
	resp, _ = svc.QueuePop(context.Background(), &pb.CollectionsServiceQueuePopRequest{Queue: "nope", WaitMs: 60_000})
	if resp.GetResult().GetResultCode() != result.CodeNotFound {
		t.Fatalf("pop of a missing queue = %v", resp.GetResult())
	}
}

func TestCollectionsStoreNames(t *testing.T) {
	svc, _ := newCollections(t)
	for _, name := range []string{"", "a b", "a/b", strings.Repeat("x", 257), "é"} {
		resp, _ := svc.HGet(context.Background(), &pb.CollectionsServiceHGetRequest{Store: name, Key: "k", Field: "f"})
		if resp.GetResult().GetResultCode() != result.CodeInvalidArgument || !strings.HasPrefix(resp.GetResult().GetMessage(), "store: ") {
			t.Errorf("store %q: %v", name, resp.GetResult())
		}
	}
}

// A MATCH pattern longer than MaxPatternLen is refused naming the field and
// the limit; one of exactly MaxPatternLen bytes is served.
func TestCollectionsMatchPatternLimit(t *testing.T) {
	svc, _ := newCollections(t)
	ctx := context.Background()
	for _, cfg := range []*pb.CollectionsStoreConfig{
		{Name: "s", Kind: &pb.CollectionsStoreConfig_Set{Set: &pb.SetStoreConfig{}}},
		{Name: "h", Kind: &pb.CollectionsStoreConfig_Hash{Hash: &pb.HashStoreConfig{}}},
	} {
		if resp, _ := svc.CreateStore(ctx, &pb.CollectionsServiceCreateStoreRequest{Config: cfg}); !resp.GetResult().GetSuccess() {
			t.Fatal(resp.GetResult())
		}
	}
	svc.SAdd(ctx, &pb.CollectionsServiceSAddRequest{Store: "s", Key: "k", Members: [][]byte{[]byte(strings.Repeat("a", 2000))}})
	max := DefaultLimits().MaxPatternLen
	if max != 1024 {
		t.Fatalf("MaxPatternLen default = %d, documented 1024", max)
	}
	scans := map[string]func(match string) (code, msg string, n int){
		"SScan": func(match string) (string, string, int) {
			r, _ := svc.SScan(ctx, &pb.CollectionsServiceSScanRequest{Store: "s", Key: "k", Match: match})
			return r.GetResult().GetResultCode(), r.GetResult().GetMessage(), len(r.GetMembers())
		},
		"HScan": func(match string) (string, string, int) {
			r, _ := svc.HScan(ctx, &pb.CollectionsServiceHScanRequest{Store: "h", Key: "k", Match: match})
			return r.GetResult().GetResultCode(), r.GetResult().GetMessage(), len(r.GetFields())
		},
		"ScanKeys": func(match string) (string, string, int) {
			r, _ := svc.ScanKeys(ctx, &pb.CollectionsServiceScanKeysRequest{Store: "s", Match: match})
			return r.GetResult().GetResultCode(), r.GetResult().GetMessage(), len(r.GetKeys())
		},
	}
	for name, scan := range scans {
		if code, msg, _ := scan(strings.Repeat("*", max+1)); code != result.CodeInvalidArgument || !strings.HasPrefix(msg, "match: ") || !strings.Contains(msg, "1024") {
			t.Errorf("%s with a %d-byte pattern: %s %q", name, max+1, code, msg)
		}
		if code, msg, _ := scan(strings.Repeat("*", max)); code != "" && code != "ok" {
			t.Errorf("%s with a %d-byte pattern: %s %q", name, max, code, msg)
		}
		if code, msg, _ := scan("[abc"); code != result.CodeInvalidArgument || !strings.HasPrefix(msg, "match: ") {
			t.Errorf("%s with an unclosed class: %s %q", name, code, msg)
		}
	}
	// The longest pattern still matches.
	if _, _, n := scans["SScan"](strings.Repeat("a", max-1) + "*"); n != 1 {
		t.Fatalf("SScan with a %d-byte pattern found %d members", max, n)
	}
}
