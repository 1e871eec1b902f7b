package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
)

// daemon is one waymakerd process of a test cluster.
type daemon struct {
	args string
	cmd  *exec.Cmd
	addr string
	log  syncBuffer // stderr of every start
}

// stopDaemon stops cmd as an operator would (SIGCONT, in case a test left
// it stopped, then SIGTERM) and waits for it to exit. A daemon still
// running after stopWait is a bug the test reports: it is sent SIGQUIT, so
// that the Go runtime writes every goroutine's stack to log, and then
// killed, and the test fails with the end of its log instead of hanging.
func stopDaemon(t *testing.T, name string, cmd *exec.Cmd, log *syncBuffer) {
	t.Helper()
	const stopWait = time.Minute
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return
	case <-time.After(stopWait):
	}
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	out := log.String()
	if len(out) > 64<<10 {
		out = out[len(out)-64<<10:]
	}
	t.Errorf("waymakerd %s did not exit within %v of SIGTERM; the end of its log, with its goroutines:\n%s", name, stopWait, out)
}

// freeAddr returns a loopback address free now, for a daemon that binds
// it later (and binds it again on every restart). Its port lies below the
// kernel's ephemeral range: a port from that range (what a Listen on port
// 0 gives) is free again once the probe closes, and the kernel may hand
// it meanwhile to any process's Listen on port 0 or outgoing connection,
// as the other test binaries of a go test run make by the thousand. Below
// the range nobody is handed a port without naming it.
func freeAddr(t *testing.T) string {
	t.Helper()
	lo := ephemeralLow()
	const span = 10000 // ports below lo to choose from
	usedPorts.Lock()
	defer usedPorts.Unlock()
	for range 100 {
		port := lo - 1 - rand.IntN(min(span, lo-1024))
		if usedPorts.m[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // some other process holds it
		}
		_ = l.Close()
		usedPorts.m[port] = true
		return l.Addr().String()
	}
	t.Fatalf("no free port below %d in 100 tries", lo)
	return ""
}

// The addresses freeAddr hands out are distinct, and none is a port the
// kernel could give another process's Listen on port 0 or outgoing
// connection before the daemon binds it.
func TestFreeAddrIsOutsideTheEphemeralRange(t *testing.T) {
	lo := ephemeralLow()
	seen := map[string]bool{}
	for range 50 {
		a := freeAddr(t)
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		if port, _ := strconv.Atoi(p); port >= lo || port < 1024 {
			t.Fatalf("freeAddr = %s: port %d is not in [1024, %d)", a, port, lo)
		}
		if seen[a] {
			t.Fatalf("freeAddr handed out %s twice", a)
		}
		seen[a] = true
	}
}

// usedPorts are the ports freeAddr handed out: each goes to one daemon
// of this process only.
var usedPorts = struct {
	sync.Mutex
	m map[int]bool
}{m: map[int]bool{}}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// net.ipv4.ip_local_port_range; 32768, its default, elsewhere).
func ephemeralLow() int {
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 2048 {
				lo = n
			}
		}
	}
	return lo
}

func (d *daemon) start(t *testing.T) {
	t.Helper()
	d.cmd = child(t, d.args, io.Discard, &d.log)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

// kill ends the process with SIGKILL: no graceful anything.
func (d *daemon) kill() {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Kill()
		_ = d.cmd.Wait()
		d.cmd = nil
	}
}

// procCluster is three waymakerd processes of one cluster, each with its
// own data dir (fsync on), started as children of the test with 1 s raft
// timeouts and leader lease: megabytes through raft on a loaded 2-core
// machine starve shorter ones into elections, and a leader that misses a
// quorum for the default 200 ms lease steps down, again and again. A start
// may take a minute to catch up with the leader (the default, 10 s, is
// too short under a CI run's load). Each node's log is kept across its
// restarts and written to a file when the test fails; every node still
// running at the end is stopped with SIGTERM.
type procCluster struct {
	t     *testing.T
	nodes []*daemon
	logs  []*syncBuffer
}

// clusterDaemons are the three nodes, n1 to n3, of one cluster, not yet
// started: each with free client and raft addresses and its own data dir,
// all three bootstrapping the same membership; timing (raft timeout flags)
// ends each one's arguments.
func clusterDaemons(t *testing.T, timing string) []*daemon {
	t.Helper()
	var nodes []*daemon
	var peers []string
	raft := make([]string, 3)
	for i := range 3 {
		raft[i] = freeAddr(t)
		peers = append(peers, fmt.Sprintf("n%d=%s", i+1, raft[i]))
	}
	for i := range 3 {
		d := &daemon{addr: freeAddr(t)}
		d.args = fmt.Sprintf("--node-id n%d --listen %s --raft-listen %s --data-dir %s --bootstrap %s %s",
			i+1, d.addr, raft[i], filepath.Join(t.TempDir(), "data"), strings.Join(peers, ","), timing)
		nodes = append(nodes, d)
	}
	return nodes
}

