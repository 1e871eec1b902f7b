package collections

import (
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/snaptest"
)

// BenchmarkSnapshotStall measures how long a snapshot stalls apply: a hash
// store of WAYMAKER_STALL_KEYS keys (default 1,000) of WAYMAKER_STALL_FIELDS
// fields each (default 1,000: 1,000,000 fields) applies HSETs one after
// another, each to another key; after the first thousand it takes a
// snapshot on the same goroutine, as raft does between two applies, and
// writes it on another while the HSETs go on. Reported: the Snapshot call
// (the cut), the longest apply (cut included) until the write ends, and the
// write's duration and size.
//
//	cd server && go test -run '^$' -bench SnapshotStall -benchtime 1x ./internal/collections/
func BenchmarkSnapshotStall(b *testing.B) {
	keys, fields := snaptest.EnvInt("WAYMAKER_STALL_KEYS", 1000), snaptest.EnvInt("WAYMAKER_STALL_FIELDS", 1000)
	m := New()
	create(b, m, 1, hashCfg("h"))
	value := make([]byte, 32)
	for k := range keys {
		req := &pb.CollectionsServiceHSetRequest{Store: "h", Key: "k" + strconv.Itoa(k), Fields: make(map[string][]byte, fields)}
		for f := range fields {
			req.Fields["f"+strconv.Itoa(f)] = value
		}
		apply[*pb.CollectionsServiceHSetResponse](b, m, OpHSet, 1, req)
	}
	b.ResetTimer()
	snaptest.Stall(b, m.Snapshot, func(i int) {
		apply[*pb.CollectionsServiceHSetResponse](b, m, OpHSet, 2, &pb.CollectionsServiceHSetRequest{Store: "h", Key: "k" + strconv.Itoa(i%keys), Fields: map[string][]byte{"w": value}})
	})
}

// BenchmarkHSet is one HSET of one field into an existing key, the hash
// store's hot path (its allocations with no snapshot being written).
func BenchmarkHSet(b *testing.B) {
	m := New()
	create(b, m, 1, hashCfg("h"))
	value := make([]byte, 32)
	reqs := make([][]byte, 1024)
	for i := range reqs {
		reqs[i] = mustMarshal(b, &pb.CollectionsServiceHSetRequest{Store: "h", Key: "k" + strconv.Itoa(i%16), Fields: map[string][]byte{"f" + strconv.Itoa(i): value}})
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.ApplyOp(OpHSet, int64(i), reqs[i%len(reqs)])
	}
}

func mustMarshal(b testing.TB, msg proto.Message) []byte {
	p, err := proto.Marshal(msg)
	if err != nil {
		b.Fatal(err)
	}
	return p
}
