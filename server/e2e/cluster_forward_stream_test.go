package e2e

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

// A leader-routed stream that reaches a follower already forwarded (as
// from a node that believed the follower led) does not start its handler
// there: it ends Unavailable naming the leader's client address, and
// changes nothing. The unary counterpart is
// TestClusterAuditNotLeaderHintIsTheClientAddress.
func TestClusterAuditForwardedStreamOnFollowerDoesNotStart(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	ctx := testCtx(t, 30*time.Second)
	l := c.Leader()
	f := (l + 1) % 3
	maj := connectCluster(t, c)
	sname := name(t)
	s, err := maj.Streams().Create(ctx, stream.Config{Name: sname})
	if err != nil {
		t.Fatal(err)
	}
	fc := connect(t, c.Node(f).Addr())
	settledStatus(t, ctx, fc) // the follower knows the leader's client address
	fctx := metadata.AppendToOutgoingContext(ctx, "waymaker-forwarded", "1")
	leaderAddr := c.Node(l).Addr()
	refused := func(what string, err error) {
		t.Helper()
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "not_leader") || !strings.Contains(err.Error(), leaderAddr) {
			t.Fatalf("forwarded %s on follower %d: %v; want Unavailable, not_leader, naming the leader's client address %q", what, f, err, leaderAddr)
		}
	}

	// A lock acquisition.
	key := name(t) + "-lock"
	acq, err := lockpb.NewLockServiceClient(fc.Conn()).Acquire(fctx, &lockpb.LockServiceAcquireRequest{Key: key, RequestId: name(t) + "-a"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = acq.Recv()
	refused("lock acquire", err)
	// The key is free: an acquisition with no wait gets it at once.
	free, err := lockpb.NewLockServiceClient(maj.Conn()).Acquire(ctx, &lockpb.LockServiceAcquireRequest{Key: key, RequestId: name(t) + "-b"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := free.Recv()
	if err != nil || !r.GetResult().GetSuccess() {
		t.Fatalf("acquire %s after the refused one: %v, %v; want it free", key, r, err)
	}

	// A publish stream.
	pub, err := streampb.NewStreamServiceClient(fc.Conn()).PublishStream(fctx)
	if err != nil {
		t.Fatal(err)
	}
	// The refusal may come before the send reaches the server; either way
	// Recv reports it.
	_ = pub.Send(&streampb.StreamServicePublishStreamRequest{PublishId: 1, Message: &streampb.StreamPublishMessage{Subject: sname, Data: []byte("x")}})
	_, err = pub.Recv()
	refused("publish stream", err)
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Fatalf("stream %s holds %d messages after the refused publish; want 0", sname, info.State.Msgs)
	}
}
