package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type result struct {
	out, err string
	code     int
}

// wm runs the command line in process against addr.
func wm(t *testing.T, addr string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, append([]string{"--server", addr}, args...), strings.NewReader(stdin), &out, &errb, func(string) string { return "" })
	return result{out.String(), errb.String(), code}
}

func ok(t *testing.T, r result) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q, stdout %q", r.code, r.err, r.out)
	}
	return r.out
}

func decode[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(ok(t, r)), &v); err != nil {
		t.Fatalf("--json output %q: %v", r.out, err)
	}
	return v
}

func TestKV(t *testing.T) {
	addr := waymakertest.Start(t).Addr()
	ok(t, wm(t, addr, "", "kv", "add", "cfg", "--history", "5"))
	put := decode[map[string]any](t, wm(t, addr, "", "kv", "put", "cfg", "greeting", "hello", "--json"))
	if put["revision"] != 1.0 || put["key"] != "greeting" {
		t.Fatalf("put --json = %v, want revision 1 of greeting", put)
	}
	ok(t, wm(t, addr, "from stdin", "kv", "put", "cfg", "other"))

	got := decode[map[string]any](t, wm(t, addr, "", "kv", "get", "cfg", "greeting", "--json"))
	if got["value"] != "hello" || got["revision"] != 1.0 || got["operation"] != "put" {
		t.Fatalf("get --json = %v", got)
	}
	if out := ok(t, wm(t, addr, "", "kv", "get", "cfg", "greeting", "--raw")); out != "hello" {
		t.Fatalf("get --raw = %q, want the value alone", out)
	}
	if out := ok(t, wm(t, addr, "", "kv", "get", "cfg", "other")); !strings.Contains(out, "from stdin") || !strings.Contains(out, "revision:") {
		t.Fatalf("get table = %q", out)
	}

	// Compare-and-set: create refuses an existing key, update a stale revision.
	if r := wm(t, addr, "", "kv", "create", "cfg", "greeting", "again"); r.code != exitError || !strings.Contains(r.err, "exists") {
		t.Fatalf("create of an existing key: exit %d, %q", r.code, r.err)
	}
	if r := wm(t, addr, "", "kv", "update", "cfg", "greeting", "x", "--rev", "7"); r.code != exitError || !strings.Contains(r.err, "wrong_revision") {
		t.Fatalf("update at a stale revision: exit %d, %q", r.code, r.err)
	}
	ok(t, wm(t, addr, "", "kv", "update", "cfg", "greeting", "hi", "--rev", "1"))

	hist := decode[[]map[string]any](t, wm(t, addr, "", "kv", "history", "cfg", "greeting", "--json"))
	if len(hist) != 2 || hist[0]["value"] != "hello" || hist[1]["value"] != "hi" {
		t.Fatalf("history = %v", hist)
	}
	keys := decode[[]string](t, wm(t, addr, "", "kv", "keys", "cfg", "--json"))
	if strings.Join(keys, ",") != "greeting,other" {
		t.Fatalf("keys = %v", keys)
	}
	ok(t, wm(t, addr, "", "kv", "del", "cfg", "other"))
	if r := wm(t, addr, "", "kv", "get", "cfg", "other"); r.code != exitNotFound {
		t.Fatalf("get of a deleted key: exit %d, %q; want %d", r.code, r.err, exitNotFound)
	}

	ls := ok(t, wm(t, addr, "", "kv", "ls"))
	if !strings.HasPrefix(ls, "BUCKET") || !strings.Contains(ls, "cfg") {
		t.Fatalf("ls table = %q", ls)
	}
	info := decode[map[string]any](t, wm(t, addr, "", "kv", "info", "cfg", "--json"))
	if info["history"] != 5.0 || info["values"] != 1.0 {
		t.Fatalf("info = %v", info)
	}
	ok(t, wm(t, addr, "", "kv", "rm", "cfg"))
	if r := wm(t, addr, "", "kv", "info", "cfg"); r.code != exitNotFound || strings.Count(r.err, "\n") != 1 || !strings.Contains(r.err, "not_found") {
		t.Fatalf("info of a removed bucket: exit %d, stderr %q; want %d and one line with the code", r.code, r.err, exitNotFound)
	}
}

