// Package api holds what every gRPC handler of the server shares: result
// constructors and codes, request validation against configurable Limits,
// and Propose, which sends a command through raft and maps its failure to a
// Result.
//
// A handler follows one shape: validate, propose, (wait), reply.
//
//	func (h *handler) Put(ctx context.Context, req *kvpb.PutRequest) (*kvpb.PutResponse, error) {
//		var v api.Validator
//		v.NonEmpty("bucket", req.GetBucket())
//		v.MaxLen("key", len(req.GetKey()), h.limits.MaxKeyLen)
//		if r := v.Result(); r != nil {
//			return &kvpb.PutResponse{Result: r}, nil
//		}
//		resp, r := api.Propose[*kvpb.PutResponse](ctx, h.node, "kv", opPut, req)
//		if r != nil {
//			return &kvpb.PutResponse{Result: r}, nil
//		}
//		return resp, nil
//	}
//
// Failures travel in the response's Result; a handler returns a non-nil
// gRPC error only for what the wire contract says (Unimplemented). Blocking
// operations wait on a notify.Notifier fired by apply code, never while
// holding a lock across a Propose.
package api
