package api

import (
	"context"

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
	sm *sketch.Machine
	d  Deps
}

// NewSketchService returns the service over sm, proposing through d.Node.
func NewSketchService(sm *sketch.Machine, d Deps) *SketchService {
	return &SketchService{sm: sm, d: d}
}

// CreateSketch implements sketchpb.SketchServiceServer.
func (s *SketchService) CreateSketch(ctx context.Context, req *sketchpb.SketchServiceCreateSketchRequest) (*sketchpb.SketchServiceCreateSketchResponse, error) {
	return write[*sketchpb.SketchServiceCreateSketchResponse](ctx, s.d, sketch.Name, sketch.OpCreate, req, s.sm.CheckCreate(req))
}

// GetSketch implements sketchpb.SketchServiceServer.
func (s *SketchService) GetSketch(ctx context.Context, req *sketchpb.SketchServiceGetSketchRequest) (*sketchpb.SketchServiceGetSketchResponse, error) {
	return read(ctx, s.d, nil, func() *sketchpb.SketchServiceGetSketchResponse { return s.sm.Get(req) })
}

// DeleteSketch implements sketchpb.SketchServiceServer.
func (s *SketchService) DeleteSketch(ctx context.Context, req *sketchpb.SketchServiceDeleteSketchRequest) (*sketchpb.SketchServiceDeleteSketchResponse, error) {
	return write[*sketchpb.SketchServiceDeleteSketchResponse](ctx, s.d, sketch.Name, sketch.OpDelete, req, s.sm.CheckName(req.GetName()))
}

// ListSketches implements sketchpb.SketchServiceServer.
func (s *SketchService) ListSketches(ctx context.Context, req *sketchpb.SketchServiceListSketchesRequest) (*sketchpb.SketchServiceListSketchesResponse, error) {
	var v Validator
	req.PageToken = v.PageToken("page_token", ScopeSketches, req.GetPageToken())
	return read(ctx, s.d, v.Result(), func() *sketchpb.SketchServiceListSketchesResponse {
		resp := s.sm.List(req)
		resp.NextPageToken = NextPageToken(ScopeSketches, resp.GetNextPageToken())
		return resp
	})
}

// BloomAdd implements sketchpb.SketchServiceServer.
func (s *SketchService) BloomAdd(ctx context.Context, req *sketchpb.SketchServiceBloomAddRequest) (*sketchpb.SketchServiceBloomAddResponse, error) {
	return write[*sketchpb.SketchServiceBloomAddResponse](ctx, s.d, sketch.Name, sketch.OpBloomAdd, req, s.sm.CheckBloomAdd(req))
}

// BloomMAdd implements sketchpb.SketchServiceServer.
func (s *SketchService) BloomMAdd(ctx context.Context, req *sketchpb.SketchServiceBloomMAddRequest) (*sketchpb.SketchServiceBloomMAddResponse, error) {
	return write[*sketchpb.SketchServiceBloomMAddResponse](ctx, s.d, sketch.Name, sketch.OpBloomMAdd, req, s.sm.CheckBloomMAdd(req))
}

// BloomExists implements sketchpb.SketchServiceServer.
func (s *SketchService) BloomExists(ctx context.Context, req *sketchpb.SketchServiceBloomExistsRequest) (*sketchpb.SketchServiceBloomExistsResponse, error) {
	return read(ctx, s.d, nil, func() *sketchpb.SketchServiceBloomExistsResponse { return s.sm.BloomExists(req) })
}

// BloomMExists implements sketchpb.SketchServiceServer.
func (s *SketchService) BloomMExists(ctx context.Context, req *sketchpb.SketchServiceBloomMExistsRequest) (*sketchpb.SketchServiceBloomMExistsResponse, error) {
	return read(ctx, s.d, nil, func() *sketchpb.SketchServiceBloomMExistsResponse { return s.sm.BloomMExists(req) })
}

// BloomCard implements sketchpb.SketchServiceServer.
func (s *SketchService) BloomCard(ctx context.Context, req *sketchpb.SketchServiceBloomCardRequest) (*sketchpb.SketchServiceBloomCardResponse, error) {
	return read(ctx, s.d, nil, func() *sketchpb.SketchServiceBloomCardResponse { return s.sm.BloomCard(req) })
}