// syncBuffer is written by a command running in another goroutine; each
// write wakes whoever waits for what it holds.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced by each write
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return s.b.Write(p)
}

// waitFor waits up to 10 s until the output contains want.
func (s *syncBuffer) waitFor(t *testing.T, what, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		if strings.Contains(s.b.String(), want) {
			s.mu.Unlock()
			return
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %s: output so far %q", what, s.String())
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// background runs a long-running command until stop is called, and returns
// its output so far through out.
func background(t *testing.T, addr string, args ...string) (out *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"--server", addr}, args...), strings.NewReader(""), out, &syncBuffer{}, func(string) string { return "" })
	}()
	var code *int
	stop = func() int {
		if code == nil {
			cancel()
			c := <-done
			code = &c
		}
		return *code
	}
	t.Cleanup(func() { stop() })
	return out, stop
}

// pollFor asks a server, every 10 ms for up to 10 s, until cond holds: a
// cluster's state (who leads) is only seen through its answers.
func pollFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestKVWatch(t *testing.T) {
	addr := waymakertest.Start(t).Addr()
	ok(t, wm(t, addr, "", "kv", "add", "w"))
	ok(t, wm(t, addr, "", "kv", "put", "w", "a", "1"))
	out, stop := background(t, addr, "kv", "watch", "w", "--json")
	out.waitFor(t, "the current value", `"key":"a"`)
	ok(t, wm(t, addr, "", "kv", "put", "w", "b", "2"))
	out.waitFor(t, "the change", `"key":"b"`)
	if code := stop(); code != 0 {
		t.Fatalf("watch ended with exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var ev map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &ev); err != nil || ev["value"] != "2" || ev["revision"] != 2.0 {
		t.Fatalf("last watch line %q: %v %v", lines[len(lines)-1], ev, err)
	}
}

func TestStreamAndConsumer(t *testing.T) {
	addr := waymakertest.Start(t).Addr()
	ok(t, wm(t, addr, "", "stream", "add", "orders", "--subjects", "orders.>"))
	ack := decode[map[string]any](t, wm(t, addr, "", "stream", "pub", "orders", "orders.new", `{"id":1}`, "--json"))
	if ack["sequence"] != 1.0 {
		t.Fatalf("pub --json = %v", ack)
	}
	ok(t, wm(t, addr, "second", "stream", "pub", "orders", "orders.new", "-"))

	info := decode[map[string]any](t, wm(t, addr, "", "stream", "info", "orders", "--json"))
	if info["msgs"] != 2.0 || info["last_seq"] != 2.0 {
		t.Fatalf("info = %v", info)
	}
	if ls := ok(t, wm(t, addr, "", "stream", "ls")); !strings.Contains(ls, "orders.>") {
		t.Fatalf("ls = %q", ls)
	}

	ok(t, wm(t, addr, "", "stream", "consumer", "add", "orders", "billing"))
	cons := decode[[]map[string]any](t, wm(t, addr, "", "consumer", "ls", "orders", "--json"))
	if len(cons) != 1 || cons[0]["name"] != "billing" || cons[0]["num_pending"] != 2.0 {
		t.Fatalf("consumer ls = %v", cons)
	}
	msgs := decode[[]map[string]any](t, wm(t, addr, "", "stream", "next", "orders", "billing", "--ack", "--json"))
	if len(msgs) != 1 || msgs[0]["value"] != `{"id":1}` || msgs[0]["acked"] != true {
		t.Fatalf("next = %v", msgs)
	}
	ci := decode[map[string]any](t, wm(t, addr, "", "consumer", "info", "orders", "billing", "--json"))
	if ci["ack_floor_stream_seq"] != 1.0 || ci["num_pending"] != 1.0 {
		t.Fatalf("consumer info after one ack = %v", ci)
	}

	out, stop := background(t, addr, "stream", "sub", "orders", "orders.*", "--all")
	out.waitFor(t, "stored messages", "[2] orders.new second")
	ok(t, wm(t, addr, "", "stream", "pub", "orders", "orders.late", "third"))
	out.waitFor(t, "a new message", "[3] orders.late third")
	if code := stop(); code != 0 {
		t.Fatalf("sub ended with exit %d", code)
	}
	if cons := decode[[]map[string]any](t, wm(t, addr, "", "consumer", "ls", "orders", "--json")); len(cons) != 1 {
		t.Fatalf("consumers after sub ended = %v, want billing alone", cons)
	}

	ok(t, wm(t, addr, "", "consumer", "rm", "orders", "billing"))
	if r := wm(t, addr, "", "consumer", "info", "orders", "billing"); r.code != exitNotFound {
		t.Fatalf("info of a removed consumer: exit %d %q", r.code, r.err)
	}
	ok(t, wm(t, addr, "", "stream", "rm", "orders"))
}

func TestLockAcquireHoldsUntilStopped(t *testing.T) {
	addr := waymakertest.Start(t).Addr()
	out, stop := background(t, addr, "lock", "acquire", "jobs", "--ttl", "2s", "--json")
	out.waitFor(t, "the grant", `"event":"acquired"`)

	info := decode[map[string]any](t, wm(t, addr, "", "lock", "info", "jobs", "--json"))
	if hs, _ := info["holders"].([]any); len(hs) != 1 {
		t.Fatalf("info while held = %v", info)
	}
	if r := wm(t, addr, "", "lock", "acquire", "jobs"); r.code != exitError || !strings.Contains(r.err, "expired") {
		t.Fatalf("a second acquire with no wait: exit %d %q; want 1 and code expired", r.code, r.err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("acquire ended with exit %d", code)
	}
	if !strings.Contains(out.String(), `"event":"released"`) {
		t.Fatalf("acquire output %q has no release", out.String())
	}
	info = decode[map[string]any](t, wm(t, addr, "", "lock", "info", "jobs", "--json"))
	if hs, _ := info["holders"].([]any); len(hs) != 0 {
		t.Fatalf("info after release = %v", info)
	}
}

func TestCollections(t *testing.T) {
	addr := waymakertest.Start(t).Addr()
	ok(t, wm(t, addr, "", "hash", "create", "users"))
	ok(t, wm(t, addr, "", "hash", "set", "users", "u1", "name", "ada", "lang", "go"))
	if got := decode[map[string]any](t, wm(t, addr, "", "hash", "get", "users", "u1", "name", "--json")); got["value"] != "ada" {
		t.Fatalf("hash get = %v", got)
	}
	all := decode[[]map[string]any](t, wm(t, addr, "", "hash", "getall", "users", "u1", "--json"))
	if len(all) != 2 || all[0]["field"] != "lang" || all[1]["value"] != "ada" {
		t.Fatalf("hash getall = %v", all)
	}
	if ls := ok(t, wm(t, addr, "", "hash", "ls")); !strings.Contains(ls, "users") {
		t.Fatalf("hash ls = %q", ls)
	}
	if r := wm(t, addr, "", "hash", "get", "nosuch", "u1", "name"); r.code != exitNotFound {
		t.Fatalf("hash get in a missing store: exit %d %q", r.code, r.err)
	}

	ok(t, wm(t, addr, "", "set", "create", "tags"))
	ok(t, wm(t, addr, "", "set", "add", "tags", "post1", "go", "raft", "go"))
	if m := decode[[]string](t, wm(t, addr, "", "set", "members", "tags", "post1", "--json")); strings.Join(m, ",") != "go,raft" {
		t.Fatalf("set members = %v", m)
	}
	if out := ok(t, wm(t, addr, "", "set", "card", "tags", "post1")); strings.TrimSpace(out) != "2" {
		t.Fatalf("set card = %q", out)
	}

	ok(t, wm(t, addr, "", "queue", "create", "jobs"))
	ok(t, wm(t, addr, "", "queue", "push", "jobs", "job-1"))
	if l := decode[map[string]any](t, wm(t, addr, "", "queue", "len", "jobs", "--json")); l["ready"] != 1.0 {
		t.Fatalf("queue len = %v", l)
	}
	msgs := decode[[]map[string]any](t, wm(t, addr, "", "queue", "pop", "jobs", "--ack", "--json"))
	if len(msgs) != 1 || msgs[0]["value"] != "job-1" || msgs[0]["acked"] != true {
		t.Fatalf("queue pop = %v", msgs)
	}
	if l := decode[map[string]any](t, wm(t, addr, "", "queue", "len", "jobs", "--json")); l["total"] != 0.0 {
		t.Fatalf("queue len after ack = %v", l)
	}
}

func TestSketchAndCache(t *testing.T) {
	addr := waymakertest.Start(t).Addr()
	ok(t, wm(t, addr, "", "sketch", "create", "hll", "visitors"))
	ok(t, wm(t, addr, "", "sketch", "add", "visitors", "a", "b", "c", "a"))
	q := decode[map[string]any](t, wm(t, addr, "", "sketch", "query", "visitors", "--json"))
	if q["result"] != 3.0 || q["kind"] != "hll" {
		t.Fatalf("hll query = %v", q)
	}
	ok(t, wm(t, addr, "", "sketch", "create", "bloom", "seen", "--capacity", "1000", "--error-rate", "0.01"))
	ok(t, wm(t, addr, "", "sketch", "add", "seen", "x"))
	q = decode[map[string]any](t, wm(t, addr, "", "sketch", "query", "seen", "x", "--json"))
	if r, _ := q["result"].(map[string]any); r["x"] != true {
		t.Fatalf("bloom query = %v", q)
	}
	ok(t, wm(t, addr, "", "sketch", "create", "tdigest", "lat"))
	ok(t, wm(t, addr, "", "sketch", "add", "lat", "1", "2", "3", "4", "5"))
	if out := ok(t, wm(t, addr, "", "sketch", "query", "lat", "0.5")); !strings.Contains(out, "tdigest lat: map[0.5:3]") {
		t.Fatalf("tdigest query = %q", out)
	}
	if ls := decode[[]map[string]any](t, wm(t, addr, "", "sketch", "ls", "--json")); len(ls) != 3 {
		t.Fatalf("sketch ls = %v", ls)
	}

	ok(t, wm(t, addr, "", "kv", "add", "sessions"))
	p := decode[map[string]any](t, wm(t, addr, "", "cache", "attach", "sessions", "--max-entries", "100", "--eviction", "lfu", "--json"))
	if p["max_entries"] != 100.0 || p["eviction"] != "lfu" {
		t.Fatalf("cache attach = %v", p)
	}
	ok(t, wm(t, addr, "", "kv", "put", "sessions", "s1", "x"))
	ok(t, wm(t, addr, "", "kv", "get", "sessions", "s1"))
	st := decode[map[string]any](t, wm(t, addr, "", "cache", "stats", "sessions", "--json"))
	if st["entries"] != 1.0 {
		t.Fatalf("cache stats = %v", st)
	}
	if ls := ok(t, wm(t, addr, "", "cache", "ls")); !strings.Contains(ls, "sessions") {
		t.Fatalf("cache ls = %q", ls)
	}
}

func TestObject(t *testing.T) {
	addr := waymakertest.Start(t).Addr()
	dir := t.TempDir()
	src := filepath.Join(dir, "in.bin")
	data := bytes.Repeat([]byte("waymaker "), 200_000) // 1.8 MB: several chunks
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ok(t, wm(t, addr, "", "object", "add", "files"))
	o := decode[map[string]any](t, wm(t, addr, "", "object", "put", "files", "big", src, "--json"))
	if o["size"] != float64(len(data)) {
		t.Fatalf("put = %v", o)
	}
	dst := filepath.Join(dir, "out.bin")
	ok(t, wm(t, addr, "", "object", "get", "files", "big", dst))
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get wrote %d bytes (%v), want the %d put", len(got), err, len(data))
	}
	if out := ok(t, wm(t, addr, "", "object", "get", "files", "big")); out != string(data) {
		t.Fatalf("get to stdout: %d bytes, want %d", len(out), len(data))
	}
	if ls := ok(t, wm(t, addr, "", "object", "ls", "files")); !strings.Contains(ls, "big") || !strings.Contains(ls, "1.7 MiB") {
		t.Fatalf("ls = %q", ls)
	}
	// No terminal here: no progress bar unless asked for.
	if r := wm(t, addr, "", "object", "get", "files", "big", dst); r.err != "" {
		t.Fatalf("stderr without a terminal = %q, want nothing", r.err)
	}
	if r := wm(t, addr, "", "object", "get", "files", "big", dst, "--progress", "always"); !strings.Contains(r.err, "get big") || !strings.Contains(r.err, "MB") {
		t.Fatalf("--progress always: stderr %q has no bar", r.err)
	}
	ok(t, wm(t, addr, "", "object", "rm", "files", "big"))
	if r := wm(t, addr, "", "object", "info", "files", "big"); r.code != exitNotFound {
		t.Fatalf("info of a removed object: exit %d %q", r.code, r.err)
	}
}

func TestBench(t *testing.T) {
	addr := waymakertest.Start(t).Addr()
	for _, b := range []string{"kv", "stream", "lock"} {
		res := decode[benchJSON](t, wm(t, addr, "", "bench", b, "--ops", "200", "--clients", "4", "--json"))
		if res.Ops != 200 || res.Errors != 0 || res.OpsPerS <= 0 || res.P50Ms <= 0 || res.P99Ms < res.P50Ms {
			t.Fatalf("bench %s = %+v", b, res)
		}
	}
	// The bench cleans up what it made.
	if ls := decode[[]map[string]any](t, wm(t, addr, "", "kv", "ls", "--json")); len(ls) != 0 {
		t.Fatalf("buckets left after bench: %v", ls)
	}
}

func TestExitCodes(t *testing.T) {
	addr := waymakertest.Start(t).Addr()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"kv", "get", "onlyone"}, exitUsage, "accepts 2 arg(s)"},
		{[]string{"kv", "nosuch"}, exitUsage, "unknown command"},
		{[]string{"nosuch"}, exitUsage, "unknown command"},
		{[]string{"kv", "ls", "--bogus"}, exitUsage, "unknown flag"},
		{[]string{"kv", "update", "b", "k", "v"}, exitUsage, "rev"},
		{[]string{"kv", "add", "bad name!"}, exitUsage, "invalid"},
		{[]string{"kv", "get", "nosuch", "k"}, exitNotFound, "not_found"},
		{[]string{"stream", "info", "nosuch"}, exitNotFound, "not_found"},
		{[]string{"kv", "ls", "--token", "t"}, exitUsage, "--token needs TLS"},
	} {
		r := wm(t, addr, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.err, tc.msg) || strings.Count(r.err, "\n") != 1 {
			t.Errorf("wm %v: exit %d, stderr %q; want exit %d and one line containing %q", tc.args, r.code, r.err, tc.code, tc.msg)
		}
	}
	// Nothing listens: a connection failure, within --timeout.
	r := wm(t, "127.0.0.1:1", "", "kv", "ls", "--timeout", "500ms")
	if r.code != exitUnreachable {
		t.Errorf("unreachable server: exit %d, stderr %q; want %d", r.code, r.err, exitUnreachable)
	}
	// The help documents the exit codes.
	if out := ok(t, wm(t, addr, "", "--help")); !strings.Contains(out, "Exit codes:") || !strings.Contains(out, "4  connection") {
		t.Errorf("--help = %q", out)
	}
}

func TestServerFromEnvironment(t *testing.T) {
	addr := waymakertest.Start(t).Addr()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"kv", "ls", "--json"}, strings.NewReader(""), &out, &errb,
		func(k string) string { return map[string]string{"WAYMAKER_ADDR": addr}[k] })
	if code != 0 || strings.TrimSpace(out.String()) != "[]" {
		t.Fatalf("WAYMAKER_ADDR: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}
