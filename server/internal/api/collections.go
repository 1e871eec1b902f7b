package api

import (
	"context"
	"math"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/collections"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/notify"
)

// maxSRandCount bounds |count| of SRandMember, whose negative form answers
// -count members even from a one-member set.
const maxSRandCount = 100_000

// maxBatch bounds how many fields, members or keys one request names.
const maxBatch = 100_000

// CollectionsService answers the collections gRPC service: it validates each
// request, proposes mutations through raft, answers reads from the state
// machine, and parks blocking pops until apply signals a ready message.
type CollectionsService struct {
	pb.UnimplementedCollectionsServiceServer
	sm      *collections.StateMachine
	d       Deps
	waiters notify.Notifier[string]

	// popping counts pop proposals in flight per queue. A waiter proposes a
	// pop only while fewer are in flight than messages are ready, so a push
	// that wakes a hundred waiters costs one pop in the log, not a hundred.
	popMu   sync.Mutex
	popping map[string]int
}

// NewCollectionsService wires the service to its state machine. Call it
// before raft starts applying, so no wake-up is missed.
func NewCollectionsService(sm *collections.StateMachine, d Deps) *CollectionsService {
	s := &CollectionsService{sm: sm, d: d, popping: map[string]int{}}
	sm.OnReady(s.waiters.Fire, s.waiters.FireAll)
	return s
}

func nowMs() int64 { return time.Now().UnixMilli() }

func (s *CollectionsService) propose(ctx context.Context, op uint16, req proto.Message) (any, *commonpb.Result) {
	r, res := Propose[any](ctx, s.d.Node, collections.Name, op, req)
	return r, res
}

// collectionsValidator adds the collections' own rules to Validator.
type collectionsValidator struct {
	Validator
	l Limits
}

func (s *CollectionsService) validator() *collectionsValidator {
	return &collectionsValidator{l: s.d.Limits}
}

// store checks a store name: 1..MaxNameLen bytes of [A-Za-z0-9_-].
func (v *collectionsValidator) store(field, name string) {
	v.NonEmpty(field, name)
	v.MaxLen(field, len(name), v.l.MaxNameLen)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			v.Check(false, field, "may hold only A-Z a-z 0-9 _ -")
			break
		}
	}
}

// key checks a hash or set key, or a hash field.
func (v *collectionsValidator) key(field, k string) {
	v.NonEmpty(field, k)
	v.MaxLen(field, len(k), v.l.MaxKeyLen)
}

func (v *collectionsValidator) keys(field string, ks []string, atLeastOne bool) {
	if atLeastOne {
		v.Check(len(ks) > 0, field, "at least one is required")
	}
	v.Check(len(ks) <= maxBatch, field, "too many in one request")
	for _, k := range ks {
		v.key(field, k)
	}
}

func (v *collectionsValidator) value(field string, b []byte) {
	v.MaxLen(field, len(b), v.l.MaxValueSize)
}

func (v *collectionsValidator) members(field string, ms [][]byte, atLeastOne bool) {
	if atLeastOne {
		v.Check(len(ms) > 0, field, "at least one is required")
	}
	v.Check(len(ms) <= maxBatch, field, "too many in one request")
	for _, m := range ms {
		v.Check(len(m) > 0, field, "must not be empty")
		v.value(field, m)
	}
}

func (v *collectionsValidator) scan(cursor, match string, count int32) {
	v.Check(collections.ValidCursor(cursor), "cursor", "not a cursor this server answered")
	v.MaxLen("match", len(match), v.l.MaxPatternLen)
	v.Check(collections.ValidGlob(match), "match", "malformed pattern (a [ class not closed, or a trailing \\)")
	v.NonNegative("count", int64(count))
}

func (v *collectionsValidator) kind(k pb.CollectionsStoreKind) {
	_, known := pb.CollectionsStoreKind_name[int32(k)]
	v.Check(known, "kind", "unknown store kind")
}

// Stores.

