package api

import (
	"context"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
)

// Proposer sends one command through raft and returns its apply result.
// *raftnode.Node implements it; tests may substitute their own.
type Proposer interface {
	Propose(ctx context.Context, subsystem string, op uint16, payload []byte) (any, error)
}

// Propose marshals msg as the payload of a command (subsystem, op), proposes
// it, and returns the apply result as R. On failure it returns a non-nil
// Result ready to put in the response, and R's zero value.
//
// R is what the subsystem's Apply returns for op, conventionally the
// operation's proto response; a different type is an internal error.
func Propose[R any](ctx context.Context, p Proposer, subsystem string, op uint16, msg proto.Message) (R, *commonpb.Result) {
	var zero R
	payload, err := proto.Marshal(msg)
	if err != nil {
		return zero, Failf(CodeInternal, "marshal %s command: %v", subsystem, err)
	}
	res, err := p.Propose(ctx, subsystem, op, payload)
	if err != nil {
		return zero, FromError(err)
	}
	r, ok := res.(R)
	if !ok {
		return zero, Failf(CodeInternal, "%s op %d applied with a %T result, want %T", subsystem, op, res, zero)
	}
	return r, nil
}
