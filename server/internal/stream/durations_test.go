package stream

import (
	"math"
	"strings"
	"testing"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// TestLongestDurationsKeepData: a stream and a consumer configured with the
// longest duration apply accepts keep their messages, dedupe and pending
// acks; they once overflowed into "already expired".
func TestLongestDurationsKeepData(t *testing.T) {
	const now = int64(1_764_000_000_000)
	m := New()
	cfg := &sp.StreamConfig{Name: "long", MaxAgeMs: msec.MaxDuration, DuplicateWindowMs: msec.MaxDuration}
	if r := apply(t, m, OpCreateStream, now, &sp.StreamServiceCreateStreamRequest{Config: cfg}).(*sp.StreamServiceCreateStreamResponse); !r.GetResult().GetSuccess() {
		t.Fatal(r)
	}
	apply(t, m, OpPublish, now, pub("long.a", "id-1"))
	apply(t, m, OpCreateConsumer, now, &sp.StreamServiceCreateConsumerRequest{Stream: "long",
		Config: &sp.ConsumerConfig{DurableName: "c", AckPolicy: sp.ConsumerAckPolicy_CONSUMER_ACK_POLICY_EXPLICIT, AckWaitMs: msec.MaxDuration}})
	if got := apply(t, m, OpDeliver, now, &sp.StreamServiceFetchRequest{Stream: "long", Consumer: "c", Batch: 1}).(*sp.StreamServiceFetchResponse); len(got.GetMsgs()) != 1 {
		t.Fatalf("deliver = %v", got)
	}
	if d := m.NextDeadline(); d != 0 && d < now+1_000_000 {
		t.Fatalf("next deadline %d: a maximal duration came due at once", d)
	}
	m.Tick(now + 1000)
	if st := m.StreamInfo("long").GetInfo().GetState(); st.GetMsgs() != 1 {
		t.Fatalf("max_age_ms at its maximum dropped the message: %v", st)
	}
	if d := apply(t, m, OpPublish, now+2000, pub("long.a", "id-1")).(*sp.StreamServicePublishResponse); !d.GetDuplicate() {
		t.Fatalf("duplicate_window_ms at its maximum forgot the id: %v", d)
	}
	if _, work := m.Work("long", "c"); work {
		t.Fatal("ack_wait_ms at its maximum redelivered at once")
	}
}

// TestApplyRefusesDurationsAboveCeiling: apply checks durations itself, so a
// command the API never let through (or an old log) cannot install one.
func TestApplyRefusesDurationsAboveCeiling(t *testing.T) {
	m := New()
	check := func(what string, r interface{ GetResult() *commonpb.Result }, field string) {
		t.Helper()
		if r.GetResult().GetResultCode() != result.CodeInvalidArgument || !strings.HasPrefix(r.GetResult().GetMessage(), field+": ") {
			t.Errorf("%s: %v, want invalid_argument naming %s", what, r.GetResult(), field)
		}
	}
	for _, d := range []int64{msec.MaxDuration + 1, math.MaxInt64, -1} {
		check("max_age_ms", apply(t, m, OpCreateStream, 1, &sp.StreamServiceCreateStreamRequest{Config: &sp.StreamConfig{Name: "s", MaxAgeMs: d}}).(*sp.StreamServiceCreateStreamResponse), "config.max_age_ms")
		check("duplicate_window_ms", apply(t, m, OpUpdateStream, 1, &sp.StreamServiceUpdateStreamRequest{Config: &sp.StreamConfig{Name: "s", DuplicateWindowMs: d}}).(*sp.StreamServiceUpdateStreamResponse), "config.duplicate_window_ms")
		check("ack_wait_ms", apply(t, m, OpCreateConsumer, 1, &sp.StreamServiceCreateConsumerRequest{Stream: "s", Config: &sp.ConsumerConfig{DurableName: "c", AckWaitMs: d}}).(*sp.StreamServiceCreateConsumerResponse), "config.ack_wait_ms")
		check("inactive_threshold_ms", apply(t, m, OpUpdateConsumer, 1, &sp.StreamServiceUpdateConsumerRequest{Stream: "s", Config: &sp.ConsumerConfig{DurableName: "c", InactiveThresholdMs: d}}).(*sp.StreamServiceUpdateConsumerResponse), "config.inactive_threshold_ms")
		check("backoff_ms", apply(t, m, OpCreateConsumer, 1, &sp.StreamServiceCreateConsumerRequest{Stream: "s", Config: &sp.ConsumerConfig{DurableName: "c", BackoffMs: []int64{1, d}}}).(*sp.StreamServiceCreateConsumerResponse), "config.backoff_ms[1]")
		check("nak_delay_ms", apply(t, m, OpAck, 1, &sp.StreamServiceAckRequest{Stream: "s", Consumer: "c", Items: []*sp.StreamAckItem{{StreamSeq: 1, NakDelayMs: d}}}).(*sp.StreamServiceAckResponse), "items[0].nak_delay_ms")
	}
	if len(m.sortedNames()) != 0 {
		t.Fatal("a refused command created a stream")
	}
}
