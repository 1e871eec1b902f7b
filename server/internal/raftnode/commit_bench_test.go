package raftnode

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"go.uber.org/zap"
)

// BenchmarkPropose measures Propose alone (no gRPC), at c=1 and c=16, in
// memory and on a data dir with fsync on. entries/op is the raft log
// entries each proposal cost: 1 without group commit.
func BenchmarkPropose(b *testing.B) {
	for _, disk := range []bool{false, true} {
		for _, c := range []int{1, 16} {
			b.Run(fmt.Sprintf("data_dir=%t/c=%d", disk, c), func(b *testing.B) {
				cfg := Config{Logger: zap.NewNop()}
				if disk {
					cfg.DataDir = b.TempDir()
				}
				n, _ := startNode(b, cfg)
				r := n.raft.Load()
				first := r.LastIndex()
				payload := make([]byte, 128)
				b.SetParallelism(max(1, c/runtime.GOMAXPROCS(0)))
				b.ReportAllocs()
				b.ResetTimer()
				if c == 1 {
					for b.Loop() {
						if _, err := n.Propose(context.Background(), "journal", 1, payload); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if _, err := n.Propose(context.Background(), "journal", 1, payload); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.StopTimer()
				b.ReportMetric(float64(r.LastIndex()-first)/float64(b.N), "entries/op")
			})
		}
	}
}
