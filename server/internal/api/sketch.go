package api

import (
	"context"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/sketch"
)

// SketchLimits derives the sketch state machine's limits from the server's:
// items are bounded like keys, names like every other name.
func SketchLimits(l Limits) sketch.Limits {
	l = l.WithDefaults()
	return sketch.Limits{MaxNameLen: l.MaxNameLen, MaxItemLen: l.MaxKeyLen, MaxSketchBytes: int64(l.MaxSketchSize)}
}

// SketchService serves sketchpb.SketchService: mutations are validated and
// proposed through raft (the state machine validates again on apply), and
// queries are answered from the local state machine under its read lock,
// after the same validation.
type SketchService struct {
	sketchpb.UnimplementedSketchServiceServer
	sm   *sketch.Machine
	node Proposer
}

// NewSketchService returns the service over sm, proposing through d.Node.
func NewSketchService(sm *sketch.Machine, d Deps) *SketchService {
	return &SketchService{sm: sm, node: d.Node}
}

// write validates (check is the validation's result), proposes op and
// answers the applied response; wrap builds the response for a failure.
func write[R any](ctx context.Context, node Proposer, op uint16, req proto.Message, check *commonpb.Result, wrap func(*commonpb.Result) R) (R, error) {
	if check != nil {
		return wrap(check), nil
	}
	resp, r := Propose[R](ctx, node, sketch.Name, op, req)
	if r != nil {
		return wrap(r), nil
	}
	return resp, nil
}

// CreateSketch implements sketchpb.SketchServiceServer.
func (s *SketchService) CreateSketch(ctx context.Context, req *sketchpb.SketchServiceCreateSketchRequest) (*sketchpb.SketchServiceCreateSketchResponse, error) {
	return write(ctx, s.node, sketch.OpCreate, req, s.sm.CheckCreate(req), func(r *commonpb.Result) *sketchpb.SketchServiceCreateSketchResponse {
		return &sketchpb.SketchServiceCreateSketchResponse{Result: r}
	})
}

// GetSketch implements sketchpb.SketchServiceServer.
func (s *SketchService) GetSketch(_ context.Context, req *sketchpb.SketchServiceGetSketchRequest) (*sketchpb.SketchServiceGetSketchResponse, error) {
	return s.sm.Get(req), nil
}

// DeleteSketch implements sketchpb.SketchServiceServer.
func (s *SketchService) DeleteSketch(ctx context.Context, req *sketchpb.SketchServiceDeleteSketchRequest) (*sketchpb.SketchServiceDeleteSketchResponse, error) {
	return write(ctx, s.node, sketch.OpDelete, req, s.sm.CheckName(req.GetName()), func(r *commonpb.Result) *sketchpb.SketchServiceDeleteSketchResponse {
		return &sketchpb.SketchServiceDeleteSketchResponse{Result: r}
	})
}

// ListSketches implements sketchpb.SketchServiceServer.
func (s *SketchService) ListSketches(_ context.Context, req *sketchpb.SketchServiceListSketchesRequest) (*sketchpb.SketchServiceListSketchesResponse, error) {
	var v Validator
	if req.PageToken = v.PageToken("page_token", ScopeSketches, req.GetPageToken()); v.Result() != nil {
		return &sketchpb.SketchServiceListSketchesResponse{Result: v.Result()}, nil
	}
	resp := s.sm.List(req)
	resp.NextPageToken = NextPageToken(ScopeSketches, resp.GetNextPageToken())
	return resp, nil
}

// BloomAdd implements sketchpb.SketchServiceServer.
func (s *SketchService) BloomAdd(ctx context.Context, req *sketchpb.SketchServiceBloomAddRequest) (*sketchpb.SketchServiceBloomAddResponse, error) {
	return write(ctx, s.node, sketch.OpBloomAdd, req, s.sm.CheckBloomAdd(req), func(r *commonpb.Result) *sketchpb.SketchServiceBloomAddResponse {
		return &sketchpb.SketchServiceBloomAddResponse{Result: r}
	})
}

// BloomMAdd implements sketchpb.SketchServiceServer.
func (s *SketchService) BloomMAdd(ctx context.Context, req *sketchpb.SketchServiceBloomMAddRequest) (*sketchpb.SketchServiceBloomMAddResponse, error) {
	return write(ctx, s.node, sketch.OpBloomMAdd, req, s.sm.CheckBloomMAdd(req), func(r *commonpb.Result) *sketchpb.SketchServiceBloomMAddResponse {
		return &sketchpb.SketchServiceBloomMAddResponse{Result: r}
	})
}

