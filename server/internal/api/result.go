package api

import (
	"context"
	"errors"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/raftnode"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// FromError maps an error from Propose (or anything a handler could not
// complete) to a Result:
//   - not the leader: not_leader, with leader_hint set when the leader is known;
//   - stopping, starting, or an outcome lost with leadership: unavailable
//     (safe to retry: mutations carry client-made ids for deduplication);
//   - a request id used before for another request: invalid_argument;
//   - the request's context ended (also as a gRPC status): unavailable (the
//     client has gone or given up);
//   - anything else, including an error returned by a subsystem's Apply: internal.
//
// A nil error maps to OK.
func FromError(err error) *commonpb.Result {
	var nl *raftnode.NotLeaderError
	switch {
	case err == nil:
		return result.OK()
	case errors.As(err, &nl):
		r := result.Fail(result.CodeNotLeader, nl.Error())
		r.LeaderHint = nl.LeaderAddr
		return r
	case errors.Is(err, raftnode.ErrShuttingDown), errors.Is(err, raftnode.ErrUnavailable), errors.Is(err, raftnode.ErrNotStarted):
		return result.Fail(result.CodeUnavailable, err.Error())
	case errors.Is(err, raftnode.ErrInvalid):
		return result.Fail(result.CodeInvalidArgument, err.Error())
	case errors.Is(err, raftnode.ErrUnknownMember):
		return result.Fail(result.CodeNotFound, err.Error())
	case errors.Is(err, fsm.ErrRequestIDReused):
		return result.Fail(result.CodeInvalidArgument, err.Error())
	case status.Code(err) == codes.Unavailable:
		// The cluster's read barrier and forwarding: no leader reachable.
		// The leader this node knows, if any, travels on as the hint.
		st := status.Convert(err)
		r := result.Fail(result.CodeUnavailable, st.Message())
		for _, d := range st.Details() {
			if h, ok := d.(*commonpb.Result); ok {
				r.LeaderHint = h.GetLeaderHint()
			}
		}
		return r
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		// The cluster's read barrier answers the request's end as a status.
		status.Code(err) == codes.Canceled, status.Code(err) == codes.DeadlineExceeded:
		return result.Fail(result.CodeUnavailable, "request ended before the outcome was known: "+err.Error())
	default:
		return result.Fail(result.CodeInternal, err.Error())
	}
}
