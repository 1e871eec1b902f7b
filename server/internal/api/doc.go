// Package api holds what every gRPC handler of the server shares: result
// constructors and codes, request validation against configurable Limits,
// and Propose, which sends a command through raft and maps its failure to a
// Result.
//
// A handler follows one shape: validate, propose, (wait), reply.
//
//	func (s *KVService) Put(ctx context.Context, req *kvpb.KVServicePutRequest) (*kvpb.KVServicePutResponse, error) {
//		var v Validator
//		v.NonEmpty("bucket", req.GetBucket())
//		v.MaxLen("key", len(req.GetKey()), s.d.Limits.MaxKeyLen)
//		if r := v.Result(); r != nil {
//			return &kvpb.KVServicePutResponse{Result: r}, nil
//		}
//		resp, r := Propose[*kvpb.KVServicePutResponse](ctx, s.d.Node, kv.Name, kv.OpPut, req)
//		if r != nil {
//			return &kvpb.KVServicePutResponse{Result: r}, nil
//		}
//		return resp, nil
//	}
//
// Propose carries the request's request_id into the command, so a retried
// mutation is answered with its first answer (fsm/dedup.go).
//
// Failures travel in the response's Result; a handler returns a non-nil
// gRPC error only for what the wire contract says (Unimplemented). Blocking
// operations wait on a notify.Notifier fired by apply code, never while
// holding a lock across a Propose.
package api
