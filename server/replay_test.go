package server

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

// gatedLedger is a ledger whose Apply waits until open is closed, so the
// test holds a restart's log replay for as long as it needs.
type gatedLedger struct {
	*ledger
	open chan struct{}
}

func (g *gatedLedger) Apply(c fsm.Command) any {
	<-g.open
	return g.ledger.Apply(c)
}

// A server restarted on a data dir with a long log accepts connections
// while it replays: the health service answers NOT_SERVING and the other
// services Unavailable, the replay's progress is logged, and once it is
// done the health service turns SERVING with every entry back.
func TestRestartServesHealthDuringReplay(t *testing.T) {
	dir := t.TempDir()
	const entries = 500
	s1, err := New(Config{DataDir: dir, extraSubsystems: []fsm.Subsystem{&ledger{}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range entries {
		if _, err := s1.node.Propose(context.Background(), "ledger", 1, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	s1.Stop()

	core, logs := observer.New(zapcore.InfoLevel)
	logged := make(chan struct{}, 1)
	log := zap.New(zapcore.RegisterHooks(core, func(zapcore.Entry) error {
		select {
		case logged <- struct{}{}:
		default:
		}
		return nil
	}))
	g := &gatedLedger{ledger: &ledger{}, open: make(chan struct{})}
	s2, err := Open(Config{DataDir: dir, Logger: log, extraSubsystems: []fsm.Subsystem{g}, replayProgressInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s2.Serve(lis) }()
	started := make(chan error, 1)
	go func() { started <- s2.Start(context.Background()) }()
	released := false
	t.Cleanup(func() {
		if !released {
			close(g.open)
		}
		s2.Stop()
		<-started
		<-served
	})

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	watch, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health during replay = %v, %v; want NOT_SERVING", st, err)
	}
	_, err = kvpb.NewKVServiceClient(conn).ListBuckets(ctx, &kvpb.KVServiceListBucketsRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("KV during replay: %v, want Unavailable", err)
	}

	// Progress lines while the replay is held at its first entry.
	for logs.FilterMessage("replaying the raft log").Len() < 2 {
		select {
		case <-logged:
		case <-ctx.Done():
			t.Fatalf("no replay progress logged; lines: %v", logs.All())
		}
	}
	first := logs.FilterMessage("replaying the raft log").All()[0].ContextMap()
	if n, _ := first["entries"].(uint64); n < entries {
		t.Fatalf("replay announced %v entries, want at least %d", first, entries)
	}

	close(g.open)
	released = true
	if err := <-started; err != nil {
		t.Fatalf("Start: %v", err)
	}
	started <- nil // for the cleanup
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after replay = %v, %v; want SERVING", st, err)
	}
	if _, err := kvpb.NewKVServiceClient(conn).ListBuckets(ctx, &kvpb.KVServiceListBucketsRequest{}); err != nil {
		t.Fatalf("KV after replay: %v", err)
	}
	end := logs.FilterMessage("raft log replayed").All()
	if len(end) != 1 || end[0].ContextMap()["replayed"] != first["entries"] {
		t.Fatalf("end of replay lines %v, want one with replayed = %v", end, first["entries"])
	}
	g.mu.Lock()
	n := len(g.entries)
	g.mu.Unlock()
	if n != entries {
		t.Fatalf("after replay the ledger has %d entries, want %d", n, entries)
	}
}