func (s *CollectionsService) CreateStore(ctx context.Context, req *pb.CollectionsServiceCreateStoreRequest) (*pb.CollectionsServiceCreateStoreResponse, error) {
	v := s.validator()
	cfg := req.GetConfig()
	v.Check(cfg != nil, "config", "is required")
	v.store("config.name", cfg.GetName())
	v.MaxLen("config.description", len(cfg.GetDescription()), s.d.Limits.MaxDescriptionLen)
	if field, rule := collections.ValidateConfig(cfg); field != "" {
		v.Check(false, field, rule)
	}
	if q := cfg.GetQueue(); q != nil {
		if q.GetDeadLetterQueue() != "" {
			v.store("config.queue.dead_letter_queue", q.GetDeadLetterQueue())
		}
		for _, d := range []struct {
			field string
			ms    int64
		}{
			{"config.queue.visibility_timeout_ms", q.GetVisibilityTimeoutMs()},
			{"config.queue.delay_ms", q.GetDelayMs()},
			{"config.queue.retention_ms", q.GetRetentionMs()},
			{"config.queue.dedupe_window_ms", q.GetDedupeWindowMs()},
		} {
			v.Duration(d.field, d.ms, s.d.Limits.MaxDurationMs)
		}
		v.MaxLen("config.queue.max_message_size", int(min(q.GetMaxMessageSize(), math.MaxInt32)), s.d.Limits.MaxValueSize)
	}
	if h := cfg.GetHash(); h != nil {
		v.MaxLen("config.hash.max_value_size", int(min(h.GetMaxValueSize(), math.MaxInt32)), s.d.Limits.MaxValueSize)
	}
	if st := cfg.GetSet(); st != nil {
		v.MaxLen("config.set.max_member_size", int(min(st.GetMaxMemberSize(), math.MaxInt32)), s.d.Limits.MaxValueSize)
	}
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceCreateStoreResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceCreateStoreResponse](ctx, s.d.Node, collections.Name, collections.OpCreateStore, req)
	if r != nil {
		return &pb.CollectionsServiceCreateStoreResponse{Result: r}, nil
	}
	return resp, nil
}

func (s *CollectionsService) GetStore(_ context.Context, req *pb.CollectionsServiceGetStoreRequest) (*pb.CollectionsServiceGetStoreResponse, error) {
	v := s.validator()
	v.store("store", req.GetStore())
	v.kind(req.GetKind())
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceGetStoreResponse{Result: r}, nil
	}
	return s.sm.GetStore(req), nil
}

func (s *CollectionsService) DeleteStore(ctx context.Context, req *pb.CollectionsServiceDeleteStoreRequest) (*pb.CollectionsServiceDeleteStoreResponse, error) {
	v := s.validator()
	v.store("store", req.GetStore())
	v.kind(req.GetKind())
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceDeleteStoreResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceDeleteStoreResponse](ctx, s.d.Node, collections.Name, collections.OpDeleteStore, req)
	if r != nil {
		return &pb.CollectionsServiceDeleteStoreResponse{Result: r}, nil
	}
	return resp, nil
}

func (s *CollectionsService) ListStores(_ context.Context, req *pb.CollectionsServiceListStoresRequest) (*pb.CollectionsServiceListStoresResponse, error) {
	v := s.validator()
	v.kind(req.GetKind())
	v.NonNegative("page_size", int64(req.GetPageSize()))
	v.Check(req.GetPageSize() <= 1000, "page_size", "at most 1000")
	req.PageToken = v.PageToken("page_token", ScopeCollectionsStores, req.GetPageToken())
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceListStoresResponse{Result: r}, nil
	}
	resp := s.sm.ListStores(req)
	resp.NextPageToken = NextPageToken(ScopeCollectionsStores, resp.GetNextPageToken())
	return resp, nil
}

func (s *CollectionsService) ScanKeys(_ context.Context, req *pb.CollectionsServiceScanKeysRequest) (*pb.CollectionsServiceScanKeysResponse, error) {
	v := s.validator()
	v.store("store", req.GetStore())
	v.scan(req.GetCursor(), req.GetMatch(), req.GetCount())
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceScanKeysResponse{Result: r}, nil
	}
	return s.sm.ScanKeys(req, nowMs()), nil
}

func (s *CollectionsService) DeleteKeys(ctx context.Context, req *pb.CollectionsServiceDeleteKeysRequest) (*pb.CollectionsServiceDeleteKeysResponse, error) {
	v := s.validator()
	v.store("store", req.GetStore())
	v.keys("keys", req.GetKeys(), true)
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceDeleteKeysResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceDeleteKeysResponse](ctx, s.d.Node, collections.Name, collections.OpDeleteKeys, req)
	if r != nil {
		return &pb.CollectionsServiceDeleteKeysResponse{Result: r}, nil
	}
	return resp, nil
}

// Hashes.

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

// Sets.

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
	return nil, 0, Failf(CodeInternal, "collections op %d applied with a %T result", storeOp, resp)
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

// Queues.

func (s *CollectionsService) receipt(queue, receipt string) *collectionsValidator {
	v := s.validator()
	v.store("queue", queue)
	v.NonEmpty("receipt", receipt)
	_, _, _, ok := collections.ParseReceipt(receipt)
	v.Check(ok, "receipt", "not a receipt this server handed out")
	return v
}

