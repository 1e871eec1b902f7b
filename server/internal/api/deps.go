package api

import (
	"context"

	"go.uber.org/zap"
)

// Deps is what the server hands each subsystem's gRPC service when it wires
// it (server/services.go).
type Deps struct {
	// Node proposes commands through raft.
	Node Proposer
	// Remembered answers the response the FSM gave to a request id of a
	// subsystem, while it remembers it (fsm.FSM.Remembered). A handler that
	// decides from local state whether to propose at all (a blocking pop)
	// asks it first, so a retry of a call that was applied gets its answer.
	// Nil in tests: nothing is remembered.
	Remembered func(subsystem, requestID string) (any, bool)
	// Limits are the validated request limits, defaults applied.
	Limits Limits
	// Logger is the server's logger; never nil.
	Logger *zap.Logger
	// DataDir is the server's data directory ("" in memory mode); a
	// subsystem that keeps data outside the raft log (object blobs) keeps it
	// under DataDir/<subsystem>.
	DataDir string
	// DisableCache turns the cache service off: it answers gRPC
	// Unimplemented, as a server without caching does.
	DisableCache bool
	// ReadBarrier waits until this node may serve a linearizable read; nil:
	// always (single node). Every read passes through it once before it
	// looks at local state (read, and readStart for streams); its error maps
	// through FromError.
	ReadBarrier func(ctx context.Context) error
	// Stopping is closed when the server begins to stop. Long-lived streams
	// (watches, consumer deliveries) and blocking waits should end then,
	// answering unavailable, so the graceful stop does not wait them out and
	// clients rebind to the restarted server.
	Stopping <-chan struct{}
	// Subs counts what watch and delivery streams hold for their readers
	// (subscription.go); nil counts nothing.
	Subs *Subscriptions
}
