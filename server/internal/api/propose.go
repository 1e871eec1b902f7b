package api

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Proposer sends one command through raft and returns its apply result.
// *raftnode.Node implements it; tests may substitute their own.
type Proposer interface {
	Propose(ctx context.Context, subsystem string, op uint16, payload []byte) (any, error)
}

// OnceProposer is a Proposer that also proposes commands with a client-made
// request id, which the FSM applies at most once per id (fsm/dedup.go).
// *raftnode.Node implements it. A Proposer without it (a test's) applies
// every proposal.
type OnceProposer interface {
	Proposer
	ProposeOnce(ctx context.Context, subsystem string, op uint16, requestID string, payload []byte) (any, error)
}

// CommandProposer is a Proposer that also proposes a whole command, which
// a fenced mutation needs (the fence travels in the command, where the FSM
// checks it: fsm/fence.go). *raftnode.Node implements it; it stamps the
// command's time itself.
type CommandProposer interface {
	Proposer
	ProposeCommand(ctx context.Context, cmd fsm.Command) (any, error)
}

// fencer is every request message with a fence field.
type fencer interface{ GetFence() *commonpb.Fence }

// FenceOf is the fence of msg, or the zero fsm.Fence when it has none.
func FenceOf(msg proto.Message) fsm.Fence {
	if f, ok := msg.(fencer); ok {
		if pf := f.GetFence(); pf != nil {
			return fsm.Fence{Key: pf.GetKey(), Token: pf.GetToken()}
		}
	}
	return fsm.Fence{}
}

// checkFence validates the fence of msg, when it has one: a key of
// 1..maxKey bytes and a positive token. A fence with an empty key is
// refused, not ignored: the caller asked for a condition it did not name.
func checkFence(msg proto.Message, field string, maxKey int) *commonpb.Result {
	f, ok := msg.(fencer)
	if !ok || f.GetFence() == nil {
		return nil
	}
	var v Validator
	v.NonEmpty(field+".key", f.GetFence().GetKey())
	v.MaxLen(field+".key", len(f.GetFence().GetKey()), min(maxKey, fsm.MaxFenceKeyLen))
	v.Check(f.GetFence().GetToken() > 0, field+".token", "must be positive (fence tokens start at 1)")
	return v.Result()
}

// requestIDer is every request message with a request_id field.
type requestIDer interface{ GetRequestId() string }

// RequestID is the client-made request id of msg, or "" when it has none.
//
// The lock service's request_id is not this: it names a lease owner across
// many calls (acquire, renew, release), so its handlers propose through
// ProposeEach, and the lock state machine deduplicates by lease itself.
func RequestID(msg proto.Message) string {
	if r, ok := msg.(requestIDer); ok {
		return r.GetRequestId()
	}
	return ""
}

// checkRequestID validates a request id: at most fsm.MaxRequestIDLen bytes.
func checkRequestID(id string) *commonpb.Result {
	if len(id) > fsm.MaxRequestIDLen {
		return result.Invalid("request_id", fmt.Sprintf("is %d bytes, limit %d", len(id), fsm.MaxRequestIDLen))
	}
	return nil
}

// Propose marshals msg as the payload of a command (subsystem, op), proposes
// it, and returns the apply result as R. On failure it returns a non-nil
// Result ready to put in the response, and R's zero value.
//
// When msg carries a request id (RequestID), the command is proposed with
// it, so a retry of the same request is answered with the first answer
// instead of being applied again.
//
// R is what the subsystem's Apply returns for op, conventionally the
// operation's proto response; a different type is an internal error.
//
// When msg carries a fence (FenceOf), the command carries it too, and the
// FSM applies it only while the fence's lock is held with its token; a
// refusal comes back as the Result (code "fenced"). Validate the fence
// first (write does, with checkFence).
func Propose[R any](ctx context.Context, p Proposer, subsystem string, op uint16, msg proto.Message) (R, *commonpb.Result) {
	return propose[R](ctx, p, subsystem, op, RequestID(msg), FenceOf(msg), msg)
}

// ProposeEach is Propose without the request id: every proposal applies.
func ProposeEach[R any](ctx context.Context, p Proposer, subsystem string, op uint16, msg proto.Message) (R, *commonpb.Result) {
	return propose[R](ctx, p, subsystem, op, "", FenceOf(msg), msg)
}

// errNoFence answers a fenced proposal to a Proposer that cannot carry a
// fence: never apply it unfenced.
var errNoFence = errors.New("this proposer cannot carry a fence")

