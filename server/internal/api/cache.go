package api

import (
	"context"
	"sync"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/cachepb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/cache"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/kv"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// evictBatch bounds the keys one eviction command carries.
const evictBatch = 256

// CacheService is the CacheService, and the observer of the KV service's
// reads and writes that feeds it (NewCachedKV).
type CacheService struct {
	cachepb.UnimplementedCacheServiceServer
	sm *cache.Machine
	kv *kv.Machine
	d  Deps

	mu       sync.Mutex
	trackers map[string]*tracker
}

// NewCacheService returns the CacheService over sm, which bounds buckets
// of kvm. With d.DisableCache it returns a service whose every call answers
// gRPC Unimplemented (the state machine is still registered, so a data dir
// written with caching on still replays), and NewCachedKV adds nothing.
func NewCacheService(sm *cache.Machine, kvm *kv.Machine, d Deps) cachepb.CacheServiceServer {
	if d.DisableCache {
		return cachepb.UnimplementedCacheServiceServer{}
	}
	return &CacheService{sm: sm, kv: kvm, d: d, trackers: map[string]*tracker{}}
}

// NewCachedKV is the KV service as clients see it: each call goes to kvs
// unchanged, and the cache c observes the outcome for buckets with a
// policy (hits, misses, writes; a write evicts what the policy no longer
// allows before it answers). When c is not a *CacheService (caching is
// disabled) it returns kvs.
func NewCachedKV(kvs kvpb.KVServiceServer, c cachepb.CacheServiceServer) kvpb.KVServiceServer {
	cs, ok := c.(*CacheService)
	if !ok {
		return kvs
	}
	return &cachedKV{KVServiceServer: kvs, s: cs}
}

// trackerFor returns bucket's tracker, building it from the KV state when
// the bucket's policy is new (or the server restarted). The caller holds
// s.mu. nil when the bucket has no policy.
func (s *CacheService) trackerFor(bucket string) (*tracker, *cachepb.CachePolicy) {
	p, attachedAt, _, _, ok := s.sm.PolicyOf(bucket)
	if !ok {
		delete(s.trackers, bucket)
		return nil, nil
	}
	lfu := p.GetEviction() == cachepb.CacheEviction_CACHE_EVICTION_LFU
	t := s.trackers[bucket]
	if t != nil && t.attachedAt == attachedAt && t.lfu == lfu {
		return t, p
	}
	t = newTracker(attachedAt, lfu)
	keys, r := s.kv.Keys(bucket, "", "")
	if r == nil {
		for _, k := range keys {
			if e, r := s.kv.Get(bucket, k, 0); r == nil {
				// Keys written earlier count as used at their write, in
				// revision order, before anything used since.
				t.add(k, int64(len(k)+len(e.GetValue())), e.GetRevision())
			}
		}
	}
	// Later uses must sort after every revision seen.
	if info, ok := s.kv.Info(bucket); ok {
		t.clock = max(t.clock, info.GetRevision())
	}
	s.trackers[bucket] = t
	return t, p
}

// observeGet counts a KV Get of a cached bucket.
func (s *CacheService) observeGet(bucket, key string, hit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, _ := s.trackerFor(bucket)
	if t == nil {
		return
	}
	if hit {
		t.hits++
		t.touch(key, -1)
	} else {
		t.misses++
	}
}

// observeWrite records a successful write and evicts what the bounds no
// longer allow, before the write's response goes back: when a Put returns,
// the bucket is within its bounds.
func (s *CacheService) observeWrite(ctx context.Context, bucket, key string, size int64) {
	s.mu.Lock()
	t, _ := s.trackerFor(bucket)
	if t == nil {
		s.mu.Unlock()
		return
	}
	if size < 0 {
		t.remove(key)
	} else {
		t.touch(key, size)
	}
	s.mu.Unlock()
	if size >= 0 {
		s.sm.NoteWrite(bucket, time.Now().UnixMilli())
	}
	s.enforce(ctx, bucket, key)
}

// enforce proposes evictions until the bucket is within its bounds. The
// tracker may hold keys that are gone (expired, or changed by a write the
// leader saw after choosing); each candidate is checked against the KV
// state, and the apply checks its revision again.
//
// The key just written (protect) goes last: with LFU it has the fewest
// uses, but evicting what was just written would make the cache useless.
// It goes only when it alone breaks a bound.
func (s *CacheService) enforce(ctx context.Context, bucket, protect string) {
	for range 64 {
		s.mu.Lock()
		t, p := s.trackerFor(bucket)
		info, ok := s.kv.Info(bucket)
		if t == nil || !ok {
			s.mu.Unlock()
			return
		}
		entries := info.GetValues()
		var victims []cache.Victim
		var held *node
		for len(victims) < evictBatch {
			overEntries := p.GetMaxEntries() > 0 && entries > p.GetMaxEntries()
			overBytes := p.GetMaxBytes() > 0 && t.bytes > p.GetMaxBytes()
			if !overEntries && !overBytes {
				break
			}
			n, ok := t.coldest()
			if !ok {
				break
			}
			if n.key == protect && held == nil && len(t.nodes) > 1 {
				held = n
				t.remove(n.key)
				continue
			}
			t.remove(n.key)
			e, r := s.kv.Get(bucket, n.key, 0)
			if r != nil {
				continue // gone already: the tracker was stale
			}
			victims = append(victims, cache.Victim{Key: n.key, Revision: e.GetRevision()})
			entries--
		}
		if held != nil {
			t.restore(held)
		}
		s.mu.Unlock()
		if len(victims) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_, err := s.d.Node.Propose(ctx, cache.Name, cache.OpEvict, cache.EncodeEvict(bucket, victims))
		cancel()
		if err != nil {
			s.d.Logger.Debug("cache: eviction not applied; the next write retries")
			return
		}
	}
}

// checkAttach validates a policy to attach: its fields, and that its
// bucket exists.
func (s *CacheService) checkAttach(p *cachepb.CachePolicy) *commonpb.Result {
	var v Validator
	s.checkPolicy(&v, p)
	if r := v.Result(); r != nil {
		return r
	}
	if _, ok := s.kv.Info(p.GetBucket()); !ok {
		return result.Failf(result.CodeNotFound, "policy.bucket: bucket %q does not exist", p.GetBucket())
	}
	return nil
}

func (s *CacheService) checkPolicy(v *Validator, p *cachepb.CachePolicy) {
	checkBucket(v, "policy.bucket", p.GetBucket(), s.d.Limits.MaxNameLen)
	v.NonNegative("policy.max_entries", p.GetMaxEntries())
	v.NonNegative("policy.max_bytes", p.GetMaxBytes())
	v.Check(p.GetMaxEntries() > 0 || p.GetMaxBytes() > 0, "policy.max_entries", "a policy needs a bound: set max_entries, max_bytes or both")
	v.Duration("policy.default_ttl_ms", p.GetDefaultTtlMs(), s.d.Limits.MaxDurationMs)
	_, known := cachepb.CacheEviction_name[int32(p.GetEviction())]
	v.Check(known, "policy.eviction", "must be CACHE_EVICTION_LRU or CACHE_EVICTION_LFU")
}

func checkBucket(v *Validator, field, name string, max int) {
	v.Name(field, name, min(max, kv.MaxBucketNameLen))
}

// AttachPolicy implements CacheServiceServer.
func (s *CacheService) AttachPolicy(ctx context.Context, req *cachepb.CacheServiceAttachPolicyRequest) (*cachepb.CacheServiceAttachPolicyResponse, error) {
	resp, err := write[*cachepb.CacheServiceAttachPolicyResponse](ctx, s.d, cache.Name, cache.OpAttach, req, s.checkAttach(req.GetPolicy()))
	if resp.GetResult().GetSuccess() {
		s.enforce(ctx, req.GetPolicy().GetBucket(), "") // entries beyond the new bounds go at once
	}
	return resp, err
}

// DetachPolicy implements CacheServiceServer.
func (s *CacheService) DetachPolicy(ctx context.Context, req *cachepb.CacheServiceDetachPolicyRequest) (*cachepb.CacheServiceDetachPolicyResponse, error) {
	var v Validator
	checkBucket(&v, "bucket", req.GetBucket(), s.d.Limits.MaxNameLen)
	resp, err := write[*cachepb.CacheServiceDetachPolicyResponse](ctx, s.d, cache.Name, cache.OpDetach, req, v.Result())
	if resp.GetResult().GetSuccess() {
		s.mu.Lock()
		delete(s.trackers, req.GetBucket())
		s.mu.Unlock()
	}
	return resp, err
}

// GetPolicy implements CacheServiceServer.
func (s *CacheService) GetPolicy(ctx context.Context, req *cachepb.CacheServiceGetPolicyRequest) (*cachepb.CacheServiceGetPolicyResponse, error) {
	var v Validator
	checkBucket(&v, "bucket", req.GetBucket(), s.d.Limits.MaxNameLen)
	return read(ctx, s.d, v.Result(), func() *cachepb.CacheServiceGetPolicyResponse {
		p, _, _, _, ok := s.sm.PolicyOf(req.GetBucket())
		if !ok {
			return failed[*cachepb.CacheServiceGetPolicyResponse](result.Failf(result.CodeNotFound, "bucket %q has no cache policy", req.GetBucket()))
		}
		return &cachepb.CacheServiceGetPolicyResponse{Result: result.OK(), Policy: p}
	})
}

// ListPolicies implements CacheServiceServer; the page token is opaque
// (see PageToken).
func (s *CacheService) ListPolicies(ctx context.Context, req *cachepb.CacheServiceListPoliciesRequest) (*cachepb.CacheServiceListPoliciesResponse, error) {
	var v Validator
	size := v.PageSize("page_size", req.GetPageSize(), defaultPageSize, maxPageSize)
	after := v.PageToken("page_token", ScopeCachePolicies, req.GetPageToken())
	return read(ctx, s.d, v.Result(), func() *cachepb.CacheServiceListPoliciesResponse {
		page, more := s.sm.List(after, size)
		resp := &cachepb.CacheServiceListPoliciesResponse{Result: result.OK(), Policies: page}
		if more {
			resp.NextPageToken = NextPageToken(ScopeCachePolicies, page[len(page)-1].GetBucket())
		}
		return resp
	})
}

// Stats implements CacheServiceServer. Entries and bytes are counted from
// the bucket's live keys now; hits and misses are the leader's counts since
// the policy was attached (or since this server started).
func (s *CacheService) Stats(ctx context.Context, req *cachepb.CacheServiceStatsRequest) (*cachepb.CacheServiceStatsResponse, error) {
	var v Validator
	checkBucket(&v, "bucket", req.GetBucket(), s.d.Limits.MaxNameLen)
	return read(ctx, s.d, v.Result(), func() *cachepb.CacheServiceStatsResponse {
		_, attachedAt, evictions, expirations, ok := s.sm.PolicyOf(req.GetBucket())
		if !ok {
			return failed[*cachepb.CacheServiceStatsResponse](result.Failf(result.CodeNotFound, "bucket %q has no cache policy", req.GetBucket()))
		}
		st := &cachepb.CacheStats{Bucket: req.GetBucket(), Evictions: evictions, Expirations: expirations, AttachedAtMs: attachedAt}
		if keys, r := s.kv.Keys(req.GetBucket(), "", ""); r == nil {
			for _, k := range keys {
				if e, r := s.kv.Get(req.GetBucket(), k, 0); r == nil {
					st.Entries++
					st.Bytes += int64(len(k) + len(e.GetValue()))
				}
			}
		}
		s.mu.Lock()
		if t, _ := s.trackerFor(req.GetBucket()); t != nil {
			st.Hits, st.Misses = t.hits, t.misses
		}
		s.mu.Unlock()
		return &cachepb.CacheServiceStatsResponse{Result: result.OK(), Stats: st}
	})
}

// cachedKV is the KV service observed by the cache (NewCachedKV).
type cachedKV struct {
	kvpb.KVServiceServer
	s *CacheService
}

func (o *cachedKV) Get(ctx context.Context, req *kvpb.KVServiceGetRequest) (*kvpb.KVServiceGetResponse, error) {
	resp, err := o.KVServiceServer.Get(ctx, req)
	if err == nil && o.s.sm.Attached(req.GetBucket()) {
		r := resp.GetResult()
		if r.GetSuccess() || r.GetResultCode() == result.CodeNotFound {
			o.s.observeGet(req.GetBucket(), req.GetKey(), r.GetSuccess())
		}
	}
	return resp, err
}

// keyWrite is a KV request that writes one key.
type keyWrite interface {
	GetBucket() string
	GetKey() string
}

// valued is a keyWrite that sets a value (put, create, update); one
// without (delete, purge) removes the key.
type valued interface{ GetValue() []byte }

// observeWrite calls the KV service's write and, when it succeeded on a
// bucket with a policy, records it (the key's new size, or its removal)
// and evicts what the policy no longer allows before answering.
func observeWrite[Req keyWrite, R interface{ GetResult() *commonpb.Result }](ctx context.Context, o *cachedKV, call func(context.Context, Req) (R, error), req Req) (R, error) {
	resp, err := call(ctx, req)
	if err == nil && resp.GetResult().GetSuccess() && o.s.sm.Attached(req.GetBucket()) {
		size := int64(-1)
		if v, ok := any(req).(valued); ok {
			size = int64(len(req.GetKey()) + len(v.GetValue()))
		}
		o.s.observeWrite(ctx, req.GetBucket(), req.GetKey(), size)
	}
	return resp, err
}

func (o *cachedKV) Put(ctx context.Context, req *kvpb.KVServicePutRequest) (*kvpb.KVServicePutResponse, error) {
	return observeWrite(ctx, o, o.KVServiceServer.Put, req)
}

func (o *cachedKV) Create(ctx context.Context, req *kvpb.KVServiceCreateRequest) (*kvpb.KVServiceCreateResponse, error) {
	return observeWrite(ctx, o, o.KVServiceServer.Create, req)
}

func (o *cachedKV) Update(ctx context.Context, req *kvpb.KVServiceUpdateRequest) (*kvpb.KVServiceUpdateResponse, error) {
	return observeWrite(ctx, o, o.KVServiceServer.Update, req)
}

func (o *cachedKV) Delete(ctx context.Context, req *kvpb.KVServiceDeleteRequest) (*kvpb.KVServiceDeleteResponse, error) {
	return observeWrite(ctx, o, o.KVServiceServer.Delete, req)
}

func (o *cachedKV) Purge(ctx context.Context, req *kvpb.KVServicePurgeRequest) (*kvpb.KVServicePurgeResponse, error) {
	return observeWrite(ctx, o, o.KVServiceServer.Purge, req)
}
