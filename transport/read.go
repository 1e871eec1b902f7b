package transport

import (
	"context"

	"google.golang.org/grpc/metadata"
)

// readConsistencyKey is the metadata key the server reads a call's read
// consistency from (server.ReadConsistencyKey).
const readConsistencyKey = "waymaker-read"

// StaleRead returns a context under which reads are answered from the
// local state of whichever node each call reaches, without confirming
// that it is current: faster, and available on a node cut off from the
// leader, but it may miss the latest writes (like etcd's serializable
// reads and NATS's direct get). Reads are linearizable by default: they
// see every write acknowledged before they began.
func StaleRead(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, readConsistencyKey, "stale")
}

// LinearizableRead returns a context under which reads are linearizable
// even on a server configured for stale reads by default.
func LinearizableRead(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, readConsistencyKey, "linearizable")
}
