package collections

import (
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// TestLongestQueueDurations: a queue configured with the longest durations
// apply accepts keeps its messages, its dedupe ids and a popped message's
// invisibility; they once overflowed into "already expired".
func TestLongestQueueDurations(t *testing.T) {
	const now = int64(1_764_000_000_000)
	m := New()
	create(t, m, now, queueCfg("q", &pb.QueueConfig{VisibilityTimeoutMs: msec.MaxDuration, RetentionMs: msec.MaxDuration, DedupeWindowMs: msec.MaxDuration}))
	push := func(at int64) *pb.CollectionsServiceQueuePushResponse {
		return apply[*pb.CollectionsServiceQueuePushResponse](t, m, OpQueuePush, at, &pb.CollectionsServiceQueuePushRequest{Queue: "q", Id: "a"})
	}
	push(now)
	if p := apply[*pb.CollectionsServiceQueuePopResponse](t, m, OpQueuePop, now, &pb.CollectionsServiceQueuePopRequest{Queue: "q"}); len(p.GetMessages()) != 1 {
		t.Fatalf("pop = %v", p)
	}
	m.Tick(now + 1000)
	if l := m.QueueLen(&pb.CollectionsServiceQueueLenRequest{Queue: "q"}, now+1000); l.GetInFlight() != 1 || l.GetReady() != 0 {
		t.Fatalf("after a tick: %v, want the message still in flight", l)
	}
	if r := push(now + 2000); !r.GetDuplicate() {
		t.Fatal("dedupe_window_ms at its maximum forgot the id")
	}
}

// TestApplyRefusesQueueDurationsAboveCeiling: apply checks every queue
// duration itself.
func TestApplyRefusesQueueDurationsAboveCeiling(t *testing.T) {
	m := New()
	create(t, m, 0, queueCfg("q", nil))
	create(t, m, 0, hashCfg("h"))
	for _, d := range []int64{msec.MaxDuration + 1, math.MaxInt64} {
		for _, c := range []struct {
			op    uint16
			req   proto.Message
			field string
		}{
			{OpCreateStore, &pb.CollectionsServiceCreateStoreRequest{Config: queueCfg("r", &pb.QueueConfig{RetentionMs: d})}, "config.queue.retention_ms"},
			{OpCreateStore, &pb.CollectionsServiceCreateStoreRequest{Config: queueCfg("r", &pb.QueueConfig{VisibilityTimeoutMs: d})}, "config.queue.visibility_timeout_ms"},
			{OpCreateStore, &pb.CollectionsServiceCreateStoreRequest{Config: queueCfg("r", &pb.QueueConfig{DedupeWindowMs: d})}, "config.queue.dedupe_window_ms"},
			{OpCreateStore, &pb.CollectionsServiceCreateStoreRequest{Config: queueCfg("r", &pb.QueueConfig{DelayMs: d})}, "config.queue.delay_ms"},
			{OpQueuePush, &pb.CollectionsServiceQueuePushRequest{Queue: "q", DelayMs: proto.Int64(d)}, "delay_ms"},
			{OpQueuePop, &pb.CollectionsServiceQueuePopRequest{Queue: "q", VisibilityTimeoutMs: proto.Int64(d)}, "visibility_timeout_ms"},
			{OpQueueNack, &pb.CollectionsServiceQueueNackRequest{Queue: "q", Receipt: "x", DelayMs: d}, "delay_ms"},
			{OpQueueExtend, &pb.CollectionsServiceQueueExtendVisibilityRequest{Queue: "q", Receipt: "x", VisibilityTimeoutMs: d}, "visibility_timeout_ms"},
			{OpHExpire, &pb.CollectionsServiceHExpireRequest{Store: "h", Key: "k", Fields: []string{"f"}, TtlMs: d}, "ttl_ms"},
		} {
			b, err := proto.Marshal(c.req)
			if err != nil {
				t.Fatal(err)
			}
			r := m.ApplyOp(c.op, 1, b).(interface{ GetResult() *commonpb.Result }).GetResult()
			if r.GetResultCode() != result.CodeInvalidArgument || !strings.HasPrefix(r.GetMessage(), c.field+": ") {
				t.Errorf("op %d %s=%d: %v, want invalid_argument naming it", c.op, c.field, d, r)
			}
		}
	}
}
