package api

import (
	"context"
	"math"

	"google.golang.org/grpc"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/kv"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/notify"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/park"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// KV list and stream sizes.
const (
	kvDefaultKeysBatch = 1000
	kvMaxKeysBatch     = 10000
	kvMaxRequestID     = fsm.MaxRequestIDLen
)

// KVService is the gRPC KV service: it validates each request, proposes
// mutations through raft, answers reads from the state machine, and streams
// watches woken by the machine's change notifications.
type KVService struct {
	kvpb.UnimplementedKVServiceServer
	sm *kv.Machine
	d  Deps
}

// NewKVService returns the service over sm, and bounds sm's change log by
// d.Limits (WatchBacklog, WatchBacklogBytes). Call it before raft applies.
func NewKVService(sm *kv.Machine, d Deps) *KVService {
	sm.SetWatchBacklog(d.Limits.WatchBacklog, int64(d.Limits.WatchBacklogBytes))
	return &KVService{sm: sm, d: d}
}

func (s *KVService) checkBucket(v *Validator, field, name string) {
	v.Name(field, name, min(s.d.Limits.MaxNameLen, kv.MaxBucketNameLen))
}

func (s *KVService) checkKey(v *Validator, key string) {
	v.Add(kv.CheckKey("key", key, s.d.Limits.MaxKeyLen))
}

func (s *KVService) checkPattern(v *Validator, p string) {
	v.Add(kv.CheckPattern("pattern", p, s.d.Limits.MaxKeyLen))
}

// normalizeConfig validates a bucket configuration and fills its defaults,
// so the proposed command carries the final configuration (replicas with
// other limits then still apply the same thing).
func (s *KVService) normalizeConfig(cfg *kvpb.KVBucketConfig) (*kvpb.KVBucketConfig, *commonpb.Result) {
	var v Validator
	if cfg == nil {
		v.Check(false, "config", "is required")
		return nil, v.Result()
	}
	s.checkBucket(&v, "config.name", cfg.GetName())
	v.MaxLen("config.description", len(cfg.GetDescription()), s.d.Limits.MaxDescriptionLen)
	v.Check(cfg.GetHistory() <= kv.MaxHistory, "config.history", "must be at most 64")
	v.Duration("config.ttl_ms", cfg.GetTtlMs(), s.d.Limits.MaxDurationMs)
	v.NonNegative("config.max_value_size", cfg.GetMaxValueSize())
	v.Check(cfg.GetMaxValueSize() <= int64(s.d.Limits.MaxValueSize), "config.max_value_size", "exceeds the server's MaxValueSize")
	v.NonNegative("config.max_bytes", cfg.GetMaxBytes())
	if r := v.Result(); r != nil {
		return nil, r
	}
	c := &kvpb.KVBucketConfig{Name: cfg.Name, Description: cfg.Description, History: cfg.History,
		TtlMs: cfg.TtlMs, MaxValueSize: cfg.MaxValueSize, MaxBytes: cfg.MaxBytes}
	if c.History == 0 {
		c.History = 1
	}
	if c.MaxValueSize == 0 {
		c.MaxValueSize = int64(s.d.Limits.MaxValueSize)
	}
	return c, nil
}

// CreateBucket implements kvpb.KVServiceServer.
func (s *KVService) CreateBucket(ctx context.Context, req *kvpb.KVServiceCreateBucketRequest) (*kvpb.KVServiceCreateBucketResponse, error) {
	cfg, r := s.normalizeConfig(req.GetConfig())
	return write[*kvpb.KVServiceCreateBucketResponse](ctx, s.d, kv.Name, kv.OpCreateBucket, &kvpb.KVServiceCreateBucketRequest{Config: cfg, RequestId: req.GetRequestId()}, r)
}

// UpdateBucket implements kvpb.KVServiceServer.
func (s *KVService) UpdateBucket(ctx context.Context, req *kvpb.KVServiceUpdateBucketRequest) (*kvpb.KVServiceUpdateBucketResponse, error) {
	cfg, r := s.normalizeConfig(req.GetConfig())
	return write[*kvpb.KVServiceUpdateBucketResponse](ctx, s.d, kv.Name, kv.OpUpdateBucket, &kvpb.KVServiceUpdateBucketRequest{Config: cfg, RequestId: req.GetRequestId()}, r)
}

// GetBucket implements kvpb.KVServiceServer.
func (s *KVService) GetBucket(ctx context.Context, req *kvpb.KVServiceGetBucketRequest) (*kvpb.KVServiceGetBucketResponse, error) {
	var v Validator
	s.checkBucket(&v, "bucket", req.GetBucket())
	return read(ctx, s.d, v.Result(), func() *kvpb.KVServiceGetBucketResponse {
		info, ok := s.sm.Info(req.GetBucket())
		if !ok {
			return failed[*kvpb.KVServiceGetBucketResponse](result.Failf(result.CodeNotFound, "bucket %q does not exist", req.GetBucket()))
		}
		return &kvpb.KVServiceGetBucketResponse{Result: result.OK(), Info: info}
	})
}

// DeleteBucket implements kvpb.KVServiceServer.
func (s *KVService) DeleteBucket(ctx context.Context, req *kvpb.KVServiceDeleteBucketRequest) (*kvpb.KVServiceDeleteBucketResponse, error) {
	var v Validator
	s.checkBucket(&v, "bucket", req.GetBucket())
	return write[*kvpb.KVServiceDeleteBucketResponse](ctx, s.d, kv.Name, kv.OpDeleteBucket, req, v.Result())
}

// ListBuckets implements kvpb.KVServiceServer. The page token is opaque
// (see PageToken).
func (s *KVService) ListBuckets(ctx context.Context, req *kvpb.KVServiceListBucketsRequest) (*kvpb.KVServiceListBucketsResponse, error) {
	var v Validator
	size := v.PageSize("page_size", req.GetPageSize(), defaultPageSize, maxPageSize)
	after := v.PageToken("page_token", ScopeKVBuckets, req.GetPageToken())
	return read(ctx, s.d, v.Result(), func() *kvpb.KVServiceListBucketsResponse {
		infos, more := s.sm.List(after, size)
		resp := &kvpb.KVServiceListBucketsResponse{Result: result.OK(), Buckets: infos}
		if more && len(infos) > 0 {
			resp.NextPageToken = NextPageToken(ScopeKVBuckets, infos[len(infos)-1].GetConfig().GetName())
		}
		return resp
	})
}

// checkWrite validates the fields every key mutation shares; value is nil
// for deletes and purges.
func (s *KVService) checkWrite(bucket, key string, value []byte, requestID string) *commonpb.Result {
	var v Validator
	s.checkBucket(&v, "bucket", bucket)
	s.checkKey(&v, key)
	v.MaxLen("request_id", len(requestID), kvMaxRequestID)
	v.MaxLen("value", len(value), s.d.Limits.MaxValueSize)
	if r := v.Result(); r != nil {
		return r
	}
	if len(value) > 0 {
		max, ok := s.sm.MaxValueSize(bucket)
		if !ok {
			return result.Failf(result.CodeNotFound, "bucket %q does not exist", bucket)
		}
		if int64(len(value)) > max {
			return result.Failf(result.CodeInvalidArgument, "value: is %d bytes, bucket limit %d", len(value), max)
		}
	}
	return nil
}

// Put implements kvpb.KVServiceServer.
func (s *KVService) Put(ctx context.Context, req *kvpb.KVServicePutRequest) (*kvpb.KVServicePutResponse, error) {
	return write[*kvpb.KVServicePutResponse](ctx, s.d, kv.Name, kv.OpPut, req, s.checkWrite(req.GetBucket(), req.GetKey(), req.GetValue(), req.GetRequestId()))
}

// Create implements kvpb.KVServiceServer.
func (s *KVService) Create(ctx context.Context, req *kvpb.KVServiceCreateRequest) (*kvpb.KVServiceCreateResponse, error) {
	return write[*kvpb.KVServiceCreateResponse](ctx, s.d, kv.Name, kv.OpCreate, req, s.checkWrite(req.GetBucket(), req.GetKey(), req.GetValue(), req.GetRequestId()))
}

// Update implements kvpb.KVServiceServer.
func (s *KVService) Update(ctx context.Context, req *kvpb.KVServiceUpdateRequest) (*kvpb.KVServiceUpdateResponse, error) {
	return write[*kvpb.KVServiceUpdateResponse](ctx, s.d, kv.Name, kv.OpUpdate, req, s.checkWrite(req.GetBucket(), req.GetKey(), req.GetValue(), req.GetRequestId()))
}

// Delete implements kvpb.KVServiceServer.
func (s *KVService) Delete(ctx context.Context, req *kvpb.KVServiceDeleteRequest) (*kvpb.KVServiceDeleteResponse, error) {
	return write[*kvpb.KVServiceDeleteResponse](ctx, s.d, kv.Name, kv.OpDelete, req, s.checkWrite(req.GetBucket(), req.GetKey(), nil, req.GetRequestId()))
}

// Purge implements kvpb.KVServiceServer.
func (s *KVService) Purge(ctx context.Context, req *kvpb.KVServicePurgeRequest) (*kvpb.KVServicePurgeResponse, error) {
	return write[*kvpb.KVServicePurgeResponse](ctx, s.d, kv.Name, kv.OpPurge, req, s.checkWrite(req.GetBucket(), req.GetKey(), nil, req.GetRequestId()))
}

// Get implements kvpb.KVServiceServer: a read answered by the leader's
// state, which already holds every write acknowledged before the call.
func (s *KVService) Get(ctx context.Context, req *kvpb.KVServiceGetRequest) (*kvpb.KVServiceGetResponse, error) {
	var v Validator
	s.checkBucket(&v, "bucket", req.GetBucket())
	s.checkKey(&v, req.GetKey())
	return read(ctx, s.d, v.Result(), func() *kvpb.KVServiceGetResponse {
		e, r := s.sm.Get(req.GetBucket(), req.GetKey(), req.GetRevision())
		if r != nil {
			return failed[*kvpb.KVServiceGetResponse](r)
		}
		return &kvpb.KVServiceGetResponse{Result: result.OK(), Entry: e}
	})
}

// Keys implements kvpb.KVServiceServer: the matching keys in batches, the
// last one marked done.
func (s *KVService) Keys(req *kvpb.KVServiceKeysRequest, stream grpc.ServerStreamingServer[kvpb.KVServiceKeysResponse]) error {
	var v Validator
	s.checkBucket(&v, "bucket", req.GetBucket())
	s.checkPattern(&v, req.GetPattern())
	batch := v.PageSize("batch_size", req.GetBatchSize(), kvDefaultKeysBatch, kvMaxKeysBatch)
	if sa := req.GetStartAfter(); sa != "" {
		v.MaxLen("start_after", len(sa), s.d.Limits.MaxKeyLen)
	}
	if r := readStart(stream.Context(), s.d, v.Result()); r != nil {
		return stream.Send(&kvpb.KVServiceKeysResponse{Result: r})
	}
	keys, r := s.sm.Keys(req.GetBucket(), req.GetPattern(), req.GetStartAfter())
	if r != nil {
		return stream.Send(&kvpb.KVServiceKeysResponse{Result: r})
	}
	for {
		n := min(batch, len(keys))
		if err := stream.Send(&kvpb.KVServiceKeysResponse{Result: result.OK(), Keys: keys[:n], Done: n == len(keys)}); err != nil {
			return err
		}
		if keys = keys[n:]; len(keys) == 0 {
			return nil
		}
	}
}

// History implements kvpb.KVServiceServer.
func (s *KVService) History(req *kvpb.KVServiceHistoryRequest, stream grpc.ServerStreamingServer[kvpb.KVServiceHistoryResponse]) error {
	var v Validator
	s.checkBucket(&v, "bucket", req.GetBucket())
	s.checkKey(&v, req.GetKey())
	if r := readStart(stream.Context(), s.d, v.Result()); r != nil {
		return stream.Send(&kvpb.KVServiceHistoryResponse{Result: r})
	}
	entries, r := s.sm.History(req.GetBucket(), req.GetKey(), req.GetAfterRevision())
	if r != nil {
		return stream.Send(&kvpb.KVServiceHistoryResponse{Result: r})
	}
	for _, e := range entries {
		if err := stream.Send(&kvpb.KVServiceHistoryResponse{Result: result.OK(), Entry: e}); err != nil {
			return err
		}
	}
	return stream.Send(&kvpb.KVServiceHistoryResponse{Result: result.OK(), Done: true})
}

func kvStartMode(req *kvpb.KVServiceWatchRequest) kv.StartMode {
	if req.GetIncludeHistory() {
		return kv.StartHistory
	}
	return kv.StartLatest
}

// Watch implements kvpb.KVServiceServer: the initial values (or history, or
// the backlog of a resumed watch) in revision order, the marker, then every
// change as apply announces it. It ends when the client goes, when the
// bucket is deleted (not_found), when the watch fell further behind than
// the bucket's change log holds (compacted: never a gap) or when the server
// stops (unavailable, so the client rebinds).
func (s *KVService) Watch(req *kvpb.KVServiceWatchRequest, stream grpc.ServerStreamingServer[kvpb.KVServiceWatchResponse]) error {
	var v Validator
	s.checkBucket(&v, "bucket", req.GetBucket())
	s.checkPattern(&v, req.GetPattern())
	if r := readStart(stream.Context(), s.d, v.Result()); r != nil {
		return stream.Send(&kvpb.KVServiceWatchResponse{Result: r})
	}
	ctx := stream.Context()
	bucket := req.GetBucket()
	f := kv.Filter{Pattern: req.GetPattern(), IgnoreDeletes: req.GetIgnoreDeletes()}

	// Subscribe before the first look, so no change between the look and
	// the wait is missed.
	w := s.sm.Watch(bucket)
	stopW := true
	defer func() {
		if stopW {
			w.Stop()
		}
	}()

	var (
		id      uint64
		initial []*kvpb.KVEntry
		cursor  uint64
		r       *commonpb.Result
	)
	switch {
	case req.GetResume() || req.GetResumeFromRevision() > 0:
		// A rebind inside the initial phase asks for the rest of it; any
		// other resume for every change since, or compacted.
		mode := kv.StartChanges
		if req.GetResumeInitial() {
			mode = kvStartMode(req)
		}
		id, initial, cursor, r = s.sm.WatchStart(bucket, f, req.GetResumeFromRevision(), mode)
	case req.GetUpdatesOnly():
		id, _, cursor, r = s.sm.WatchStart(bucket, f, math.MaxUint64, kv.StartLatest)
	default:
		id, initial, cursor, r = s.sm.WatchStart(bucket, f, 0, kvStartMode(req))
	}
	if r != nil {
		return stream.Send(&kvpb.KVServiceWatchResponse{Result: r})
	}
	for _, e := range initial {
		if err := stream.Send(&kvpb.KVServiceWatchResponse{Result: result.OK(), Entry: e, Revision: e.Revision}); err != nil {
			return err
		}
	}
	if err := stream.Send(&kvpb.KVServiceWatchResponse{Result: result.OK(), InitialDone: true, Revision: cursor}); err != nil {
		return err
	}
	// Live changes are read a bounded batch at a time, the next once the
	// stream has taken this one: a reader that stops holds at most one
	// batch here (Limits.SubscriptionBuffer, SubscriptionBufferBytes).
	// Between changes the loop waits without a goroutine when the stream
	// can take it (park: a subscription).
	n, maxBytes := subscriptionBatch(s.d.Limits)
	l := &kvWatchLoop{s: s, stream: stream, w: w, bucket: bucket, id: id, f: f, cursor: cursor, n: n, maxBytes: maxBytes, hd: held{s: s.d.Subs}}
	stopW = false // the loop holds it now
	return park.Run(ctx, stream, s.d.Stopping, l)
}

// kvWatchLoop is a watch's live phase, in steps (park.Loop).
type kvWatchLoop struct {
	s        *KVService
	stream   grpc.ServerStreamingServer[kvpb.KVServiceWatchResponse]
	w        *notify.Waiter[string]
	bucket   string
	id       uint64
	f        kv.Filter
	cursor   uint64
	n        int
	maxBytes int64
	hd       held
	buf      []*kvpb.KVEntry // reused between batches; made on the first change
}

func (l *kvWatchLoop) Step() (park.Waiter, error) {
	for {
		buf, rev, r := l.s.sm.WatchNextBytes(l.bucket, l.id, l.f, l.cursor, l.n, l.maxBytes, l.buf[:0])
		if r != nil {
			return nil, l.stream.Send(&kvpb.KVServiceWatchResponse{Result: r})
		}
		l.buf = buf
		var size int64
		for _, e := range buf {
			size += kvEntrySize(e)
		}
		l.hd.add(len(buf), size)
		for i, e := range buf {
			err := l.stream.Send(&kvpb.KVServiceWatchResponse{Result: result.OK(), Entry: e, Revision: e.Revision})
			l.hd.done(kvEntrySize(e))
			buf[i] = nil
			if err != nil {
				return nil, err
			}
		}
		l.cursor = rev
		if len(buf) == 0 {
			return l.w, nil
		}
		// more may be waiting
	}
}

func (l *kvWatchLoop) Stopping() error {
	return l.stream.Send(&kvpb.KVServiceWatchResponse{Result: result.Fail(result.CodeUnavailable, "server stopping; rebind")})
}

func (l *kvWatchLoop) Close() {
	l.w.Stop()
	l.hd.release()
}

func kvEntrySize(e *kvpb.KVEntry) int64 { return int64(len(e.GetKey()) + len(e.GetValue())) }
