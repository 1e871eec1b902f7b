package kv

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
)

// Any key the validator accepts matches itself, ">" and, token for token,
// its all-"*" pattern; nothing panics.
func FuzzKeysAndPatterns(f *testing.F) {
	for _, s := range []string{"a", "a.b", "a..b", ".a", "a.*", "a.>", ">", "*", "a=b/c-d_e", "\xff"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, key, pattern string) {
		okKey := CheckKey("key", key, 1024) == nil
		okPat := CheckPattern("pattern", pattern, 1024) == nil
		if okKey {
			if CheckPattern("pattern", key, 1024) != nil {
				t.Fatalf("valid key %q is not a valid pattern", key)
			}
			stars := strings.Repeat("*.", strings.Count(key, "."))
			if !Match(key, key) || !Match(">", key) || !Match(stars+"*", key) || !Match(stars+">", key) {
				t.Fatalf("valid key %q does not match itself or its wildcards", key)
			}
		}
		if okKey && okPat {
			_ = Match(pattern, key)
		}
	})
}

// Apply never panics on any payload for any op, and a refused command
// changes nothing.
func FuzzApply(f *testing.F) {
	put, _ := proto.Marshal(&kvpb.KVServicePutRequest{Bucket: "b", Key: "k", Value: []byte("v")})
	f.Add(uint16(OpPut), put)
	f.Add(uint16(OpCreateBucket), []byte{0x0a, 0x03, 0x0a, 0x01, 'b'})
	f.Add(uint16(OpDelete), []byte{0xff})
	f.Fuzz(func(t *testing.T, op uint16, payload []byte) {
		m := New()
		cfg, _ := proto.Marshal(&kvpb.KVServiceCreateBucketRequest{Config: &kvpb.KVBucketConfig{Name: "b", History: 2, MaxValueSize: 64}})
		m.ApplyOp(OpCreateBucket, 1, cfg)
		before, _ := m.Info("b")
		res := m.ApplyOp(op%10, 2, payload)
		if r, ok := res.(resulter); ok && r.GetResult().GetSuccess() {
			return
		}
		if after, _ := m.Info("b"); op%10 != OpCreateBucket && op%10 != OpUpdateBucket && op%10 != OpDeleteBucket && !proto.Equal(before, after) {
			t.Fatalf("refused op %d changed the bucket: %v -> %v", op%10, before, after)
		}
		m.Tick(1 << 40)
		_ = m.NextDeadline()
	})
}