// HLLAdd implements sketchpb.SketchServiceServer.
func (s *SketchService) HLLAdd(ctx context.Context, req *sketchpb.SketchServiceHLLAddRequest) (*sketchpb.SketchServiceHLLAddResponse, error) {
	return write[*sketchpb.SketchServiceHLLAddResponse](ctx, s.d, sketch.Name, sketch.OpHLLAdd, req, s.sm.CheckHLLAdd(req))
}

// HLLCount implements sketchpb.SketchServiceServer.
func (s *SketchService) HLLCount(ctx context.Context, req *sketchpb.SketchServiceHLLCountRequest) (*sketchpb.SketchServiceHLLCountResponse, error) {
	return read(ctx, s.d, nil, func() *sketchpb.SketchServiceHLLCountResponse { return s.sm.HLLCount(req) })
}

// HLLMerge implements sketchpb.SketchServiceServer.
func (s *SketchService) HLLMerge(ctx context.Context, req *sketchpb.SketchServiceHLLMergeRequest) (*sketchpb.SketchServiceHLLMergeResponse, error) {
	return write[*sketchpb.SketchServiceHLLMergeResponse](ctx, s.d, sketch.Name, sketch.OpHLLMerge, req, s.sm.CheckHLLMerge(req))
}

// CMSIncrBy implements sketchpb.SketchServiceServer.
func (s *SketchService) CMSIncrBy(ctx context.Context, req *sketchpb.SketchServiceCMSIncrByRequest) (*sketchpb.SketchServiceCMSIncrByResponse, error) {
	return write[*sketchpb.SketchServiceCMSIncrByResponse](ctx, s.d, sketch.Name, sketch.OpCMSIncrBy, req, s.sm.CheckCMSIncrBy(req))
}

// CMSQuery implements sketchpb.SketchServiceServer.
func (s *SketchService) CMSQuery(ctx context.Context, req *sketchpb.SketchServiceCMSQueryRequest) (*sketchpb.SketchServiceCMSQueryResponse, error) {
	return read(ctx, s.d, nil, func() *sketchpb.SketchServiceCMSQueryResponse { return s.sm.CMSQuery(req) })
}

// CMSMerge implements sketchpb.SketchServiceServer.
func (s *SketchService) CMSMerge(ctx context.Context, req *sketchpb.SketchServiceCMSMergeRequest) (*sketchpb.SketchServiceCMSMergeResponse, error) {
	return write[*sketchpb.SketchServiceCMSMergeResponse](ctx, s.d, sketch.Name, sketch.OpCMSMerge, req, s.sm.CheckCMSMerge(req))
}

// TopKAdd implements sketchpb.SketchServiceServer.
func (s *SketchService) TopKAdd(ctx context.Context, req *sketchpb.SketchServiceTopKAddRequest) (*sketchpb.SketchServiceTopKAddResponse, error) {
	return write[*sketchpb.SketchServiceTopKAddResponse](ctx, s.d, sketch.Name, sketch.OpTopKAdd, req, s.sm.CheckTopKAdd(req))
}

// TopKIncrBy implements sketchpb.SketchServiceServer.
func (s *SketchService) TopKIncrBy(ctx context.Context, req *sketchpb.SketchServiceTopKIncrByRequest) (*sketchpb.SketchServiceTopKIncrByResponse, error) {
	return write[*sketchpb.SketchServiceTopKIncrByResponse](ctx, s.d, sketch.Name, sketch.OpTopKIncrBy, req, s.sm.CheckTopKIncrBy(req))
}

// TopKQuery implements sketchpb.SketchServiceServer.
func (s *SketchService) TopKQuery(ctx context.Context, req *sketchpb.SketchServiceTopKQueryRequest) (*sketchpb.SketchServiceTopKQueryResponse, error) {
	return read(ctx, s.d, nil, func() *sketchpb.SketchServiceTopKQueryResponse { return s.sm.TopKQuery(req) })
}

// TopKList implements sketchpb.SketchServiceServer.
func (s *SketchService) TopKList(ctx context.Context, req *sketchpb.SketchServiceTopKListRequest) (*sketchpb.SketchServiceTopKListResponse, error) {
	return read(ctx, s.d, nil, func() *sketchpb.SketchServiceTopKListResponse { return s.sm.TopKList(req) })
}

