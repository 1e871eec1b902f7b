// Package api holds the gRPC handlers of the server, one service per
// subsystem (kv.go, lock.go, stream*.go, collections*.go, sketch.go,
// objstore.go, cache.go), and what they share: request validation against
// configurable Limits (validate.go), page tokens, and the helpers every
// handler goes through (propose.go). Result codes and constructors live in
// internal/result, which the state machines share.
//
// A handler has one shape: validate, then one helper call.
//
//	// A mutation: proposed through raft, answered by the applied response.
//	func (s *KVService) DeleteBucket(ctx context.Context, req *kvpb.KVServiceDeleteBucketRequest) (*kvpb.KVServiceDeleteBucketResponse, error) {
//		var v Validator
//		s.checkBucket(&v, "bucket", req.GetBucket())
//		return write[*kvpb.KVServiceDeleteBucketResponse](ctx, s.d, kv.Name, kv.OpDeleteBucket, req, v.Result())
//	}
//
//	// A read: past the read barrier, answered from the local state machine.
//	func (s *KVService) GetBucket(ctx context.Context, req *kvpb.KVServiceGetBucketRequest) (*kvpb.KVServiceGetBucketResponse, error) {
//		var v Validator
//		s.checkBucket(&v, "bucket", req.GetBucket())
//		return read(ctx, s.d, v.Result(), func() *kvpb.KVServiceGetBucketResponse {
//			info, ok := s.sm.Info(req.GetBucket())
//			if !ok {
//				return failed[*kvpb.KVServiceGetBucketResponse](result.Failf(result.CodeNotFound, "bucket %q does not exist", req.GetBucket()))
//			}
//			return &kvpb.KVServiceGetBucketResponse{Result: result.OK(), Info: info}
//		})
//	}
//
// write proposes (Propose carries the request's request_id into the
// command, so a retried mutation is answered with its first answer,
// fsm/dedup.go); read passes Deps.ReadBarrier first, where cluster mode
// confirms leadership. A streamed read (watch, listing, download, push
// delivery) calls readStart once at its start. A handler that waits
// (a blocking pop, a pull fetch, a lock acquisition) validates and returns
// respond(its helper's (response, Result)). failed builds the response
// that carries only a failed Result.
//
// Failures travel in the response's Result; a handler returns a non-nil
// gRPC error only for what the wire contract says (Unimplemented, and
// Unavailable on a stream the server ends). Blocking operations wait on
// their machine's Watch (a notify.Waiter fired by apply code), never while
// holding a lock across a Propose.
package api