func (s *CollectionsService) QueuePush(ctx context.Context, req *pb.CollectionsServiceQueuePushRequest) (*pb.CollectionsServiceQueuePushResponse, error) {
	v := s.validator()
	v.store("queue", req.GetQueue())
	v.value("payload", req.GetPayload())
	v.MaxLen("id", len(req.GetId()), s.d.Limits.MaxKeyLen)
	if req.DelayMs != nil {
		v.Duration("delay_ms", req.GetDelayMs(), s.d.Limits.MaxDurationMs)
	}
	v.Check(len(req.GetAttributes()) <= 64, "attributes", "at most 64")
	for k, val := range req.GetAttributes() {
		v.key("attributes", k)
		v.MaxLen("attributes", len(val), s.d.Limits.MaxKeyLen)
	}
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceQueuePushResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceQueuePushResponse](ctx, s.d.Node, collections.Name, collections.OpQueuePush, req)
	if r != nil {
		return &pb.CollectionsServiceQueuePushResponse{Result: r}, nil
	}
	return resp, nil
}

// QueuePop pops at once when a message is ready; otherwise it parks on the
// queue's notifier (fired by apply on a push, a nack, a tick that readies a
// message, or the queue's deletion) and on a timer for the next delayed or
// in-flight message, until wait_ms runs out. A pop is proposed only when a
// look at the state says it would find something, so idle waiters write
// nothing to the log.
func (s *CollectionsService) QueuePop(ctx context.Context, req *pb.CollectionsServiceQueuePopRequest) (*pb.CollectionsServiceQueuePopResponse, error) {
	v := s.validator()
	v.store("queue", req.GetQueue())
	v.Duration("wait_ms", req.GetWaitMs(), s.d.Limits.MaxDurationMs)
	if req.VisibilityTimeoutMs != nil {
		v.Check(req.GetVisibilityTimeoutMs() > 0, "visibility_timeout_ms", "must be positive")
		v.Duration("visibility_timeout_ms", req.GetVisibilityTimeoutMs(), s.d.Limits.MaxDurationMs)
	}
	v.NonNegative("max_messages", int64(req.GetMaxMessages()))
	v.Check(req.GetMaxMessages() <= collections.MaxPopMessages, "max_messages", "at most 1000")
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceQueuePopResponse{Result: r}, nil
	}
	if rid := req.GetRequestId(); rid != "" && s.d.Remembered != nil {
		if res, ok := s.d.Remembered(collections.Name, rid); ok {
			if resp, ok := res.(*pb.CollectionsServiceQueuePopResponse); ok {
				return resp, nil // a retry of a pop that was applied
			}
		}
	}
	deadline := time.Now().Add(time.Duration(req.GetWaitMs()) * time.Millisecond)
	var w *notify.Waiter[string]
	defer func() {
		if w != nil {
			w.Stop()
		}
	}()
	for {
		ready, nextDue, r := s.sm.Poppable(req.GetQueue(), nowMs())
		if r != nil {
			return &pb.CollectionsServiceQueuePopResponse{Result: r}, nil
		}
		if ready > 0 && s.claimPop(req.GetQueue(), ready) {
			resp, r := Propose[*pb.CollectionsServiceQueuePopResponse](ctx, s.d.Node, collections.Name, collections.OpQueuePop, req)
			s.releasePop(req.GetQueue())
			if r != nil {
				return &pb.CollectionsServiceQueuePopResponse{Result: r}, nil
			}
			if !resp.GetResult().GetSuccess() || len(resp.GetMessages()) > 0 {
				return resp, nil
			}
			// Another pop took it first: wait on.
		}
		// Else pops in flight may take every ready message; each one that
		// ends fires the queue, and this waiter looks again then.
		left := time.Until(deadline)
		if left <= 0 {
			return &pb.CollectionsServiceQueuePopResponse{Result: Fail(CodeExpired, "no message was ready within wait_ms")}, nil
		}
		if w == nil {
			// Subscribe, then look again: a push between the look above
			// and the subscription would otherwise be missed.
			w = s.waiters.Watch(req.GetQueue())
			continue
		}
		if nextDue > 0 {
			left = min(left, time.Until(time.UnixMilli(nextDue)))
		}
		t := time.NewTimer(max(left, time.Millisecond))
		select {
		case <-w.C():
			_ = w.Wait(ctx) // re-subscribe; returns at once
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return &pb.CollectionsServiceQueuePopResponse{Result: FromError(ctx.Err())}, nil
		case <-s.d.Stopping:
			t.Stop()
			return &pb.CollectionsServiceQueuePopResponse{Result: Fail(CodeUnavailable, "server stopping")}, nil
		}
		t.Stop()
	}
}

