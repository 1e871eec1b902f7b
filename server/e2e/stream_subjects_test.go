package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// putLatencies measures KV Puts, one after another, until stop closes;
// it returns each one's time.
func putLatencies(ctx context.Context, t *testing.T, b *waymaker.KVBucket, stop <-chan struct{}) []time.Duration {
	var out []time.Duration
	for i := 0; ; i++ {
		select {
		case <-stop:
			return out
		default:
		}
		t0 := time.Now()
		if _, err := b.Put(ctx, "k", []byte(fmt.Sprint(i))); err != nil {
			t.Errorf("put: %v", err)
			return out
		}
		out = append(out, time.Since(t0))
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestStreamManySubjectsCost: an operator raised MaxSubjectsPerStream;
// creating several streams at that maximum takes about as long each as
// the first (no check against every stored subject), a KV Put issued
// meanwhile is not held up beyond a generous multiple of its uncontended
// time, and a restart replaying the creates is within the default
// StartTimeout. Before the subject index the 2nd and 3rd creates of 20,000
// subjects took 5 and 11 s (10,000: a quarter of that, 10x more under
// -race), and so did the Put; now each create's apply is linear in its own
// subjects, which the Put may still wait for, hence the generous bound.
func TestStreamManySubjectsCost(t *testing.T) {
	const max = 10_000
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir(), waymakertest.WithConfig(func(cfg *server.Config) {
		cfg.Limits.MaxSubjectsPerStream = max
	}))
	ctx := testCtx(t, 60*time.Second)
	b, err := c.CreateKV(ctx, waymaker.KVConfig{Name: name(t)})
	if err != nil {
		t.Fatal(err)
	}
	var alone []time.Duration
	for range 20 {
		t0 := time.Now()
		if _, err := b.Put(ctx, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		alone = append(alone, time.Since(t0))
	}
	uncontended := median(alone)
	putBound := 100*uncontended + 2*time.Second

	const streams = 3
	var first time.Duration
	for k := range streams {
		subs := make([]string, max)
		for i := range subs {
			subs[i] = fmt.Sprintf("m%d.sub.%d", k, i)
		}
		stop := make(chan struct{})
		var lat []time.Duration
		var wg sync.WaitGroup
		wg.Go(func() { lat = putLatencies(ctx, t, b, stop) })
		t0 := time.Now()
		_, err := c.CreateStream(ctx, waymaker.StreamConfig{Name: fmt.Sprintf("M%d", k), Subjects: subs})
		took := time.Since(t0)
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatalf("create %d: %v", k+1, err)
		}
		if k == 0 {
			first = took
		} else if took > 10*first+2*time.Second {
			t.Errorf("create %d of %d subjects took %v beside %d such streams; the first took %v", k+1, max, took, k, first)
		}
		if worst := slices.Max(lat); worst > putBound {
			t.Errorf("a KV Put during create %d took %v; uncontended %v, bound %v", k+1, worst, uncontended, putBound)
		}
		t.Logf("create %d: %v; %d concurrent puts, worst %v (uncontended %v)", k+1, took, len(lat), slices.Max(lat), uncontended)
	}

	// Replay re-runs every create's check: well within StartTimeout.
	t0 := time.Now()
	srv.Restart()
	t.Logf("restart: %v", time.Since(t0))
	for k := range streams {
		ack, err := c.Streams().Stream(fmt.Sprintf("M%d", k)).Publish(ctx, fmt.Sprintf("m%d.sub.%d", k, max-1), []byte("x"))
		if err != nil || ack.Stream != fmt.Sprintf("M%d", k) {
			t.Fatalf("publish after restart: %v, %v", ack, err)
		}
	}
}

// TestStreamSubjectsLimit: more than MaxSubjectsPerStream subjects (or
// consumer filters) is invalid_argument naming the field, and nothing is
// created; the maximum itself is accepted.
func TestStreamSubjectsLimit(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 20*time.Second)
	n := name(t)
	subjects := func(k int) []string {
		out := make([]string, k)
		for i := range out {
			out[i] = fmt.Sprintf("%s.%d", n, i)
		}
		return out
	}
	max := server.DefaultLimits().MaxSubjectsPerStream
	_, err := c.CreateStream(ctx, waymaker.StreamConfig{Name: n, Subjects: subjects(max + 1)})
	wantCode(t, err, "server", "invalid_argument", "config.subjects")
	wantCode(t, err, "server", "invalid_argument", "MaxSubjectsPerStream")
	if _, err := c.GetStream(ctx, n); !waymaker.IsServerCode(err, "not_found") {
		t.Fatalf("refused create left a stream: %v", err)
	}
	s, err := c.CreateStream(ctx, waymaker.StreamConfig{Name: n, Subjects: subjects(max)})
	if err != nil {
		t.Fatalf("create at the maximum: %v", err)
	}
	_, err = c.UpdateStream(ctx, waymaker.StreamConfig{Name: n, Subjects: subjects(max + 1)})
	wantCode(t, err, "server", "invalid_argument", "config.subjects")
	if info, err := s.Info(ctx); err != nil || len(info.Config.Subjects) != max {
		t.Fatalf("refused update changed the stream: %v, %v", info, err)
	}
	_, err = s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "c", FilterSubjects: subjects(max + 1)})
	wantCode(t, err, "server", "invalid_argument", "config.filter_subjects")
}