// proposePayload proposes an encoded payload, at most once per request id
// when rid is set and p can, and under fence when it is set.
func proposePayload(ctx context.Context, p Proposer, subsystem string, op uint16, rid string, fence fsm.Fence, payload []byte) (any, error) {
	if fence.Key != "" {
		cp, ok := p.(CommandProposer)
		if !ok {
			return nil, errNoFence
		}
		return cp.ProposeCommand(ctx, fsm.Command{Subsystem: subsystem, Op: op, RequestID: rid, Fence: fence, Payload: payload})
	}
	if once, ok := p.(OnceProposer); ok && rid != "" {
		return once.ProposeOnce(ctx, subsystem, op, rid, payload)
	}
	return p.Propose(ctx, subsystem, op, payload)
}

func propose[R any](ctx context.Context, p Proposer, subsystem string, op uint16, rid string, fence fsm.Fence, msg proto.Message) (R, *commonpb.Result) {
	var zero R
	if r := checkRequestID(rid); r != nil {
		return zero, r
	}
	// Deterministic, so that a retry of the same request has the same
	// payload, and so the same digest in the FSM's memory of request ids.
	payload, err := proto.MarshalOptions{Deterministic: rid != ""}.Marshal(msg)
	if err != nil {
		return zero, result.Failf(result.CodeInternal, "marshal %s command: %v", subsystem, err)
	}
	res, err := proposePayload(ctx, p, subsystem, op, rid, fence, payload)
	if err != nil {
		return zero, FromError(err)
	}
	r, ok := res.(R)
	if !ok {
		if refused, isResult := res.(*commonpb.Result); isResult && !refused.GetSuccess() {
			return zero, refused // the FSM refused it before dispatch (a fence)
		}
		return zero, result.Failf(result.CodeInternal, "%s op %d applied with a %T result, want %T", subsystem, op, res, zero)
	}
	return r, nil
}

// failed is the response R carrying only the failed Result r. Every
// response message has `Result result = 1` (common.proto); a test checks
// it for every response type.
func failed[R proto.Message](r *commonpb.Result) R {
	var zero R
	m := zero.ProtoReflect().New()
	m.Set(m.Descriptor().Fields().ByName("result"), protoreflect.ValueOfMessage(r.ProtoReflect()))
	return m.Interface().(R)
}

// respond answers resp, or failed[R](r) when r is set: the tail of a
// handler that called Propose or a backend answering (response, Result).
func respond[R proto.Message](resp R, r *commonpb.Result) (R, error) {
	if r != nil {
		return failed[R](r), nil
	}
	return resp, nil
}

// write is the one shape of a mutation: check is the request's validation
// (nil: valid); a valid request is proposed as op of subsystem, and the
// applied response (or the proposal's failure) is the answer.
//
//	func (s *KVService) Delete(ctx context.Context, req *kvpb.KVServiceDeleteRequest) (*kvpb.KVServiceDeleteResponse, error) {
//		return write[*kvpb.KVServiceDeleteResponse](ctx, s.d, kv.Name, kv.OpDelete, req, s.checkWrite(...))
//	}
func write[R proto.Message](ctx context.Context, d Deps, subsystem string, op uint16, req proto.Message, check *commonpb.Result) (R, error) {
	if check == nil {
		check = checkFence(req, "fence", d.Limits.MaxKeyLen)
	}
	if check != nil {
		return failed[R](check), nil
	}
	return respond(Propose[R](ctx, d.Node, subsystem, op, req))
}

// read is the one shape of a unary read: check is the request's validation
// (nil: valid); a valid request passes the read barrier and is answered by
// answer, from local state.
func read[R proto.Message](ctx context.Context, d Deps, check *commonpb.Result, answer func() R) (R, error) {
	if r := readStart(ctx, d, check); r != nil {
		return failed[R](r), nil
	}
	return answer(), nil
}

// readStart is where every read starts: unary reads through read, and
// streams (watches, listings, downloads, push delivery) at their start. It
// answers check, the request's validation, when it failed; otherwise it
// waits at the read barrier (Deps.ReadBarrier) and answers its failure, or
// nil when the read may go on.
func readStart(ctx context.Context, d Deps, check *commonpb.Result) *commonpb.Result {
	if check != nil || d.ReadBarrier == nil {
		return check
	}
	if err := d.ReadBarrier(ctx); err != nil {
		return FromError(err)
	}
	return nil
}
