package fsm_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/kv"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/stream"
)

// discardSink is a raft.SnapshotSink that keeps nothing.
type discardSink struct{ n int64 }

func (s *discardSink) Write(p []byte) (int, error) { s.n += int64(len(p)); return len(p), nil }
func (s *discardSink) Close() error                { return nil }
func (s *discardSink) ID() string                  { return "discard" }
func (s *discardSink) Cancel() error               { return nil }

var _ raft.SnapshotSink = (*discardSink)(nil)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func mustApply(b *testing.B, f *fsm.FSM, sub string, op uint16, msg proto.Message) {
	p, err := proto.Marshal(msg)
	if err != nil {
		b.Fatal(err)
	}
	switch r := f.ApplyCommand(fsm.Command{Subsystem: sub, Op: op, AtMs: 1, Payload: p}).(type) {
	case error:
		b.Fatal(r)
	case interface{ GetResult() *commonpb.Result }:
		if !r.GetResult().GetSuccess() {
			b.Fatal(r.GetResult())
		}
	}
}

// BenchmarkSnapshotStall measures how long a snapshot stalls apply: an FSM
// holding WAYMAKER_STALL_KEYS KV keys (default 100,000) and
// WAYMAKER_STALL_MSGS stream messages (default 1,000,000) applies KV puts
// one after another; after the first thousand it takes a snapshot on the
// same goroutine, as raft does between two applies, and persists it on
// another while the puts go on. Reported: the snapshot call (the cut), the
// longest single apply (cut included) until the persist ends, and the
// persist's duration and size.
//
//	cd server && WAYMAKER_STALL_KEYS=1000000 WAYMAKER_STALL_MSGS=10000000 go test -run '^$' -bench SnapshotStall -benchtime 1x ./internal/fsm/
func BenchmarkSnapshotStall(b *testing.B) {
	keys, msgs := envInt("WAYMAKER_STALL_KEYS", 100_000), envInt("WAYMAKER_STALL_MSGS", 1_000_000)
	f := fsm.New(nil)
	if err := f.Register(kv.New()); err != nil {
		b.Fatal(err)
	}
	if err := f.Register(stream.New()); err != nil {
		b.Fatal(err)
	}
	mustApply(b, f, kv.Name, kv.OpCreateBucket, &kvpb.KVServiceCreateBucketRequest{Config: &kvpb.KVBucketConfig{Name: "b", History: 1, MaxValueSize: 1 << 10}})
	value := make([]byte, 32)
	for i := range keys {
		mustApply(b, f, kv.Name, kv.OpPut, &kvpb.KVServicePutRequest{Bucket: "b", Key: "k" + strconv.Itoa(i), Value: value})
	}
	mustApply(b, f, stream.Name, stream.OpCreateStream, &streampb.StreamServiceCreateStreamRequest{Config: &streampb.StreamConfig{Name: "s"}})
	const batch = 1000
	data := make([]byte, 64)
	for i := 0; i < msgs; i += batch {
		req := &streampb.StreamServicePublishBatchRequest{}
		for range min(batch, msgs-i) {
			req.Messages = append(req.Messages, &streampb.StreamPublishMessage{Subject: "s", Data: data})
		}
		mustApply(b, f, stream.Name, stream.OpPublishBatch, req)
	}
	b.ResetTimer()
	for range b.N {
		var cut, worst, persist time.Duration
		var size int64
		done := make(chan error, 1)
		persisting := false
		for i := 0; ; i++ {
			start := time.Now()
			if i == 1000 {
				snap, err := f.Snapshot()
				if err != nil {
					b.Fatal(err)
				}
				cut = time.Since(start)
				persisting = true
				go func() {
					ps := time.Now()
					sink := &discardSink{}
					err := snap.Persist(sink)
					persist, size = time.Since(ps), sink.n
					done <- err
				}()
			}
			mustApply(b, f, kv.Name, kv.OpPut, &kvpb.KVServicePutRequest{Bucket: "b", Key: fmt.Sprint("w", i%1000), Value: value})
			worst = max(worst, time.Since(start))
			if persisting {
				select {
				case err := <-done:
					if err != nil {
						b.Fatal(err)
					}
					persisting = false
				default:
				}
				if !persisting {
					break
				}
			}
		}
		b.ReportMetric(float64(cut.Microseconds())/1000, "cut-ms")
		b.ReportMetric(float64(worst.Microseconds())/1000, "max-apply-ms")
		b.ReportMetric(persist.Seconds(), "persist-s")
		b.ReportMetric(float64(size)/(1<<20), "snapshot-MiB")
	}
}