// startProcCluster starts the three nodes and waits until each is
// SERVING. name names the log files of a failed test
// (waymakerd-<name>-n1.log in the temp dir).
func startProcCluster(t *testing.T, name string) *procCluster {
	t.Helper()
	c := &procCluster{t: t, nodes: clusterDaemons(t, "--heartbeat-timeout 1s --election-timeout 1s --leader-lease-timeout 1s --start-timeout 1m")}
	for range c.nodes {
		c.logs = append(c.logs, &syncBuffer{})
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, l := range c.logs {
				path := filepath.Join(os.TempDir(), fmt.Sprintf("waymakerd-%s-n%d.log", name, i+1))
				_ = os.WriteFile(path, []byte(l.String()), 0o644)
				t.Logf("node %d's log: %s", i+1, path)
			}
		}
	})
	t.Cleanup(func() {
		for i, d := range c.nodes {
			if d.cmd != nil {
				stopDaemon(t, fmt.Sprintf("n%d", i+1), d.cmd, c.logs[i])
			}
		}
	})
	for i := range c.nodes {
		c.start(i)
	}
	for _, a := range c.addrs() {
		waitServing(c.t, a)
	}
	return c
}

// start starts node i (0-based) on its data dir; its output is appended
// to its log.
func (c *procCluster) start(i int) {
	c.t.Helper()
	d := c.nodes[i]
	d.cmd = child(c.t, d.args, io.Discard, c.logs[i])
	if err := d.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
}

// addrs are the nodes' client addresses.
func (c *procCluster) addrs() []string {
	out := make([]string, len(c.nodes))
	for i, d := range c.nodes {
		out[i] = d.addr
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for a child's output and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestClusterOfProcesses runs three waymakerd processes with data dirs and
// drives them with the SDK through kill -9 of the leader, SIGSTOP and
// SIGCONT of the leader and of a follower, and a restart on the same data
// dir: every acknowledged write is still there at the end.
func TestClusterOfProcesses(t *testing.T) {
	nodes := clusterDaemons(t, "--heartbeat-timeout 150ms --election-timeout 150ms")
	for _, d := range nodes {
		d.start(t)
	}
	t.Cleanup(func() {
		for i, d := range nodes {
			if d.cmd != nil {
				stopDaemon(t, fmt.Sprintf("n%d", i+1), d.cmd, &d.log)
			}
		}
	})
	addrs := []string{nodes[0].addr, nodes[1].addr, nodes[2].addr}
	for _, a := range addrs {
		waitServing(t, a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := waymaker.ConnectMulti(ctx, addrs, waymaker.WithBackoff(waymaker.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := c.KeyValue().Create(ctx, kv.Config{Name: "procs"})
	if err != nil {
		t.Fatal(err)
	}
	written := 0
	put := func(what string) time.Duration {
		t.Helper()
		start := time.Now()
		if _, err := b.Put(ctx, fmt.Sprintf("k%d", written), []byte(what)); err != nil {
			t.Fatalf("put %d (%s): %v", written, what, err)
		}
		written++
		return time.Since(start)
	}
	leader := func() int {
		t.Helper()
		st, err := c.Cluster().Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range nodes {
			if st.LeaderAddress == d.addr {
				return i
			}
		}
		t.Fatalf("leader %q at %q is none of the nodes", st.LeaderID, st.LeaderAddress)
		return -1
	}
	for range 10 {
		put("before")
	}

	// kill -9 of the leader, then a restart on its data dir.
	l := leader()
	nodes[l].kill()
	t.Logf("first write after kill -9 of the leader took %v", put("after kill"))
	nodes[l].start(t)
	waitServing(t, nodes[l].addr)
	put("after restart")

	// SIGSTOP of a follower: the other two carry on.
	l = leader()
	f := (l + 1) % 3
	_ = nodes[f].cmd.Process.Signal(syscall.SIGSTOP)
	put("follower stopped")
	_ = nodes[f].cmd.Process.Signal(syscall.SIGCONT)

	// SIGSTOP of the leader: the others elect a new one; the old one, when
	// it wakes, steps down and catches up.
	_ = nodes[l].cmd.Process.Signal(syscall.SIGSTOP)
	t.Logf("first write after SIGSTOP of the leader took %v", put("leader stopped"))
	_ = nodes[l].cmd.Process.Signal(syscall.SIGCONT)
	put("leader woken")

	for i := range written {
		if _, err := b.Get(ctx, fmt.Sprintf("k%d", i)); err != nil {
			t.Fatalf("k%d at the end: %v", i, err)
		}
	}
	// The woken leader serves the latest writes too, once caught up.
	one, err := waymaker.Connect(ctx, nodes[l].addr)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if e, err := one.KeyValue().Bucket("procs").Get(ctx, fmt.Sprintf("k%d", written-1)); err != nil || string(e.Value) != "leader woken" {
		t.Fatalf("last write read through the woken old leader: %+v, %v", e, err)
	}
}
