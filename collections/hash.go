package collections

import (
	"context"
	"iter"
	"math"
	"time"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// HashStore is a store of hashes: each key holds field -> value pairs, with
// the commands and results of Redis' hash commands (HSET, HGET, ...). A key
// exists while it has a field. Handles are cheap and safe for concurrent use.
type HashStore struct {
	keyspace
}

func (c *Client) hashStore(name string) *HashStore {
	return &HashStore{keyspace{c: c, name: name, kind: KindHash}}
}

// Field is one field of a hash.
type Field struct {
	Field string
	Value []byte
}

// MaybeValue is one answer of MGet: Found is false for a missing field.
type MaybeValue struct {
	Value []byte
	Found bool
}

func (s *HashStore) check(key string) error {
	return checkKey("key", key)
}

// Set sets fields of the hash at key (HSET) and answers how many of them did
// not exist before. Overwriting a field clears its TTL.
func (s *HashStore) Set(ctx context.Context, key string, fields map[string][]byte) (int64, error) {
	if err := s.check(key); err != nil {
		return 0, err
	}
	if len(fields) == 0 {
		return 0, transport.Invalid("fields", "at least one is required")
	}
	for f := range fields {
		if err := checkKey("fields", f); err != nil {
			return 0, err
		}
	}
	if err := s.fence.err; err != nil {
		return 0, err
	}
	req := &pb.CollectionsServiceHSetRequest{RequestId: transport.NewRequestID(), Store: s.name, Key: key, Fields: fields, Fence: s.fence.pb}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceHSetResponse, error) {
		return s.c.rpc.HSet(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetAdded(), nil
}

// SetNX sets a field only when it does not exist (HSETNX) and reports
// whether it did.
func (s *HashStore) SetNX(ctx context.Context, key, field string, value []byte) (bool, error) {
	if err := s.check(key); err != nil {
		return false, err
	}
	if err := checkKey("field", field); err != nil {
		return false, err
	}
	if err := s.fence.err; err != nil {
		return false, err
	}
	req := &pb.CollectionsServiceHSetNXRequest{RequestId: transport.NewRequestID(), Store: s.name, Key: key, Field: field, Value: value, Fence: s.fence.pb}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceHSetNXResponse, error) {
		return s.c.rpc.HSetNX(ctx, req)
	})
	if err != nil {
		return false, err
	}
	return resp.GetSet(), nil
}

