package e2e

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// A follower that hears the leader but cannot reach it (its own messages to
// the leader are cut, forwarding included) answers a write, once its hold
// runs out, Unavailable with the leader's client address in a Result
// detail. A client that knows only that follower follows the hint to the
// leader, where the write succeeds, and so does the read after it.
func TestClusterUnavailableNamesTheLeaderTheNodeCannotReach(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	ctx := testCtx(t, 60*time.Second)
	l := c.Leader()
	f := (l + 1) % 3
	bucket := name(t)
	if _, err := connectCluster(t, c).KeyValue().Create(ctx, kv.Config{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	fc := connect(t, c.Node(f).Addr())
	settledStatus(t, ctx, fc) // the follower knows the leader's client address
	c.CutOneWay(f, l)
	defer c.Heal()

	leaderAddr := c.Node(l).Addr()
	_, err := kvpb.NewKVServiceClient(fc.Conn()).Put(ctx, &kvpb.KVServicePutRequest{Bucket: bucket, Key: "raw", Value: []byte("x"), RequestId: name(t) + "-raw"})
	st := status.Convert(err)
	var hint string
	for _, d := range st.Details() {
		if r, ok := d.(*commonpb.Result); ok {
			hint = r.GetLeaderHint()
		}
	}
	if st.Code() != codes.Unavailable || hint != leaderAddr {
		t.Fatalf("put on the cut-off follower %d: %v (hint %q); want Unavailable with hint %q, leader %d's client address (%s)", f, err, hint, leaderAddr, l, c.State())
	}

	b := fc.KeyValue().Bucket(bucket)
	rev, err := b.Put(ctx, "k", []byte("through the hint"))
	if err != nil {
		t.Fatalf("put through a client that knows only the cut-off follower: %v (%s)", err, c.State())
	}
	e, err := b.Get(ctx, "k")
	if err != nil || string(e.Value) != "through the hint" || e.Revision != rev {
		t.Fatalf("get after the put: %+v, %v; want revision %d", e, err, rev)
	}
}
