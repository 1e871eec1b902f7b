// Package objstore is the reference server's object store: a deterministic
// state machine of stores and object versions, and the blob store that
// holds their data (the gRPC service that streams it is api's
// ObjectStoreService).
//
// Object data never passes through the raft log. A Put streams its chunks
// into a staged blob (Stage; a file under <data dir>/objstore/staging, or memory
// without a data dir) while hashing them; only when the commit message
// arrives and the size and digest check out does the service propose a
// small commit command (OpCommit, EncodeCommit) (store, metadata, size, digest and the blob's id).
// Applying it adopts the blob (a rename into <data dir>/objstore/blobs) and
// drops the blob of the version it replaces. A Put that ends any other way
// discards its staged blob; a commit whose outcome is unknown is followed by
// a discard command that raft orders after it. Blobs left by a crash are
// swept on the first request after a restart, once the log has replayed
// (Sweep).
//
// Snapshots carry the metadata and then every referenced blob's bytes,
// streamed from the files; blobs dropped while a snapshot is being written
// are removed only after it. Restore writes back the blobs a data dir lacks.
//
// Without a data dir, blobs live in memory (as the chunks that arrived,
// shared with readers), like the rest of an in-memory server's state.
package objstore
