package server

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/collections"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/lock"
	"git.awesomike.com/pub/waymaker-client/go/objstore"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

func scrape(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// documentedMetrics are the waymaker_ names docs/METRICS.md lists.
func documentedMetrics(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile("../docs/METRICS.md")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(waymaker_[a-z_]+)`").FindAllStringSubmatch(string(doc), -1) {
		names = append(names, m[1])
	}
	return names
}

// servedFamilies are the metric families in a scrape (histograms by their
// base name).
func servedFamilies(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestMetricsEndpoint(t *testing.T) {
	s, conn := serve(t, Config{MetricsListen: "127.0.0.1:0"})
	if s.MetricsAddr() == "" {
		t.Fatal("MetricsAddr is empty with MetricsListen set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := waymaker.Connect(ctx, conn.Target())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	b, err := c.KeyValue().Create(ctx, kv.Config{Name: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b"} {
		if _, err := b.Put(ctx, k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Get(ctx, "missing"); !waymaker.IsServerCode(err, "not_found") {
		t.Fatalf("get of a missing key: %v", err)
	}
	w, err := b.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Next(); err != nil {
		t.Fatal(err)
	}
	w.Stop()
	st, err := c.Streams().Create(ctx, stream.Config{Name: "events", Subjects: []string{"events.>"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Publish(ctx, "events.x", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	cons, err := st.CreateConsumer(ctx, stream.ConsumerConfig{DurableName: "reader"})
	if err != nil {
		t.Fatal(err)
	}
	if msgs, err := cons.Fetch(ctx, 1, time.Second); err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v %v", msgs, err)
	}
	q, err := c.Collections().CreateQueue(ctx, collections.QueueConfig{Name: "jobs"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Push(ctx, []byte("job-1")); err != nil {
		t.Fatal(err)
	}
	obj, err := c.Objects().CreateStore(ctx, objstore.Config{Name: "files"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obj.PutBytes(ctx, "f", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	l, err := c.Locks().Acquire(ctx, "job", lock.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock(ctx) //nolint:errcheck
	if err := s.node.Snapshot(); err != nil {
		t.Fatal(err)
	}

	code, body := scrape(t, "http://"+s.MetricsAddr()+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", code)
	}
	for _, want := range []string{
		`waymaker_rpc_requests_total{code="OK",method="Put",service="waymaker.v1.KVService"} 2`,
		`waymaker_rpc_requests_total{code="not_found",method="Get",service="waymaker.v1.KVService"} 1`,
		`waymaker_rpc_duration_seconds_count{code="OK",method="Put",service="waymaker.v1.KVService"} 2`,
		`waymaker_rpc_active_streams{method="Watch",service="waymaker.v1.KVService"}`,
		"waymaker_kv_buckets 1",
		"waymaker_kv_keys 2",
		"waymaker_stream_messages 1",
		"waymaker_lock_held_keys 1",
		"waymaker_stream_consumers 1",
		"waymaker_stream_ack_pending 1",
		"waymaker_queue_ready_messages 1",
		"waymaker_collections_queues 1",
		"waymaker_object_objects 1",
		"waymaker_object_bytes 5",
		"waymaker_raft_is_leader 1",
		`waymaker_raft_state{state="Leader"} 1`,
		`waymaker_raft_state_changes_total{state="leader"}`,
		"waymaker_raft_snapshot_create_seconds_count",
		"process_resident_memory_bytes",
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^waymaker_raft_last_snapshot_bytes [1-9]`).MatchString(body) {
		t.Error("waymaker_raft_last_snapshot_bytes is not positive after a snapshot")
	}
	if strings.Contains(body, `"orders"`) || strings.Contains(body, `"job"`) {
		t.Error("a label carries a user-chosen name")
	}

	documented := documentedMetrics(t)
	served := servedFamilies(body)
	for _, n := range documented {
		if !slices.Contains(served, n) {
			t.Errorf("docs/METRICS.md lists %s, which /metrics does not serve", n)
		}
	}
	for _, n := range served {
		if strings.HasPrefix(n, "waymaker_") && !slices.Contains(documented, n) {
			t.Errorf("/metrics serves %s, which docs/METRICS.md does not list", n)
		}
	}

	if code, _ := scrape(t, "http://"+s.MetricsAddr()+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("pprof without Pprof: HTTP %d, want 404", code)
	}
}

func TestPprofOnlyOnTheMetricsListener(t *testing.T) {
	s, _ := serve(t, Config{MetricsListen: "127.0.0.1:0", Pprof: true})
	if code, body := scrape(t, "http://"+s.MetricsAddr()+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof: HTTP %d", code)
	}
	if _, err := New(Config{Pprof: true}); err == nil || !strings.Contains(err.Error(), "Config.Pprof") {
		t.Fatalf("Pprof without MetricsListen: %v, want an error naming Config.Pprof", err)
	}
	if _, err := New(Config{MetricsListen: "not an address"}); err == nil || !strings.Contains(err.Error(), "Config.MetricsListen") {
		t.Fatalf("a bad MetricsListen: %v, want an error naming Config.MetricsListen", err)
	}
}

func TestReflectionListsServices(t *testing.T) {
	_, conn := serve(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	_ = rs.CloseSend()
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"waymaker.v1.KVService", "waymaker.v1.LockService", "waymaker.v1.StreamService", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, without %s", names, want)
		}
	}
	// A file descriptor comes back too, so grpcurl can describe calls.
	if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "waymaker.v1.KVService"}}); err == nil {
		if r, err := rs.Recv(); err != nil || len(r.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
			t.Errorf("file containing waymaker.v1.KVService: %v %v", r, err)
		}
	}
}

func TestHealthFollowsTheLeader(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	s, conn := serve(t, Config{Logger: zap.New(core)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(conn)
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetStatus()
	}
	if got := check(); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health with a leader = %v", got)
	}
	// What the leader watch does when raft reports the leader gone, and
	// back: a single node cannot lose its leader, so drive it directly.
	s.ops.setLeader(s, "", false)
	if got := check(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health without a leader = %v, want NOT_SERVING", got)
	}
	s.ops.setLeader(s, "node1", false)
	if got := check(); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health with the leader back = %v", got)
	}
	if n := logs.FilterMessage("raft leader changed").Len(); n != 2 {
		t.Errorf("%d leader-change lines at info, want 2", n)
	}
}

func TestRequestLogAtDebug(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	_, conn := serve(t, Config{Logger: zap.New(core)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := waymaker.Connect(ctx, conn.Target())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.KeyValue().Bucket("nosuch").Get(ctx, "k"); err == nil {
		t.Fatal("get in a missing bucket succeeded")
	}
	var found bool
	for _, e := range logs.FilterMessage("rpc").All() {
		f := e.ContextMap()
		if f["method"] == "/waymaker.v1.KVService/Get" && f["code"] == "not_found" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no debug line with the method and code of the Get; rpc lines: %v", logs.FilterMessage("rpc").All())
	}
}
