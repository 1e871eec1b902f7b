package api

import (
	"context"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/collections"
)

func (s *CollectionsService) SAdd(ctx context.Context, req *pb.CollectionsServiceSAddRequest) (*pb.CollectionsServiceSAddResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.members("members", req.GetMembers(), true)
	return write[*pb.CollectionsServiceSAddResponse](ctx, s.d, collections.Name, collections.OpSAdd, req, v.Result())
}

func (s *CollectionsService) SRem(ctx context.Context, req *pb.CollectionsServiceSRemRequest) (*pb.CollectionsServiceSRemResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.members("members", req.GetMembers(), true)
	return write[*pb.CollectionsServiceSRemResponse](ctx, s.d, collections.Name, collections.OpSRem, req, v.Result())
}

func (s *CollectionsService) SIsMember(ctx context.Context, req *pb.CollectionsServiceSIsMemberRequest) (*pb.CollectionsServiceSIsMemberResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.members("member", [][]byte{req.GetMember()}, true)
	return read(ctx, s.d, v.Result(), func() *pb.CollectionsServiceSIsMemberResponse { return s.sm.SIsMember(req) })
}

func (s *CollectionsService) SMIsMember(ctx context.Context, req *pb.CollectionsServiceSMIsMemberRequest) (*pb.CollectionsServiceSMIsMemberResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.members("members", req.GetMembers(), true)
	return read(ctx, s.d, v.Result(), func() *pb.CollectionsServiceSMIsMemberResponse { return s.sm.SMIsMember(req) })
}

func (s *CollectionsService) SMembers(ctx context.Context, req *pb.CollectionsServiceSMembersRequest) (*pb.CollectionsServiceSMembersResponse, error) {
	return read(ctx, s.d, s.hashKey(req.GetStore(), req.GetKey()).Result(), func() *pb.CollectionsServiceSMembersResponse { return s.sm.SMembers(req) })
}

func (s *CollectionsService) SCard(ctx context.Context, req *pb.CollectionsServiceSCardRequest) (*pb.CollectionsServiceSCardResponse, error) {
	return read(ctx, s.d, s.hashKey(req.GetStore(), req.GetKey()).Result(), func() *pb.CollectionsServiceSCardResponse { return s.sm.SCard(req) })
}

func (s *CollectionsService) SPop(ctx context.Context, req *pb.CollectionsServiceSPopRequest) (*pb.CollectionsServiceSPopResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.NonNegative("count", req.GetCount())
	return write[*pb.CollectionsServiceSPopResponse](ctx, s.d, collections.Name, collections.OpSPop, req, v.Result())
}

func (s *CollectionsService) SRandMember(ctx context.Context, req *pb.CollectionsServiceSRandMemberRequest) (*pb.CollectionsServiceSRandMemberResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.Check(req.GetCount() >= -maxSRandCount && req.GetCount() <= maxSRandCount, "count", "must be within ±100000")
	return read(ctx, s.d, v.Result(), func() *pb.CollectionsServiceSRandMemberResponse { return s.sm.SRandMember(req) })
}

// checkAlgebra validates SINTER, SUNION or SDIFF: a read without a
// destination, a proposal with one.
func (s *CollectionsService) checkAlgebra(store string, keys []string, dest string) *commonpb.Result {
	v := s.validator()
	v.store("store", store)
	v.keys("keys", keys, true)
	if dest != "" {
		v.key("destination", dest)
	}
	return v.Result()
}

func (s *CollectionsService) SInter(ctx context.Context, req *pb.CollectionsServiceSInterRequest) (*pb.CollectionsServiceSInterResponse, error) {
	check := s.checkAlgebra(req.GetStore(), req.GetKeys(), req.GetDestination())
	if req.GetDestination() != "" {
		return write[*pb.CollectionsServiceSInterResponse](ctx, s.d, collections.Name, collections.OpSInterStore, req, check)
	}
	return read(ctx, s.d, check, func() *pb.CollectionsServiceSInterResponse {
		ms, r := s.sm.SAlgebra(req.GetStore(), req.GetKeys(), "inter")
		return &pb.CollectionsServiceSInterResponse{Result: r, Members: ms, Cardinality: int64(len(ms))}
	})
}

func (s *CollectionsService) SUnion(ctx context.Context, req *pb.CollectionsServiceSUnionRequest) (*pb.CollectionsServiceSUnionResponse, error) {
	check := s.checkAlgebra(req.GetStore(), req.GetKeys(), req.GetDestination())
	if req.GetDestination() != "" {
		return write[*pb.CollectionsServiceSUnionResponse](ctx, s.d, collections.Name, collections.OpSUnionStore, req, check)
	}
	return read(ctx, s.d, check, func() *pb.CollectionsServiceSUnionResponse {
		ms, r := s.sm.SAlgebra(req.GetStore(), req.GetKeys(), "union")
		return &pb.CollectionsServiceSUnionResponse{Result: r, Members: ms, Cardinality: int64(len(ms))}
	})
}

func (s *CollectionsService) SDiff(ctx context.Context, req *pb.CollectionsServiceSDiffRequest) (*pb.CollectionsServiceSDiffResponse, error) {
	check := s.checkAlgebra(req.GetStore(), req.GetKeys(), req.GetDestination())
	if req.GetDestination() != "" {
		return write[*pb.CollectionsServiceSDiffResponse](ctx, s.d, collections.Name, collections.OpSDiffStore, req, check)
	}
	return read(ctx, s.d, check, func() *pb.CollectionsServiceSDiffResponse {
		ms, r := s.sm.SAlgebra(req.GetStore(), req.GetKeys(), "diff")
		return &pb.CollectionsServiceSDiffResponse{Result: r, Members: ms, Cardinality: int64(len(ms))}
	})
}

func (s *CollectionsService) SMove(ctx context.Context, req *pb.CollectionsServiceSMoveRequest) (*pb.CollectionsServiceSMoveResponse, error) {
	v := s.validator()
	v.store("store", req.GetStore())
	v.key("source", req.GetSource())
	v.key("destination", req.GetDestination())
	v.members("member", [][]byte{req.GetMember()}, true)
	return write[*pb.CollectionsServiceSMoveResponse](ctx, s.d, collections.Name, collections.OpSMove, req, v.Result())
}

func (s *CollectionsService) SScan(ctx context.Context, req *pb.CollectionsServiceSScanRequest) (*pb.CollectionsServiceSScanResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.scan(req.GetCursor(), req.GetMatch(), req.GetCount())
	return read(ctx, s.d, v.Result(), func() *pb.CollectionsServiceSScanResponse { return s.sm.SScan(req) })
}