// BloomExists implements sketchpb.SketchServiceServer.
func (s *SketchService) BloomExists(_ context.Context, req *sketchpb.SketchServiceBloomExistsRequest) (*sketchpb.SketchServiceBloomExistsResponse, error) {
	return s.sm.BloomExists(req), nil
}

// BloomMExists implements sketchpb.SketchServiceServer.
func (s *SketchService) BloomMExists(_ context.Context, req *sketchpb.SketchServiceBloomMExistsRequest) (*sketchpb.SketchServiceBloomMExistsResponse, error) {
	return s.sm.BloomMExists(req), nil
}

// BloomCard implements sketchpb.SketchServiceServer.
func (s *SketchService) BloomCard(_ context.Context, req *sketchpb.SketchServiceBloomCardRequest) (*sketchpb.SketchServiceBloomCardResponse, error) {
	return s.sm.BloomCard(req), nil
}

// HLLAdd implements sketchpb.SketchServiceServer.
func (s *SketchService) HLLAdd(ctx context.Context, req *sketchpb.SketchServiceHLLAddRequest) (*sketchpb.SketchServiceHLLAddResponse, error) {
	return write(ctx, s.node, sketch.OpHLLAdd, req, s.sm.CheckHLLAdd(req), func(r *commonpb.Result) *sketchpb.SketchServiceHLLAddResponse {
		return &sketchpb.SketchServiceHLLAddResponse{Result: r}
	})
}

// HLLCount implements sketchpb.SketchServiceServer.
func (s *SketchService) HLLCount(_ context.Context, req *sketchpb.SketchServiceHLLCountRequest) (*sketchpb.SketchServiceHLLCountResponse, error) {
	return s.sm.HLLCount(req), nil
}

// HLLMerge implements sketchpb.SketchServiceServer.
func (s *SketchService) HLLMerge(ctx context.Context, req *sketchpb.SketchServiceHLLMergeRequest) (*sketchpb.SketchServiceHLLMergeResponse, error) {
	return write(ctx, s.node, sketch.OpHLLMerge, req, s.sm.CheckHLLMerge(req), func(r *commonpb.Result) *sketchpb.SketchServiceHLLMergeResponse {
		return &sketchpb.SketchServiceHLLMergeResponse{Result: r}
	})
}

// CMSIncrBy implements sketchpb.SketchServiceServer.
func (s *SketchService) CMSIncrBy(ctx context.Context, req *sketchpb.SketchServiceCMSIncrByRequest) (*sketchpb.SketchServiceCMSIncrByResponse, error) {
	return write(ctx, s.node, sketch.OpCMSIncrBy, req, s.sm.CheckCMSIncrBy(req), func(r *commonpb.Result) *sketchpb.SketchServiceCMSIncrByResponse {
		return &sketchpb.SketchServiceCMSIncrByResponse{Result: r}
	})
}

// CMSQuery implements sketchpb.SketchServiceServer.
func (s *SketchService) CMSQuery(_ context.Context, req *sketchpb.SketchServiceCMSQueryRequest) (*sketchpb.SketchServiceCMSQueryResponse, error) {
	return s.sm.CMSQuery(req), nil
}

// CMSMerge implements sketchpb.SketchServiceServer.
func (s *SketchService) CMSMerge(ctx context.Context, req *sketchpb.SketchServiceCMSMergeRequest) (*sketchpb.SketchServiceCMSMergeResponse, error) {
	return write(ctx, s.node, sketch.OpCMSMerge, req, s.sm.CheckCMSMerge(req), func(r *commonpb.Result) *sketchpb.SketchServiceCMSMergeResponse {
		return &sketchpb.SketchServiceCMSMergeResponse{Result: r}
	})
}

// TopKAdd implements sketchpb.SketchServiceServer.
func (s *SketchService) TopKAdd(ctx context.Context, req *sketchpb.SketchServiceTopKAddRequest) (*sketchpb.SketchServiceTopKAddResponse, error) {
	return write(ctx, s.node, sketch.OpTopKAdd, req, s.sm.CheckTopKAdd(req), func(r *commonpb.Result) *sketchpb.SketchServiceTopKAddResponse {
		return &sketchpb.SketchServiceTopKAddResponse{Result: r}
	})
}

// TopKIncrBy implements sketchpb.SketchServiceServer.
func (s *SketchService) TopKIncrBy(ctx context.Context, req *sketchpb.SketchServiceTopKIncrByRequest) (*sketchpb.SketchServiceTopKIncrByResponse, error) {
	return write(ctx, s.node, sketch.OpTopKIncrBy, req, s.sm.CheckTopKIncrBy(req), func(r *commonpb.Result) *sketchpb.SketchServiceTopKIncrByResponse {
		return &sketchpb.SketchServiceTopKIncrByResponse{Result: r}
	})
}

