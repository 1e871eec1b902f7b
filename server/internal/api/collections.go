package api

import (
	"context"
	"math"
	"sync"
	"time"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/collections"
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
	sm *collections.Machine
	d  Deps

	// popping counts pop proposals in flight per queue. A waiter proposes a
	// pop only while fewer are in flight than messages are ready, so a push
	// that wakes a hundred waiters costs one pop in the log, not a hundred.
	popMu   sync.Mutex
	popping map[string]int
}

// NewCollectionsService returns the service over sm.
func NewCollectionsService(sm *collections.Machine, d Deps) *CollectionsService {
	return &CollectionsService{sm: sm, d: d, popping: map[string]int{}}
}

func nowMs() int64 { return time.Now().UnixMilli() }

// collectionsValidator adds the collections' own rules to Validator.
type collectionsValidator struct {
	Validator
	l Limits
}

func (s *CollectionsService) validator() *collectionsValidator {
	return &collectionsValidator{l: s.d.Limits}
}

// store checks a store name (result.CheckName).
func (v *collectionsValidator) store(field, name string) {
	v.Name(field, name, v.l.MaxNameLen)
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
	v.Add(collections.CheckCursor("cursor", cursor))
	v.MaxLen("match", len(match), v.l.MaxPatternLen)
	v.Add(collections.CheckGlob("match", match))
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
	v.Add(collections.CheckConfig(cfg))
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
	return write[*pb.CollectionsServiceCreateStoreResponse](ctx, s.d, collections.Name, collections.OpCreateStore, req, v.Result())
}

func (s *CollectionsService) GetStore(ctx context.Context, req *pb.CollectionsServiceGetStoreRequest) (*pb.CollectionsServiceGetStoreResponse, error) {
	v := s.validator()
	v.store("store", req.GetStore())
	v.kind(req.GetKind())
	return read(ctx, s.d, v.Result(), func() *pb.CollectionsServiceGetStoreResponse { return s.sm.GetStore(req) })
}

func (s *CollectionsService) DeleteStore(ctx context.Context, req *pb.CollectionsServiceDeleteStoreRequest) (*pb.CollectionsServiceDeleteStoreResponse, error) {
	v := s.validator()
	v.store("store", req.GetStore())
	v.kind(req.GetKind())
	return write[*pb.CollectionsServiceDeleteStoreResponse](ctx, s.d, collections.Name, collections.OpDeleteStore, req, v.Result())
}

func (s *CollectionsService) ListStores(ctx context.Context, req *pb.CollectionsServiceListStoresRequest) (*pb.CollectionsServiceListStoresResponse, error) {
	v := s.validator()
	v.kind(req.GetKind())
	v.PageSize("page_size", req.GetPageSize(), defaultPageSize, maxPageSize)
	req.PageToken = v.PageToken("page_token", ScopeCollectionsStores, req.GetPageToken())
	return read(ctx, s.d, v.Result(), func() *pb.CollectionsServiceListStoresResponse {
		resp := s.sm.ListStores(req)
		resp.NextPageToken = NextPageToken(ScopeCollectionsStores, resp.GetNextPageToken())
		return resp
	})
}

func (s *CollectionsService) ScanKeys(ctx context.Context, req *pb.CollectionsServiceScanKeysRequest) (*pb.CollectionsServiceScanKeysResponse, error) {
	v := s.validator()
	v.store("store", req.GetStore())
	v.scan(req.GetCursor(), req.GetMatch(), req.GetCount())
	return read(ctx, s.d, v.Result(), func() *pb.CollectionsServiceScanKeysResponse { return s.sm.ScanKeys(req, nowMs()) })
}

func (s *CollectionsService) DeleteKeys(ctx context.Context, req *pb.CollectionsServiceDeleteKeysRequest) (*pb.CollectionsServiceDeleteKeysResponse, error) {
	v := s.validator()
	v.store("store", req.GetStore())
	v.keys("keys", req.GetKeys(), true)
	return write[*pb.CollectionsServiceDeleteKeysResponse](ctx, s.d, collections.Name, collections.OpDeleteKeys, req, v.Result())
}
