package api

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/kv"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/lock"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/raftnode"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/sketch"
)

// TestEveryResponseCarriesResult: failed builds any response by setting
// its `result` field, so every rpc's response message must have one, of
// type waymaker.v1.Result.
func TestEveryResponseCarriesResult(t *testing.T) {
	methods := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("waymaker.v1", func(fd protoreflect.FileDescriptor) bool {
		svcs := fd.Services()
		for i := range svcs.Len() {
			ms := svcs.Get(i).Methods()
			for j := range ms.Len() {
				methods++
				out := ms.Get(j).Output()
				f := out.Fields().ByName("result")
				if f == nil || f.Message() == nil || f.Message().FullName() != "waymaker.v1.Result" {
					t.Errorf("%s: response %s has no `Result result` field", ms.Get(j).FullName(), out.FullName())
				}
			}
		}
		return true
	})
	if methods < 50 {
		t.Fatalf("found %d methods; are the services linked in?", methods)
	}
	r := result.Invalid("key", "must not be empty")
	if got := failed[*kvpb.KVServicePutResponse](r); got.GetResult() != r || got.GetRevision() != 0 {
		t.Fatalf("failed = %v", got)
	}
}

// TestWriteValidatesBeforeProposing: a failed check is the answer, and
// nothing is proposed; a proposal's failure is the answer too.
func TestWriteValidatesBeforeProposing(t *testing.T) {
	p := &fakeProposer{err: raftnode.ErrShuttingDown}
	d := Deps{Node: p, Limits: DefaultLimits()}
	resp, err := write[*kvpb.KVServicePutResponse](context.Background(), d, kv.Name, kv.OpPut, &kvpb.KVServicePutRequest{}, result.Invalid("bucket", "must not be empty"))
	if err != nil || resp.GetResult().GetResultCode() != result.CodeInvalidArgument || p.got != nil {
		t.Fatalf("invalid write: %v, %v, proposed %x", resp, err, p.got)
	}
	resp, err = write[*kvpb.KVServicePutResponse](context.Background(), d, kv.Name, kv.OpPut, &kvpb.KVServicePutRequest{Bucket: "b"}, nil)
	if err != nil || resp.GetResult().GetResultCode() != result.CodeUnavailable || p.got == nil {
		t.Fatalf("write while stopping: %v, %v", resp, err)
	}
}

// barrier is a ReadBarrier that counts its calls and answers err.
type barrier struct {
	calls int
	err   error
}

func (b *barrier) wait(context.Context) error { b.calls++; return b.err }

type sentStream[T any] struct {
	grpc.ServerStream
	ctx  context.Context
	sent []*T
}

func (s *sentStream[T]) Context() context.Context { return s.ctx }
func (s *sentStream[T]) Send(m *T) error          { s.sent = append(s.sent, m); return nil }

// TestReadBarrier: every read, unary or streamed, passes the read barrier
// once, after validation and before it looks at local state; a barrier that
// fails (not the leader) is the answer, mapped by FromError.
func TestReadBarrier(t *testing.T) {
	ctx := context.Background()
	notLeader := &raftnode.NotLeaderError{LeaderID: "n2", LeaderAddr: "10.0.0.2:8818"}
	b := &barrier{err: notLeader}
	d := Deps{Node: &fakeProposer{}, Limits: DefaultLimits(), ReadBarrier: b.wait}
	kvs := NewKVService(kv.New(), d)

	if resp, _ := kvs.Get(ctx, &kvpb.KVServiceGetRequest{Bucket: "b"}); resp.GetResult().GetResultCode() != result.CodeInvalidArgument || b.calls != 0 {
		t.Fatalf("invalid get: %v, %d barrier calls (want the validation's answer, no barrier)", resp, b.calls)
	}
	resp, _ := kvs.Get(ctx, &kvpb.KVServiceGetRequest{Bucket: "b", Key: "k"})
	if resp.GetResult().GetResultCode() != result.CodeNotLeader || resp.GetResult().GetLeaderHint() != "10.0.0.2:8818" || b.calls != 1 {
		t.Fatalf("get behind a failing barrier: %v, %d calls", resp, b.calls)
	}
	keys := &sentStream[kvpb.KVServiceKeysResponse]{ctx: ctx}
	if err := kvs.Keys(&kvpb.KVServiceKeysRequest{Bucket: "b"}, keys); err != nil || len(keys.sent) != 1 ||
		keys.sent[0].GetResult().GetResultCode() != result.CodeNotLeader || b.calls != 2 {
		t.Fatalf("keys behind a failing barrier: %v, %v, %d calls", err, keys.sent, b.calls)
	}
	watch := &sentStream[kvpb.KVServiceWatchResponse]{ctx: ctx}
	if err := kvs.Watch(&kvpb.KVServiceWatchRequest{Bucket: "b"}, watch); err != nil || len(watch.sent) != 1 ||
		watch.sent[0].GetResult().GetResultCode() != result.CodeNotLeader || b.calls != 3 {
		t.Fatalf("watch behind a failing barrier: %v, %v, %d calls", err, watch.sent, b.calls)
	}
	sk := NewSketchService(sketch.New(SketchLimits(d.Limits)), d)
	if resp, _ := sk.HLLCount(ctx, &sketchpb.SketchServiceHLLCountRequest{Name: "h"}); resp.GetResult().GetResultCode() != result.CodeNotLeader || b.calls != 4 {
		t.Fatalf("sketch read behind a failing barrier: %v, %d calls", resp, b.calls)
	}

	// A barrier that lets the read go: it reads local state.
	b.err = nil
	if resp, _ := kvs.Get(ctx, &kvpb.KVServiceGetRequest{Bucket: "b", Key: "k"}); resp.GetResult().GetResultCode() != result.CodeNotFound || b.calls != 5 {
		t.Fatalf("get behind an open barrier: %v, %d calls", resp, b.calls)
	}
	// A barrier that fails for a reason other than leadership.
	b.err = errors.New("boom")
	if resp, _ := kvs.Get(ctx, &kvpb.KVServiceGetRequest{Bucket: "b", Key: "k"}); resp.GetResult().GetResultCode() != result.CodeInternal {
		t.Fatalf("get behind a broken barrier: %v", resp)
	}

	// Local-scope locks are the node's own: their reads need no barrier.
	b.err, b.calls = notLeader, 0
	locks := NewLockService(lock.New(), d)
	if resp, _ := locks.Inspect(ctx, &lockpb.LockServiceInspectRequest{Key: "k", Scope: lockpb.LockScope_LOCK_SCOPE_LOCAL}); !resp.GetResult().GetSuccess() || b.calls != 0 {
		t.Fatalf("local inspect: %v, %d barrier calls", resp, b.calls)
	}
	if resp, _ := locks.Inspect(ctx, &lockpb.LockServiceInspectRequest{Key: "k"}); resp.GetResult().GetResultCode() != result.CodeNotLeader || b.calls != 1 {
		t.Fatalf("quorum inspect: %v, %d barrier calls", resp, b.calls)
	}

	// Without a barrier (one node), reads always go on.
	d.ReadBarrier = nil
	if resp, _ := NewKVService(kv.New(), d).Get(ctx, &kvpb.KVServiceGetRequest{Bucket: "b", Key: "k"}); resp.GetResult().GetResultCode() != result.CodeNotFound {
		t.Fatalf("get without a barrier: %v", resp)
	}
}