// TopKQuery implements sketchpb.SketchServiceServer.
func (s *SketchService) TopKQuery(_ context.Context, req *sketchpb.SketchServiceTopKQueryRequest) (*sketchpb.SketchServiceTopKQueryResponse, error) {
	return s.sm.TopKQuery(req), nil
}

// TopKList implements sketchpb.SketchServiceServer.
func (s *SketchService) TopKList(_ context.Context, req *sketchpb.SketchServiceTopKListRequest) (*sketchpb.SketchServiceTopKListResponse, error) {
	return s.sm.TopKList(req), nil
}

// TDigestAdd implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestAdd(ctx context.Context, req *sketchpb.SketchServiceTDigestAddRequest) (*sketchpb.SketchServiceTDigestAddResponse, error) {
	return write(ctx, s.node, sketch.OpTDigestAdd, req, s.sm.CheckTDigestAdd(req), func(r *commonpb.Result) *sketchpb.SketchServiceTDigestAddResponse {
		return &sketchpb.SketchServiceTDigestAddResponse{Result: r}
	})
}

// TDigestQuantile implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestQuantile(_ context.Context, req *sketchpb.SketchServiceTDigestQuantileRequest) (*sketchpb.SketchServiceTDigestQuantileResponse, error) {
	return s.sm.TDigestQuantile(req), nil
}

// TDigestCDF implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestCDF(_ context.Context, req *sketchpb.SketchServiceTDigestCDFRequest) (*sketchpb.SketchServiceTDigestCDFResponse, error) {
	return s.sm.TDigestCDF(req), nil
}

// TDigestRank implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestRank(_ context.Context, req *sketchpb.SketchServiceTDigestRankRequest) (*sketchpb.SketchServiceTDigestRankResponse, error) {
	return s.sm.TDigestRank(req), nil
}

// TDigestRevRank implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestRevRank(_ context.Context, req *sketchpb.SketchServiceTDigestRevRankRequest) (*sketchpb.SketchServiceTDigestRevRankResponse, error) {
	return s.sm.TDigestRevRank(req), nil
}

// TDigestByRank implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestByRank(_ context.Context, req *sketchpb.SketchServiceTDigestByRankRequest) (*sketchpb.SketchServiceTDigestByRankResponse, error) {
	return s.sm.TDigestByRank(req), nil
}

// TDigestByRevRank implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestByRevRank(_ context.Context, req *sketchpb.SketchServiceTDigestByRevRankRequest) (*sketchpb.SketchServiceTDigestByRevRankResponse, error) {
	return s.sm.TDigestByRevRank(req), nil
}

// TDigestTrimmedMean implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestTrimmedMean(_ context.Context, req *sketchpb.SketchServiceTDigestTrimmedMeanRequest) (*sketchpb.SketchServiceTDigestTrimmedMeanResponse, error) {
	return s.sm.TDigestTrimmedMean(req), nil
}

// TDigestMin implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestMin(_ context.Context, req *sketchpb.SketchServiceTDigestMinRequest) (*sketchpb.SketchServiceTDigestMinResponse, error) {
	return s.sm.TDigestMin(req), nil
}

// TDigestMax implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestMax(_ context.Context, req *sketchpb.SketchServiceTDigestMaxRequest) (*sketchpb.SketchServiceTDigestMaxResponse, error) {
	return s.sm.TDigestMax(req), nil
}

// TDigestMerge implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestMerge(ctx context.Context, req *sketchpb.SketchServiceTDigestMergeRequest) (*sketchpb.SketchServiceTDigestMergeResponse, error) {
	return write(ctx, s.node, sketch.OpTDigestMerge, req, s.sm.CheckTDigestMerge(req), func(r *commonpb.Result) *sketchpb.SketchServiceTDigestMergeResponse {
		return &sketchpb.SketchServiceTDigestMergeResponse{Result: r}
	})
}

// TDigestReset implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestReset(ctx context.Context, req *sketchpb.SketchServiceTDigestResetRequest) (*sketchpb.SketchServiceTDigestResetResponse, error) {
	return write(ctx, s.node, sketch.OpTDigestReset, req, s.sm.CheckName(req.GetName()), func(r *commonpb.Result) *sketchpb.SketchServiceTDigestResetResponse {
		return &sketchpb.SketchServiceTDigestResetResponse{Result: r}
	})
}
