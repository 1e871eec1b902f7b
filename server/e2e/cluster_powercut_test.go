package e2e

import (
	"fmt"
	"testing"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// After every node of a cluster is killed at once and all are restarted
// on their data dirs, every node starts (a leader is elected, each has
// caught up) and every write acknowledged before the cut reads back.
func TestClusterPowerCutRestartsEveryNode(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t, waymakertest.WithFsync())...)
	cl := connectCluster(t, c)
	ctx := testCtx(t, 60*time.Second)
	b, err := cl.KeyValue().Create(ctx, kv.Config{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		if _, err := b.Put(ctx, fmt.Sprintf("k%d", i), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		c.Kill(i)
	}
	start := time.Now()
	c.RestartAll()
	t.Logf("every node started again %v after the cut", time.Since(start))
	for i := range n {
		e, err := b.Get(ctx, fmt.Sprintf("k%d", i))
		if err != nil || string(e.Value) != fmt.Sprint(i) {
			t.Fatalf("k%d after the cut: %+v, %v", i, e, err)
		}
	}
}