// TDigestAdd implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestAdd(ctx context.Context, req *sketchpb.SketchServiceTDigestAddRequest) (*sketchpb.SketchServiceTDigestAddResponse, error) {
	return write[*sketchpb.SketchServiceTDigestAddResponse](ctx, s.d, sketch.Name, sketch.OpTDigestAdd, req, s.sm.CheckTDigestAdd(req))
}

// TDigestQuantile implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestQuantile(ctx context.Context, req *sketchpb.SketchServiceTDigestQuantileRequest) (*sketchpb.SketchServiceTDigestQuantileResponse, error) {
	return read(ctx, s.d, nil, func() *sketchpb.SketchServiceTDigestQuantileResponse { return s.sm.TDigestQuantile(req) })
}

// TDigestCDF implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestCDF(ctx context.Context, req *sketchpb.SketchServiceTDigestCDFRequest) (*sketchpb.SketchServiceTDigestCDFResponse, error) {
	return read(ctx, s.d, nil, func() *sketchpb.SketchServiceTDigestCDFResponse { return s.sm.TDigestCDF(req) })
}

// TDigestRank implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestRank(ctx context.Context, req *sketchpb.SketchServiceTDigestRankRequest) (*sketchpb.SketchServiceTDigestRankResponse, error) {
	return read(ctx, s.d, nil, func() *sketchpb.SketchServiceTDigestRankResponse { return s.sm.TDigestRank(req) })
}

// TDigestRevRank implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestRevRank(ctx context.Context, req *sketchpb.SketchServiceTDigestRevRankRequest) (*sketchpb.SketchServiceTDigestRevRankResponse, error) {
	return read(ctx, s.d, nil, func() *sketchpb.SketchServiceTDigestRevRankResponse { return s.sm.TDigestRevRank(req) })
}

// TDigestByRank implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestByRank(ctx context.Context, req *sketchpb.SketchServiceTDigestByRankRequest) (*sketchpb.SketchServiceTDigestByRankResponse, error) {
	return read(ctx, s.d, nil, func() *sketchpb.SketchServiceTDigestByRankResponse { return s.sm.TDigestByRank(req) })
}

// TDigestByRevRank implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestByRevRank(ctx context.Context, req *sketchpb.SketchServiceTDigestByRevRankRequest) (*sketchpb.SketchServiceTDigestByRevRankResponse, error) {
	return read(ctx, s.d, nil, func() *sketchpb.SketchServiceTDigestByRevRankResponse { return s.sm.TDigestByRevRank(req) })
}

// TDigestTrimmedMean implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestTrimmedMean(ctx context.Context, req *sketchpb.SketchServiceTDigestTrimmedMeanRequest) (*sketchpb.SketchServiceTDigestTrimmedMeanResponse, error) {
	return read(ctx, s.d, nil, func() *sketchpb.SketchServiceTDigestTrimmedMeanResponse { return s.sm.TDigestTrimmedMean(req) })
}

// TDigestMin implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestMin(ctx context.Context, req *sketchpb.SketchServiceTDigestMinRequest) (*sketchpb.SketchServiceTDigestMinResponse, error) {
	return read(ctx, s.d, nil, func() *sketchpb.SketchServiceTDigestMinResponse { return s.sm.TDigestMin(req) })
}

// TDigestMax implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestMax(ctx context.Context, req *sketchpb.SketchServiceTDigestMaxRequest) (*sketchpb.SketchServiceTDigestMaxResponse, error) {
	return read(ctx, s.d, nil, func() *sketchpb.SketchServiceTDigestMaxResponse { return s.sm.TDigestMax(req) })
}

// TDigestMerge implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestMerge(ctx context.Context, req *sketchpb.SketchServiceTDigestMergeRequest) (*sketchpb.SketchServiceTDigestMergeResponse, error) {
	return write[*sketchpb.SketchServiceTDigestMergeResponse](ctx, s.d, sketch.Name, sketch.OpTDigestMerge, req, s.sm.CheckTDigestMerge(req))
}

// TDigestReset implements sketchpb.SketchServiceServer.
func (s *SketchService) TDigestReset(ctx context.Context, req *sketchpb.SketchServiceTDigestResetRequest) (*sketchpb.SketchServiceTDigestResetResponse, error) {
	return write[*sketchpb.SketchServiceTDigestResetResponse](ctx, s.d, sketch.Name, sketch.OpTDigestReset, req, s.sm.CheckName(req.GetName()))
}
