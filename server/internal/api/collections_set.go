package api

import (
	"context"

	"google.golang.org/protobuf/proto"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/collections"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

func (s *CollectionsService) SAdd(ctx context.Context, req *pb.CollectionsServiceSAddRequest) (*pb.CollectionsServiceSAddResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.members("members", req.GetMembers(), true)
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceSAddResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceSAddResponse](ctx, s.d.Node, collections.Name, collections.OpSAdd, req)
	if r != nil {
		return &pb.CollectionsServiceSAddResponse{Result: r}, nil
	}
	return resp, nil
}

func (s *CollectionsService) SRem(ctx context.Context, req *pb.CollectionsServiceSRemRequest) (*pb.CollectionsServiceSRemResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.members("members", req.GetMembers(), true)
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceSRemResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceSRemResponse](ctx, s.d.Node, collections.Name, collections.OpSRem, req)
	if r != nil {
		return &pb.CollectionsServiceSRemResponse{Result: r}, nil
	}
	return resp, nil
}

func (s *CollectionsService) SIsMember(_ context.Context, req *pb.CollectionsServiceSIsMemberRequest) (*pb.CollectionsServiceSIsMemberResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.members("member", [][]byte{req.GetMember()}, true)
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceSIsMemberResponse{Result: r}, nil
	}
	return s.sm.SIsMember(req), nil
}

func (s *CollectionsService) SMIsMember(_ context.Context, req *pb.CollectionsServiceSMIsMemberRequest) (*pb.CollectionsServiceSMIsMemberResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.members("members", req.GetMembers(), true)
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceSMIsMemberResponse{Result: r}, nil
	}
	return s.sm.SMIsMember(req), nil
}

func (s *CollectionsService) SMembers(_ context.Context, req *pb.CollectionsServiceSMembersRequest) (*pb.CollectionsServiceSMembersResponse, error) {
	if r := s.hashKey(req.GetStore(), req.GetKey()).Result(); r != nil {
		return &pb.CollectionsServiceSMembersResponse{Result: r}, nil
	}
	return s.sm.SMembers(req), nil
}

func (s *CollectionsService) SCard(_ context.Context, req *pb.CollectionsServiceSCardRequest) (*pb.CollectionsServiceSCardResponse, error) {
	if r := s.hashKey(req.GetStore(), req.GetKey()).Result(); r != nil {
		return &pb.CollectionsServiceSCardResponse{Result: r}, nil
	}
	return s.sm.SCard(req), nil
}

func (s *CollectionsService) SPop(ctx context.Context, req *pb.CollectionsServiceSPopRequest) (*pb.CollectionsServiceSPopResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.NonNegative("count", req.GetCount())
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceSPopResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceSPopResponse](ctx, s.d.Node, collections.Name, collections.OpSPop, req)
	if r != nil {
		return &pb.CollectionsServiceSPopResponse{Result: r}, nil
	}
	return resp, nil
}

func (s *CollectionsService) SRandMember(_ context.Context, req *pb.CollectionsServiceSRandMemberRequest) (*pb.CollectionsServiceSRandMemberResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.Check(req.GetCount() >= -maxSRandCount && req.GetCount() <= maxSRandCount, "count", "must be within ±100000")
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceSRandMemberResponse{Result: r}, nil
	}
	return s.sm.SRandMember(req), nil
}

// algebra validates and answers SINTER, SUNION or SDIFF: a read without a
// destination, a proposal with one.
func (s *CollectionsService) algebra(ctx context.Context, store string, keys []string, dest string, op string, storeOp uint16, req proto.Message) ([][]byte, int64, *commonpb.Result) {
	v := s.validator()
	v.store("store", store)
	v.keys("keys", keys, true)
	if dest != "" {
		v.key("destination", dest)
	}
	if r := v.Result(); r != nil {
		return nil, 0, r
	}
	if dest == "" {
		out, r := s.sm.SAlgebra(store, keys, op)
		return out, int64(len(out)), r
	}
	resp, r := s.propose(ctx, storeOp, req)
	if r != nil {
		return nil, 0, r
	}
	switch x := resp.(type) {
	case *pb.CollectionsServiceSInterResponse:
		return nil, x.GetCardinality(), x.GetResult()
	case *pb.CollectionsServiceSUnionResponse:
		return nil, x.GetCardinality(), x.GetResult()
	case *pb.CollectionsServiceSDiffResponse:
		return nil, x.GetCardinality(), x.GetResult()
	}
	return nil, 0, result.Failf(result.CodeInternal, "collections op %d applied with a %T result", storeOp, resp)
}

func (s *CollectionsService) SInter(ctx context.Context, req *pb.CollectionsServiceSInterRequest) (*pb.CollectionsServiceSInterResponse, error) {
	ms, n, r := s.algebra(ctx, req.GetStore(), req.GetKeys(), req.GetDestination(), "inter", collections.OpSInterStore, req)
	return &pb.CollectionsServiceSInterResponse{Result: r, Members: ms, Cardinality: n}, nil
}

func (s *CollectionsService) SUnion(ctx context.Context, req *pb.CollectionsServiceSUnionRequest) (*pb.CollectionsServiceSUnionResponse, error) {
	ms, n, r := s.algebra(ctx, req.GetStore(), req.GetKeys(), req.GetDestination(), "union", collections.OpSUnionStore, req)
	return &pb.CollectionsServiceSUnionResponse{Result: r, Members: ms, Cardinality: n}, nil
}

func (s *CollectionsService) SDiff(ctx context.Context, req *pb.CollectionsServiceSDiffRequest) (*pb.CollectionsServiceSDiffResponse, error) {
	ms, n, r := s.algebra(ctx, req.GetStore(), req.GetKeys(), req.GetDestination(), "diff", collections.OpSDiffStore, req)
	return &pb.CollectionsServiceSDiffResponse{Result: r, Members: ms, Cardinality: n}, nil
}

func (s *CollectionsService) SMove(ctx context.Context, req *pb.CollectionsServiceSMoveRequest) (*pb.CollectionsServiceSMoveResponse, error) {
	v := s.validator()
	v.store("store", req.GetStore())
	v.key("source", req.GetSource())
	v.key("destination", req.GetDestination())
	v.members("member", [][]byte{req.GetMember()}, true)
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceSMoveResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceSMoveResponse](ctx, s.d.Node, collections.Name, collections.OpSMove, req)
	if r != nil {
		return &pb.CollectionsServiceSMoveResponse{Result: r}, nil
	}
	return resp, nil
}

func (s *CollectionsService) SScan(_ context.Context, req *pb.CollectionsServiceSScanRequest) (*pb.CollectionsServiceSScanResponse, error) {
	v := s.hashKey(req.GetStore(), req.GetKey())
	v.scan(req.GetCursor(), req.GetMatch(), req.GetCount())
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceSScanResponse{Result: r}, nil
	}
	return s.sm.SScan(req), nil
}
