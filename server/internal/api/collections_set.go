package api

import (
	"context"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/collections"
	"google.golang.org/protobuf/proto"
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

// algebraRequest is a SINTER, SUNION or SDIFF request.
type algebraRequest interface {
	proto.Message
	GetStore() string
	GetKeys() []string
	GetDestination() string
}

// algebra answers SINTER, SUNION or SDIFF (op): with a destination, a
// mutation proposed as storeOp; without one, a read. answer builds the
// read's response from the members.
func algebra[R proto.Message](ctx context.Context, s *CollectionsService, req algebraRequest, op string, storeOp uint16, answer func([][]byte, *commonpb.Result) R) (R, error) {
	v := s.validator()
	v.store("store", req.GetStore())
	v.keys("keys", req.GetKeys(), true)
	if req.GetDestination() != "" {
		v.key("destination", req.GetDestination())
		return write[R](ctx, s.d, collections.Name, storeOp, req, v.Result())
	}
	return read(ctx, s.d, v.Result(), func() R {
		return answer(s.sm.SAlgebra(req.GetStore(), req.GetKeys(), op))
	})
}

func (s *CollectionsService) SInter(ctx context.Context, req *pb.CollectionsServiceSInterRequest) (*pb.CollectionsServiceSInterResponse, error) {
	return algebra(ctx, s, req, "inter", collections.OpSInterStore, func(ms [][]byte, r *commonpb.Result) *pb.CollectionsServiceSInterResponse {
		return &pb.CollectionsServiceSInterResponse{Result: r, Members: ms, Cardinality: int64(len(ms))}
	})
}

func (s *CollectionsService) SUnion(ctx context.Context, req *pb.CollectionsServiceSUnionRequest) (*pb.CollectionsServiceSUnionResponse, error) {
	return algebra(ctx, s, req, "union", collections.OpSUnionStore, func(ms [][]byte, r *commonpb.Result) *pb.CollectionsServiceSUnionResponse {
		return &pb.CollectionsServiceSUnionResponse{Result: r, Members: ms, Cardinality: int64(len(ms))}
	})
}

func (s *CollectionsService) SDiff(ctx context.Context, req *pb.CollectionsServiceSDiffRequest) (*pb.CollectionsServiceSDiffResponse, error) {
	return algebra(ctx, s, req, "diff", collections.OpSDiffStore, func(ms [][]byte, r *commonpb.Result) *pb.CollectionsServiceSDiffResponse {
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