// claimPop reserves a pop proposal for queue when fewer are in flight than
// messages are ready.
func (s *CollectionsService) claimPop(queue string, ready int) bool {
	s.popMu.Lock()
	defer s.popMu.Unlock()
	if s.popping[queue] >= ready {
		return false
	}
	s.popping[queue]++
	return true
}

// releasePop ends a claim and wakes the queue's other waiters, which held
// back while it was in flight: messages may be left for them.
func (s *CollectionsService) releasePop(queue string) {
	s.popMu.Lock()
	if s.popping[queue]--; s.popping[queue] == 0 {
		delete(s.popping, queue)
	}
	s.popMu.Unlock()
	s.waiters.Fire(queue)
}

func (s *CollectionsService) QueueAck(ctx context.Context, req *pb.CollectionsServiceQueueAckRequest) (*pb.CollectionsServiceQueueAckResponse, error) {
	if r := s.receipt(req.GetQueue(), req.GetReceipt()).Result(); r != nil {
		return &pb.CollectionsServiceQueueAckResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceQueueAckResponse](ctx, s.d.Node, collections.Name, collections.OpQueueAck, req)
	if r != nil {
		return &pb.CollectionsServiceQueueAckResponse{Result: r}, nil
	}
	return resp, nil
}

func (s *CollectionsService) QueueNack(ctx context.Context, req *pb.CollectionsServiceQueueNackRequest) (*pb.CollectionsServiceQueueNackResponse, error) {
	v := s.receipt(req.GetQueue(), req.GetReceipt())
	v.Duration("delay_ms", req.GetDelayMs(), s.d.Limits.MaxDurationMs)
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceQueueNackResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceQueueNackResponse](ctx, s.d.Node, collections.Name, collections.OpQueueNack, req)
	if r != nil {
		return &pb.CollectionsServiceQueueNackResponse{Result: r}, nil
	}
	return resp, nil
}

func (s *CollectionsService) QueueExtendVisibility(ctx context.Context, req *pb.CollectionsServiceQueueExtendVisibilityRequest) (*pb.CollectionsServiceQueueExtendVisibilityResponse, error) {
	v := s.receipt(req.GetQueue(), req.GetReceipt())
	v.Check(req.GetVisibilityTimeoutMs() > 0, "visibility_timeout_ms", "must be positive")
	v.Duration("visibility_timeout_ms", req.GetVisibilityTimeoutMs(), s.d.Limits.MaxDurationMs)
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceQueueExtendVisibilityResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceQueueExtendVisibilityResponse](ctx, s.d.Node, collections.Name, collections.OpQueueExtend, req)
	if r != nil {
		return &pb.CollectionsServiceQueueExtendVisibilityResponse{Result: r}, nil
	}
	return resp, nil
}

func (s *CollectionsService) QueueLen(_ context.Context, req *pb.CollectionsServiceQueueLenRequest) (*pb.CollectionsServiceQueueLenResponse, error) {
	v := s.validator()
	v.store("queue", req.GetQueue())
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceQueueLenResponse{Result: r}, nil
	}
	return s.sm.QueueLen(req, nowMs()), nil
}

func (s *CollectionsService) QueuePeek(_ context.Context, req *pb.CollectionsServiceQueuePeekRequest) (*pb.CollectionsServiceQueuePeekResponse, error) {
	v := s.validator()
	v.store("queue", req.GetQueue())
	v.NonNegative("count", int64(req.GetCount()))
	v.Check(req.GetCount() <= collections.MaxPopMessages, "count", "at most 1000")
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceQueuePeekResponse{Result: r}, nil
	}
	return s.sm.QueuePeek(req), nil
}

func (s *CollectionsService) QueuePurge(ctx context.Context, req *pb.CollectionsServiceQueuePurgeRequest) (*pb.CollectionsServiceQueuePurgeResponse, error) {
	v := s.validator()
	v.store("queue", req.GetQueue())
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceQueuePurgeResponse{Result: r}, nil
	}
	resp, r := Propose[*pb.CollectionsServiceQueuePurgeResponse](ctx, s.d.Node, collections.Name, collections.OpQueuePurge, req)
	if r != nil {
		return &pb.CollectionsServiceQueuePurgeResponse{Result: r}, nil
	}
	return resp, nil
}