// Get reads a field (HGET). A missing key or field is ErrNotFound.
func (s *HashStore) Get(ctx context.Context, key, field string) ([]byte, error) {
	if err := s.check(key); err != nil {
		return nil, err
	}
	if err := checkKey("field", field); err != nil {
		return nil, err
	}
	req := &pb.CollectionsServiceHGetRequest{Store: s.name, Key: key, Field: field}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceHGetResponse, error) {
		return s.c.rpc.HGet(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return resp.GetValue(), nil
}

// MGet reads fields (HMGET): one answer per field, in order, missing ones
// with Found false. A missing key answers every field missing.
func (s *HashStore) MGet(ctx context.Context, key string, fields ...string) ([]MaybeValue, error) {
	if err := s.check(key); err != nil {
		return nil, err
	}
	if err := checkKeys("fields", fields); err != nil {
		return nil, err
	}
	req := &pb.CollectionsServiceHMGetRequest{Store: s.name, Key: key, Fields: fields}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceHMGetResponse, error) {
		return s.c.rpc.HMGet(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	out := make([]MaybeValue, len(resp.GetValues()))
	for i, v := range resp.GetValues() {
		out[i] = MaybeValue{Value: v.GetValue(), Found: v.GetFound()}
	}
	return out, nil
}

// Del removes fields (HDEL) and answers how many existed.
func (s *HashStore) Del(ctx context.Context, key string, fields ...string) (int64, error) {
	if err := s.check(key); err != nil {
		return 0, err
	}
	if err := checkKeys("fields", fields); err != nil {
		return 0, err
	}
	if err := s.fence.err; err != nil {
		return 0, err
	}
	req := &pb.CollectionsServiceHDelRequest{RequestId: transport.NewRequestID(), Store: s.name, Key: key, Fields: fields, Fence: s.fence.pb}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceHDelResponse, error) {
		return s.c.rpc.HDel(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetRemoved(), nil
}

// GetAll reads the whole hash (HGETALL); a missing key is an empty map. A
// hash too large for one response is ErrLimitExceeded: use Scan.
func (s *HashStore) GetAll(ctx context.Context, key string) (map[string][]byte, error) {
	if err := s.check(key); err != nil {
		return nil, err
	}
	req := &pb.CollectionsServiceHGetAllRequest{Store: s.name, Key: key}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceHGetAllResponse, error) {
		return s.c.rpc.HGetAll(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	if resp.GetFields() == nil {
		return map[string][]byte{}, nil
	}
	return resp.GetFields(), nil
}

// IncrBy adds delta to an integer field (HINCRBY; a missing field counts as
// 0) and answers the new value. A field Redis would not read as an integer
// (an optional '-', then digits without a leading zero: no '+', no spaces,
// no "-0", within int64), or a sum that would overflow, is ErrConflict and
// leaves the field as it was. Not retried after an unknown outcome.
func (s *HashStore) IncrBy(ctx context.Context, key, field string, delta int64) (int64, error) {
	if err := s.check(key); err != nil {
		return 0, err
	}
	if err := checkKey("field", field); err != nil {
		return 0, err
	}
	if err := s.fence.err; err != nil {
		return 0, err
	}
	req := &pb.CollectionsServiceHIncrByRequest{RequestId: transport.NewRequestID(), Store: s.name, Key: key, Field: field, Delta: delta, Fence: s.fence.pb}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceHIncrByResponse, error) {
		return s.c.rpc.HIncrBy(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetValue(), nil
}

// IncrByFloat adds delta to a numeric field (HINCRBYFLOAT) and answers the
// new value. A field Redis would not read as a number (strtold's syntax with
// no surrounding spaces: "+1", "007", "1e3", "0x1p4" are numbers; "", " 1",
// "nan" are not), one past float64's range, or a NaN or infinite result
// (also from a field holding "inf") is ErrConflict and leaves the field as
// it was.
func (s *HashStore) IncrByFloat(ctx context.Context, key, field string, delta float64) (float64, error) {
	if err := s.check(key); err != nil {
		return 0, err
	}
	if err := checkKey("field", field); err != nil {
		return 0, err
	}
	if math.IsNaN(delta) || math.IsInf(delta, 0) {
		return 0, transport.Invalid("delta", "must be a finite number")
	}
	if err := s.fence.err; err != nil {
		return 0, err
	}
	req := &pb.CollectionsServiceHIncrByFloatRequest{RequestId: transport.NewRequestID(), Store: s.name, Key: key, Field: field, Delta: delta, Fence: s.fence.pb}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceHIncrByFloatResponse, error) {
		return s.c.rpc.HIncrByFloat(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetValue(), nil
}

// Exists reports whether a field exists (HEXISTS).
func (s *HashStore) Exists(ctx context.Context, key, field string) (bool, error) {
	if err := s.check(key); err != nil {
		return false, err
	}
	if err := checkKey("field", field); err != nil {
		return false, err
	}
	req := &pb.CollectionsServiceHExistsRequest{Store: s.name, Key: key, Field: field}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceHExistsResponse, error) {
		return s.c.rpc.HExists(ctx, req)
	})
	if err != nil {
		return false, err
	}
	return resp.GetExists(), nil
}

// Len counts a hash's fields (HLEN); 0 for a missing key.
func (s *HashStore) Len(ctx context.Context, key string) (int64, error) {
	if err := s.check(key); err != nil {
		return 0, err
	}
	req := &pb.CollectionsServiceHLenRequest{Store: s.name, Key: key}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceHLenResponse, error) {
		return s.c.rpc.HLen(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetLength(), nil
}

// Keys lists a hash's field names in byte order (HKEYS).
func (s *HashStore) Keys(ctx context.Context, key string) ([]string, error) {
	if err := s.check(key); err != nil {
		return nil, err
	}
	req := &pb.CollectionsServiceHKeysRequest{Store: s.name, Key: key}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceHKeysResponse, error) {
		return s.c.rpc.HKeys(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return resp.GetFields(), nil
}

// Vals lists a hash's values in the byte order of their fields (HVALS).
func (s *HashStore) Vals(ctx context.Context, key string) ([][]byte, error) {
	if err := s.check(key); err != nil {
		return nil, err
	}
	req := &pb.CollectionsServiceHValsRequest{Store: s.name, Key: key}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceHValsResponse, error) {
		return s.c.rpc.HVals(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return resp.GetValues(), nil
}

// Scan answers one page of a hash's fields in byte order (HSCAN), from
// cursor ("" starts), and the next cursor ("" at the end). A field present
// for the whole scan is answered exactly once.
func (s *HashStore) Scan(ctx context.Context, key, cursor string, opts ScanOptions) ([]Field, string, error) {
	if err := s.check(key); err != nil {
		return nil, "", err
	}
	if err := checkScan(opts); err != nil {
		return nil, "", err
	}
	req := &pb.CollectionsServiceHScanRequest{Store: s.name, Key: key, Cursor: cursor, Match: opts.Match, Count: int32(opts.Count)}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceHScanResponse, error) {
		return s.c.rpc.HScan(ctx, req)
	})
	if err != nil {
		return nil, "", err
	}
	out := make([]Field, len(resp.GetFields()))
	for i, f := range resp.GetFields() {
		out[i] = Field{Field: f.GetField(), Value: f.GetValue()}
	}
	return out, resp.GetCursor(), nil
}

// All iterates over a hash's fields with Scan; it stops at the first error,
// which it yields.
func (s *HashStore) All(ctx context.Context, key string, opts ScanOptions) iter.Seq2[Field, error] {
	return transport.Pages(ctx, func(ctx context.Context, cursor string) ([]Field, string, error) {
		return s.Scan(ctx, key, cursor, opts)
	})
}

// Expire gives fields a time to live (HPEXPIRE), answering one result per
// field. A ttl of 0 deletes the fields (ExpireDeleted).
func (s *HashStore) Expire(ctx context.Context, key string, ttl time.Duration, fields ...string) ([]ExpireResult, error) {
	return s.ExpireIf(ctx, key, ttl, ExpireAlways, fields...)
}

// ExpireIf is Expire with a condition (HPEXPIRE NX/XX/GT/LT).
func (s *HashStore) ExpireIf(ctx context.Context, key string, ttl time.Duration, cond ExpireCondition, fields ...string) ([]ExpireResult, error) {
	if err := s.check(key); err != nil {
		return nil, err
	}
	if err := checkDuration("ttl", ttl); err != nil {
		return nil, err
	}
	if cond < ExpireAlways || cond > ExpireLT {
		return nil, transport.Invalid("cond", "unknown condition %d", cond)
	}
	if err := checkKeys("fields", fields); err != nil {
		return nil, err
	}
	if err := s.fence.err; err != nil {
		return nil, err
	}
	req := &pb.CollectionsServiceHExpireRequest{RequestId: transport.NewRequestID(), Store: s.name, Key: key, Fields: fields, TtlMs: ms(ttl), Condition: pb.HashExpireCondition(cond), Fence: s.fence.pb}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceHExpireResponse, error) {
		return s.c.rpc.HExpire(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return expireResults(resp.GetOutcomes()), nil
}

// Persist removes fields' TTLs (HPERSIST): ExpireSet where one was removed,
// ExpireNotMet where there was none, ExpireNoField where the field is missing.
func (s *HashStore) Persist(ctx context.Context, key string, fields ...string) ([]ExpireResult, error) {
	if err := s.check(key); err != nil {
		return nil, err
	}
	if err := checkKeys("fields", fields); err != nil {
		return nil, err
	}
	if err := s.fence.err; err != nil {
		return nil, err
	}
	req := &pb.CollectionsServiceHPersistRequest{RequestId: transport.NewRequestID(), Store: s.name, Key: key, Fields: fields, Fence: s.fence.pb}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceHPersistResponse, error) {
		return s.c.rpc.HPersist(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return expireResults(resp.GetOutcomes()), nil
}

func expireResults(os []pb.HashExpireOutcome) []ExpireResult {
	out := make([]ExpireResult, len(os))
	for i, o := range os {
		out[i] = expireResult(o)
	}
	return out
}

// TTL answers fields' remaining times to live (HPTTL), one per field:
// TTLNone (-1) for a field without one, TTLMissing (-2) for a missing field.
func (s *HashStore) TTL(ctx context.Context, key string, fields ...string) ([]time.Duration, error) {
	if err := s.check(key); err != nil {
		return nil, err
	}
	if err := checkKeys("fields", fields); err != nil {
		return nil, err
	}
	req := &pb.CollectionsServiceHTTLRequest{Store: s.name, Key: key, Fields: fields}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceHTTLResponse, error) {
		return s.c.rpc.HTTL(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	out := make([]time.Duration, len(resp.GetTtlMs()))
	for i, v := range resp.GetTtlMs() {
		if v < 0 {
			out[i] = time.Duration(v)
		} else {
			out[i] = fromMs(v)
		}
	}
	return out, nil
}
