package api

import (
	"context"
	"math"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/collections"
)

func (s *CollectionsService) hashKey(store, key string) *collectionsValidator {
	v := s.validator()
	v.store("store", store)
	v.key("key", key)
	return v
}

func (s *CollectionsService) HSet(ctx context.Context, req *pb.CollectionsServiceHSetRequest) (*pb.CollectionsServiceHSetResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.Check(len(req.GetFields()) > 0, "fields", "at least one is required")
	v.Check(len(req.GetFields()) <= maxBatch, "fields", "too many in one request")
	for f, val := range req.GetFields() {
		v.key("fields", f)
		v.value("fields", val)
	}
	return write[*pb.CollectionsServiceHSetResponse](ctx, s.d, collections.Name, collections.OpHSet, req, v.Result())
}

func (s *CollectionsService) HSetNX(ctx context.Context, req *pb.CollectionsServiceHSetNXRequest) (*pb.CollectionsServiceHSetNXResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.key("field", req.GetField())
	v.value("value", req.GetValue())
	return write[*pb.CollectionsServiceHSetNXResponse](ctx, s.d, collections.Name, collections.OpHSetNX, req, v.Result())
}

func (s *CollectionsService) HGet(ctx context.Context, req *pb.CollectionsServiceHGetRequest) (*pb.CollectionsServiceHGetResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.key("field", req.GetField())
	return read(ctx, s.d, v.Result(), func() *pb.CollectionsServiceHGetResponse { return s.sm.HGet(req, nowMs()) })
}

func (s *CollectionsService) HMGet(ctx context.Context, req *pb.CollectionsServiceHMGetRequest) (*pb.CollectionsServiceHMGetResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.keys("fields", req.GetFields(), true)
	return read(ctx, s.d, v.Result(), func() *pb.CollectionsServiceHMGetResponse { return s.sm.HMGet(req, nowMs()) })
}

func (s *CollectionsService) HDel(ctx context.Context, req *pb.CollectionsServiceHDelRequest) (*pb.CollectionsServiceHDelResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.keys("fields", req.GetFields(), true)
	return write[*pb.CollectionsServiceHDelResponse](ctx, s.d, collections.Name, collections.OpHDel, req, v.Result())
}

func (s *CollectionsService) HGetAll(ctx context.Context, req *pb.CollectionsServiceHGetAllRequest) (*pb.CollectionsServiceHGetAllResponse, error) {
	return read(ctx, s.d, s.hashKey(req.GetStore(), req.GetKey()).Result(), func() *pb.CollectionsServiceHGetAllResponse { return s.sm.HGetAll(req, nowMs()) })
}

func (s *CollectionsService) HIncrBy(ctx context.Context, req *pb.CollectionsServiceHIncrByRequest) (*pb.CollectionsServiceHIncrByResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.key("field", req.GetField())
	return write[*pb.CollectionsServiceHIncrByResponse](ctx, s.d, collections.Name, collections.OpHIncrBy, req, v.Result())
}

func (s *CollectionsService) HIncrByFloat(ctx context.Context, req *pb.CollectionsServiceHIncrByFloatRequest) (*pb.CollectionsServiceHIncrByFloatResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.key("field", req.GetField())
	v.Check(!math.IsNaN(req.GetDelta()) && !math.IsInf(req.GetDelta(), 0), "delta", "must be a finite number")
	return write[*pb.CollectionsServiceHIncrByFloatResponse](ctx, s.d, collections.Name, collections.OpHIncrByFloat, req, v.Result())
}

func (s *CollectionsService) HExists(ctx context.Context, req *pb.CollectionsServiceHExistsRequest) (*pb.CollectionsServiceHExistsResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.key("field", req.GetField())
	return read(ctx, s.d, v.Result(), func() *pb.CollectionsServiceHExistsResponse { return s.sm.HExists(req, nowMs()) })
}

func (s *CollectionsService) HLen(ctx context.Context, req *pb.CollectionsServiceHLenRequest) (*pb.CollectionsServiceHLenResponse, error) {
	return read(ctx, s.d, s.hashKey(req.GetStore(), req.GetKey()).Result(), func() *pb.CollectionsServiceHLenResponse { return s.sm.HLen(req, nowMs()) })
}

func (s *CollectionsService) HKeys(ctx context.Context, req *pb.CollectionsServiceHKeysRequest) (*pb.CollectionsServiceHKeysResponse, error) {
	return read(ctx, s.d, s.hashKey(req.GetStore(), req.GetKey()).Result(), func() *pb.CollectionsServiceHKeysResponse { return s.sm.HKeys(req, nowMs()) })
}

func (s *CollectionsService) HVals(ctx context.Context, req *pb.CollectionsServiceHValsRequest) (*pb.CollectionsServiceHValsResponse, error) {
	return read(ctx, s.d, s.hashKey(req.GetStore(), req.GetKey()).Result(), func() *pb.CollectionsServiceHValsResponse { return s.sm.HVals(req, nowMs()) })
}

func (s *CollectionsService) HScan(ctx context.Context, req *pb.CollectionsServiceHScanRequest) (*pb.CollectionsServiceHScanResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.scan(req.GetCursor(), req.GetMatch(), req.GetCount())
	return read(ctx, s.d, v.Result(), func() *pb.CollectionsServiceHScanResponse { return s.sm.HScan(req, nowMs()) })
}

func (s *CollectionsService) HExpire(ctx context.Context, req *pb.CollectionsServiceHExpireRequest) (*pb.CollectionsServiceHExpireResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.keys("fields", req.GetFields(), true)
	v.Duration("ttl_ms", req.GetTtlMs(), s.d.Limits.MaxDurationMs)
	_, known := pb.HashExpireCondition_name[int32(req.GetCondition())]
	v.Check(known, "condition", "unknown condition")
	return write[*pb.CollectionsServiceHExpireResponse](ctx, s.d, collections.Name, collections.OpHExpire, req, v.Result())
}

func (s *CollectionsService) HPersist(ctx context.Context, req *pb.CollectionsServiceHPersistRequest) (*pb.CollectionsServiceHPersistResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.keys("fields", req.GetFields(), true)
	return write[*pb.CollectionsServiceHPersistResponse](ctx, s.d, collections.Name, collections.OpHPersist, req, v.Result())
}

func (s *CollectionsService) HTTL(ctx context.Context, req *pb.CollectionsServiceHTTLRequest) (*pb.CollectionsServiceHTTLResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.keys("fields", req.GetFields(), true)
	return read(ctx, s.d, v.Result(), func() *pb.CollectionsServiceHTTLResponse { return s.sm.HTTL(req, nowMs()) })
}
