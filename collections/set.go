package collections

import (
	"context"
	"iter"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// SetStore is a store of sets: each key holds a set of members, with the
// commands and results of Redis' set commands (SADD, SISMEMBER, ...).
// Members are byte strings (any bytes, not empty). A key exists while it has
// a member. Handles are cheap and safe for concurrent use.
type SetStore struct {
	keyspace
}

func (c *Client) setStore(name string) *SetStore {
	return &SetStore{keyspace{c: c, name: name, kind: KindSet}}
}

func membersPB(ms []string) [][]byte {
	out := make([][]byte, len(ms))
	for i, m := range ms {
		out[i] = []byte(m)
	}
	return out
}

func membersOf(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// Add adds members to the set at key (SADD) and answers how many were new.
func (s *SetStore) Add(ctx context.Context, key string, members ...string) (int64, error) {
	if err := checkKey("key", key); err != nil {
		return 0, err
	}
	if err := checkMembers("members", members); err != nil {
		return 0, err
	}
	if err := s.fence.err; err != nil {
		return 0, err
	}
	req := &pb.CollectionsServiceSAddRequest{RequestId: transport.NewRequestID(), Store: s.name, Key: key, Members: membersPB(members), Fence: s.fence.pb}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceSAddResponse, error) {
		return s.c.rpc.SAdd(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetAdded(), nil
}

// Rem removes members (SREM) and answers how many were present.
func (s *SetStore) Rem(ctx context.Context, key string, members ...string) (int64, error) {
	if err := checkKey("key", key); err != nil {
		return 0, err
	}
	if err := checkMembers("members", members); err != nil {
		return 0, err
	}
	if err := s.fence.err; err != nil {
		return 0, err
	}
	req := &pb.CollectionsServiceSRemRequest{RequestId: transport.NewRequestID(), Store: s.name, Key: key, Members: membersPB(members), Fence: s.fence.pb}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceSRemResponse, error) {
		return s.c.rpc.SRem(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetRemoved(), nil
}

// IsMember reports whether member is in the set (SISMEMBER).
func (s *SetStore) IsMember(ctx context.Context, key, member string) (bool, error) {
	if err := checkKey("key", key); err != nil {
		return false, err
	}
	if err := checkMembers("member", []string{member}); err != nil {
		return false, err
	}
	req := &pb.CollectionsServiceSIsMemberRequest{Store: s.name, Key: key, Member: []byte(member)}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceSIsMemberResponse, error) {
		return s.c.rpc.SIsMember(ctx, req)
	})
	if err != nil {
		return false, err
	}
	return resp.GetIsMember(), nil
}

// MIsMember reports, per member and in order, whether it is in the set
// (SMISMEMBER).
func (s *SetStore) MIsMember(ctx context.Context, key string, members ...string) ([]bool, error) {
	if err := checkKey("key", key); err != nil {
		return nil, err
	}
	if err := checkMembers("members", members); err != nil {
		return nil, err
	}
	req := &pb.CollectionsServiceSMIsMemberRequest{Store: s.name, Key: key, Members: membersPB(members)}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceSMIsMemberResponse, error) {
		return s.c.rpc.SMIsMember(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return resp.GetIsMember(), nil
}

// Members lists the set in byte order (SMEMBERS); a set too large for one
// response is ErrLimitExceeded: use Scan.
func (s *SetStore) Members(ctx context.Context, key string) ([]string, error) {
	if err := checkKey("key", key); err != nil {
		return nil, err
	}
	req := &pb.CollectionsServiceSMembersRequest{Store: s.name, Key: key}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceSMembersResponse, error) {
		return s.c.rpc.SMembers(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return membersOf(resp.GetMembers()), nil
}

// Card counts the set's members (SCARD); 0 for a missing key.
func (s *SetStore) Card(ctx context.Context, key string) (int64, error) {
	if err := checkKey("key", key); err != nil {
		return 0, err
	}
	req := &pb.CollectionsServiceSCardRequest{Store: s.name, Key: key}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceSCardResponse, error) {
		return s.c.rpc.SCard(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetCardinality(), nil
}

// Pop removes and answers up to count random members (SPOP; 0 counts as 1);
// fewer when the set is smaller, none for a missing key. Not retried after
// an unknown outcome.
func (s *SetStore) Pop(ctx context.Context, key string, count int) ([]string, error) {
	if err := checkKey("key", key); err != nil {
		return nil, err
	}
	if count < 0 {
		return nil, transport.Invalid("count", "must not be negative, got %d", count)
	}
	if err := s.fence.err; err != nil {
		return nil, err
	}
	req := &pb.CollectionsServiceSPopRequest{RequestId: transport.NewRequestID(), Store: s.name, Key: key, Count: int64(count), Fence: s.fence.pb}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceSPopResponse, error) {
		return s.c.rpc.SPop(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return membersOf(resp.GetMembers()), nil
}

// RandMember answers random members without removing them (SRANDMEMBER):
// count > 0 answers up to count distinct members; count < 0 answers exactly
// -count members, possibly repeated; 0 counts as 1. |count| is at most
// 100,000.
func (s *SetStore) RandMember(ctx context.Context, key string, count int) ([]string, error) {
	if err := checkKey("key", key); err != nil {
		return nil, err
	}
	if count < -100_000 || count > 100_000 {
		return nil, transport.Invalid("count", "must be within ±100000, got %d", count)
	}
	req := &pb.CollectionsServiceSRandMemberRequest{Store: s.name, Key: key, Count: int64(count)}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceSRandMemberResponse, error) {
		return s.c.rpc.SRandMember(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return membersOf(resp.GetMembers()), nil
}

// Inter answers the intersection of the sets at keys (SINTER), in byte
// order; a missing key is an empty set.
func (s *SetStore) Inter(ctx context.Context, keys ...string) ([]string, error) {
	ms, _, err := s.inter(ctx, "", keys)
	return ms, err
}

// InterStore stores the intersection at destination, replacing it (deleting
// it when the result is empty), and answers its size (SINTERSTORE).
func (s *SetStore) InterStore(ctx context.Context, destination string, keys ...string) (int64, error) {
	if err := checkKey("destination", destination); err != nil {
		return 0, err
	}
	_, n, err := s.inter(ctx, destination, keys)
	return n, err
}

func (s *SetStore) inter(ctx context.Context, dest string, keys []string) ([]string, int64, error) {
	if err := checkKeys("keys", keys); err != nil {
		return nil, 0, err
	}
	req := &pb.CollectionsServiceSInterRequest{Store: s.name, Keys: keys, Destination: dest}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceSInterResponse, error) {
		return s.c.rpc.SInter(ctx, req)
	})
	if err != nil {
		return nil, 0, err
	}
	return membersOf(resp.GetMembers()), resp.GetCardinality(), nil
}

// Union answers the union of the sets at keys (SUNION), in byte order.
func (s *SetStore) Union(ctx context.Context, keys ...string) ([]string, error) {
	ms, _, err := s.union(ctx, "", keys)
	return ms, err
}

// UnionStore stores the union at destination and answers its size
// (SUNIONSTORE).
func (s *SetStore) UnionStore(ctx context.Context, destination string, keys ...string) (int64, error) {
	if err := checkKey("destination", destination); err != nil {
		return 0, err
	}
	_, n, err := s.union(ctx, destination, keys)
	return n, err
}

func (s *SetStore) union(ctx context.Context, dest string, keys []string) ([]string, int64, error) {
	if err := checkKeys("keys", keys); err != nil {
		return nil, 0, err
	}
	req := &pb.CollectionsServiceSUnionRequest{Store: s.name, Keys: keys, Destination: dest}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceSUnionResponse, error) {
		return s.c.rpc.SUnion(ctx, req)
	})
	if err != nil {
		return nil, 0, err
	}
	return membersOf(resp.GetMembers()), resp.GetCardinality(), nil
}

// Diff answers the first set minus all the others (SDIFF), in byte order.
func (s *SetStore) Diff(ctx context.Context, keys ...string) ([]string, error) {
	ms, _, err := s.diff(ctx, "", keys)
	return ms, err
}

// DiffStore stores the difference at destination and answers its size
// (SDIFFSTORE).
func (s *SetStore) DiffStore(ctx context.Context, destination string, keys ...string) (int64, error) {
	if err := checkKey("destination", destination); err != nil {
		return 0, err
	}
	_, n, err := s.diff(ctx, destination, keys)
	return n, err
}

func (s *SetStore) diff(ctx context.Context, dest string, keys []string) ([]string, int64, error) {
	if err := checkKeys("keys", keys); err != nil {
		return nil, 0, err
	}
	req := &pb.CollectionsServiceSDiffRequest{Store: s.name, Keys: keys, Destination: dest}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceSDiffResponse, error) {
		return s.c.rpc.SDiff(ctx, req)
	})
	if err != nil {
		return nil, 0, err
	}
	return membersOf(resp.GetMembers()), resp.GetCardinality(), nil
}

// Move moves member from the set at source to the set at destination,
// atomically (SMOVE), and reports whether it was in source.
func (s *SetStore) Move(ctx context.Context, source, destination, member string) (bool, error) {
	if err := checkKey("source", source); err != nil {
		return false, err
	}
	if err := checkKey("destination", destination); err != nil {
		return false, err
	}
	if err := checkMembers("member", []string{member}); err != nil {
		return false, err
	}
	if err := s.fence.err; err != nil {
		return false, err
	}
	req := &pb.CollectionsServiceSMoveRequest{RequestId: transport.NewRequestID(), Store: s.name, Source: source, Destination: destination, Member: []byte(member), Fence: s.fence.pb}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceSMoveResponse, error) {
		return s.c.rpc.SMove(ctx, req)
	})
	if err != nil {
		return false, err
	}
	return resp.GetMoved(), nil
}

// Scan answers one page of the set's members in byte order (SSCAN), from
// cursor ("" starts), and the next cursor ("" at the end).
func (s *SetStore) Scan(ctx context.Context, key, cursor string, opts ScanOptions) ([]string, string, error) {
	if err := checkKey("key", key); err != nil {
		return nil, "", err
	}
	if err := checkScan(opts); err != nil {
		return nil, "", err
	}
	req := &pb.CollectionsServiceSScanRequest{Store: s.name, Key: key, Cursor: cursor, Match: opts.Match, Count: int32(opts.Count)}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceSScanResponse, error) {
		return s.c.rpc.SScan(ctx, req)
	})
	if err != nil {
		return nil, "", err
	}
	return membersOf(resp.GetMembers()), resp.GetCursor(), nil
}

// All iterates over the set's members with Scan; it stops at the first
// error, which it yields.
func (s *SetStore) All(ctx context.Context, key string, opts ScanOptions) iter.Seq2[string, error] {
	return transport.Pages(ctx, func(ctx context.Context, cursor string) ([]string, string, error) {
		return s.Scan(ctx, key, cursor, opts)
	})
}
