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
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceHSetResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceHSetResponse](ctx, s.d.Node, collections.Name, collections.OpHSet, req)
	if r != nil {
		return &pb.CollectionsServiceHSetResponse{Result: r}, nil
	}
	return resp, nil
}

func (s *CollectionsService) HSetNX(ctx context.Context, req *pb.CollectionsServiceHSetNXRequest) (*pb.CollectionsServiceHSetNXResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.key("field", req.GetField())
	v.value("value", req.GetValue())
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceHSetNXResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceHSetNXResponse](ctx, s.d.Node, collections.Name, collections.OpHSetNX, req)
	if r != nil {
		return &pb.CollectionsServiceHSetNXResponse{Result: r}, nil
	}
	return resp, nil
}

func (s *CollectionsService) HGet(_ context.Context, req *pb.CollectionsServiceHGetRequest) (*pb.CollectionsServiceHGetResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.key("field", req.GetField())
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceHGetResponse{Result: r}, nil
	}
	return s.sm.HGet(req, nowMs()), nil
}

func (s *CollectionsService) HMGet(_ context.Context, req *pb.CollectionsServiceHMGetRequest) (*pb.CollectionsServiceHMGetResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.keys("fields", req.GetFields(), true)
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceHMGetResponse{Result: r}, nil
	}
	return s.sm.HMGet(req, nowMs()), nil
}

func (s *CollectionsService) HDel(ctx context.Context, req *pb.CollectionsServiceHDelRequest) (*pb.CollectionsServiceHDelResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.keys("fields", req.GetFields(), true)
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceHDelResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceHDelResponse](ctx, s.d.Node, collections.Name, collections.OpHDel, req)
	if r != nil {
		return &pb.CollectionsServiceHDelResponse{Result: r}, nil
	}
	return resp, nil
}

func (s *CollectionsService) HGetAll(_ context.Context, req *pb.CollectionsServiceHGetAllRequest) (*pb.CollectionsServiceHGetAllResponse, error) {
	if r := s.hashKey(req.GetStore(), req.GetKey()).Result(); r != nil {
		return &pb.CollectionsServiceHGetAllResponse{Result: r}, nil
	}
	return s.sm.HGetAll(req, nowMs()), nil
}

func (s *CollectionsService) HIncrBy(ctx context.Context, req *pb.CollectionsServiceHIncrByRequest) (*pb.CollectionsServiceHIncrByResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.key("field", req.GetField())
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceHIncrByResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceHIncrByResponse](ctx, s.d.Node, collections.Name, collections.OpHIncrBy, req)
	if r != nil {
		return &pb.CollectionsServiceHIncrByResponse{Result: r}, nil
	}
	return resp, nil
}

func (s *CollectionsService) HIncrByFloat(ctx context.Context, req *pb.CollectionsServiceHIncrByFloatRequest) (*pb.CollectionsServiceHIncrByFloatResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.key("field", req.GetField())
	v.Check(!math.IsNaN(req.GetDelta()) && !math.IsInf(req.GetDelta(), 0), "delta", "must be a finite number")
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceHIncrByFloatResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceHIncrByFloatResponse](ctx, s.d.Node, collections.Name, collections.OpHIncrByFloat, req)
	if r != nil {
		return &pb.CollectionsServiceHIncrByFloatResponse{Result: r}, nil
	}
	return resp, nil
}

func (s *CollectionsService) HExists(_ context.Context, req *pb.CollectionsServiceHExistsRequest) (*pb.CollectionsServiceHExistsResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.key("field", req.GetField())
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceHExistsResponse{Result: r}, nil
	}
	return s.sm.HExists(req, nowMs()), nil
}

func (s *CollectionsService) HLen(_ context.Context, req *pb.CollectionsServiceHLenRequest) (*pb.CollectionsServiceHLenResponse, error) {
	if r := s.hashKey(req.GetStore(), req.GetKey()).Result(); r != nil {
		return &pb.CollectionsServiceHLenResponse{Result: r}, nil
	}
	return s.sm.HLen(req, nowMs()), nil
}

func (s *CollectionsService) HKeys(_ context.Context, req *pb.CollectionsServiceHKeysRequest) (*pb.CollectionsServiceHKeysResponse, error) {
	if r := s.hashKey(req.GetStore(), req.GetKey()).Result(); r != nil {
		return &pb.CollectionsServiceHKeysResponse{Result: r}, nil
	}
	return s.sm.HKeys(req, nowMs()), nil
}

func (s *CollectionsService) HVals(_ context.Context, req *pb.CollectionsServiceHValsRequest) (*pb.CollectionsServiceHValsResponse, error) {
	if r := s.hashKey(req.GetStore(), req.GetKey()).Result(); r != nil {
		return &pb.CollectionsServiceHValsResponse{Result: r}, nil
	}
	return s.sm.HVals(req, nowMs()), nil
}

func (s *CollectionsService) HScan(_ context.Context, req *pb.CollectionsServiceHScanRequest) (*pb.CollectionsServiceHScanResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.scan(req.GetCursor(), req.GetMatch(), req.GetCount())
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceHScanResponse{Result: r}, nil
	}
	return s.sm.HScan(req, nowMs()), nil
}

func (s *CollectionsService) HExpire(ctx context.Context, req *pb.CollectionsServiceHExpireRequest) (*pb.CollectionsServiceHExpireResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.keys("fields", req.GetFields(), true)
	v.Duration("ttl_ms", req.GetTtlMs(), s.d.Limits.MaxDurationMs)
	_, known := pb.HashExpireCondition_name[int32(req.GetCondition())]
	v.Check(known, "condition", "unknown condition")
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceHExpireResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceHExpireResponse](ctx, s.d.Node, collections.Name, collections.OpHExpire, req)
	if r != nil {
		return &pb.CollectionsServiceHExpireResponse{Result: r}, nil
	}
	return resp, nil
}

func (s *CollectionsService) HPersist(ctx context.Context, req *pb.CollectionsServiceHPersistRequest) (*pb.CollectionsServiceHPersistResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.keys("fields", req.GetFields(), true)
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceHPersistResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceHPersistResponse](ctx, s.d.Node, collections.Name, collections.OpHPersist, req)
	if r != nil {
		return &pb.CollectionsServiceHPersistResponse{Result: r}, nil
	}
	return resp, nil
}

func (s *CollectionsService) HTTL(_ context.Context, req *pb.CollectionsServiceHTTLRequest) (*pb.CollectionsServiceHTTLResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.keys("fields", req.GetFields(), true)
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceHTTLResponse{Result: r}, nil
	}
	return s.sm.HTTL(req, nowMs()), nil
}
