// Package objstore is the reference server's object store: a deterministic
// state machine of stores, object versions and uploads in progress, and the
// blob store that holds their data (the gRPC service that streams it is
// api's ObjectStoreService).
//
// Object data travels through the raft log, as the NATS object store's
// chunks are stream messages. A Put's handler re-cuts the data it receives
// into chunks of the store's chunk size and proposes each as an OpChunk
// command (EncodeChunk: blob id, chunk size, index, CRC-32C, data), several
// in flight at once; apply writes each chunk at its offset into the blob
// (a file under <data dir>/objstore/blobs, or memory without a data dir)
// on every replica, and records it in the upload. Only when every chunk
// has applied does the handler propose the commit (OpCommit, EncodeCommit:
// the blob id and the object's metadata), the commit point: apply checks
// that the upload is complete and makes the version visible everywhere at
// once. A Put that ends any other way proposes a discard (OpDiscard); an
// upload no chunk reached for the upload timeout is collected by a tick,
// a replicated command, so every replica drops the same chunks.
//
// Each chunk's CRC-32C is kept with the version and verified on every
// read (ReadChunk), when a snapshot is written and when one is restored; a
// chunk that fails it is an error naming the object and chunk, never data.
//
// Snapshots carry the metadata and then every referenced blob's chunks,
// streamed from the blob store; blobs dropped while a snapshot is being
// written are removed only after it. Restore verifies each chunk, writes
// the ones this node lacks and removes the blobs nothing refers to.
package objstore
