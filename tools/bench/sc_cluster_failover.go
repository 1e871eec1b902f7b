package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"git.awesomike.com/pub/waymaker-client/go/kv"
)

// Failover: on a fresh three-node cluster of each system, the leader is
// killed and writes are attempted through the system's own client until one
// succeeds. The figure is the time from the start of the kill to the end of
// the first successful write. Each trial starts a new cluster, so that no
// trial inherits a restarted or lagging node from the one before.

// failoverConfig shapes the write attempts after a kill.
type failoverConfig struct {
	every   time.Duration // a new attempt starts this often until one succeeds
	attempt time.Duration // each attempt's own timeout
	limit   time.Duration // no success this long after the kill fails the trial
}

var defaultFailover = failoverConfig{every: 20 * time.Millisecond, attempt: 2 * time.Second, limit: 30 * time.Second}

// measureFailover calls kill, then starts a write every cfg.every, each
// bounded by cfg.attempt, until one succeeds; it returns the time from the
// start of kill to the end of the first successful write. Attempts overlap,
// so a call held by one node (waiting for an election, or timing out on a
// dead connection) does not hide a node that already accepts writes: the
// figure is when the system, through its client, first takes a write, to
// within cfg.every. Every attempt has ended when it returns.
func measureFailover(ctx context.Context, kill func() error, write func(context.Context) error, cfg failoverConfig) (time.Duration, error) {
	t0 := time.Now()
	if err := kill(); err != nil {
		return 0, fmt.Errorf("kill: %w", err)
	}
	actx, cancel := context.WithDeadline(ctx, t0.Add(cfg.limit))
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	won := make(chan time.Time, 1)
	var mu sync.Mutex
	var lastErr error
	launch := func() {
		wg.Go(func() {
			wctx, wcancel := context.WithTimeout(actx, cfg.attempt)
			defer wcancel()
			if err := write(wctx); err != nil {
				mu.Lock()
				lastErr = err
				mu.Unlock()
				return
			}
			select {
			case won <- time.Now():
			default: // a sooner attempt already won
			}
		})
	}
	tick := time.NewTicker(cfg.every)
	defer tick.Stop()
	launch()
	for {
		select {
		case at := <-won:
			return at.Sub(t0), nil
		case <-tick.C:
			launch()
		case <-actx.Done():
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			mu.Lock()
			defer mu.Unlock()
			return 0, fmt.Errorf("no write succeeded within %s of the kill (last error: %v)", cfg.limit, lastErr)
		}
	}
}

// A failoverRig is one fresh cluster of a system, ready to lose its leader.
type failoverRig struct {
	write func(ctx context.Context) error
	// leader finds the current leader and returns the action that kills it.
	leader func(ctx context.Context) (kill func() error, who string, err error)
	stop   func()
}

type failoverSystem struct {
	Name, Kill, Timeouts string
	start                func(ctx context.Context, dir string) (*failoverRig, error)
}

var failoverSystems = []failoverSystem{
	{
		Name: "waymaker", Kill: "server.Server.Kill of the raft leader (connections cut, no leadership transfer)",
		Timeouts: fmt.Sprintf("heartbeat %s, election %s (defaults)", wmDefaultTimeout, wmDefaultTimeout),
		start:    wmFailoverRig,
	},
	{
		Name: "etcd", Kill: "EtcdServer.HardStop of the raft leader (no leadership transfer), then Close",
		Timeouts: "heartbeat 100ms, election 1s (defaults)",
		start:    etcdFailoverRig,
	},
	{
		Name: "NATS JetStream", Kill: "SIGKILL of the nats-server process leading the KV bucket's stream (each node a child process: an in-process Shutdown hands its raft groups over first)",
		Timeouts: "raft heartbeat 1s, election 4–9s (defaults)",
		start:    natsFailoverRig,
	},
}

type failoverResult struct {
	failoverSystem
	Times []time.Duration
	Errs  []string
}

func (r *failoverResult) median() time.Duration {
	s := slices.Clone(r.Times)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (r *failoverResult) worst() time.Duration {
	if len(r.Times) == 0 {
		return 0
	}
	return slices.Max(r.Times)
}

// runFailover runs trials per system, each on a fresh cluster under the
// run's scratch directory; the systems take turns trial by trial, so drift
// of the shared machine falls on each alike.
func runFailover(ctx context.Context, env *Env, trials int, logf func(string, ...any)) []*failoverResult {
	var out []*failoverResult
	for _, sys := range failoverSystems {
		out = append(out, &failoverResult{failoverSystem: sys})
	}
	for t := range trials {
		for _, r := range out {
			if ctx.Err() != nil {
				return out
			}
			d, who, err := failoverTrial(ctx, r.failoverSystem, filepath.Join(env.tmp, fmt.Sprintf("failover-%s-%d", strings.Fields(r.Name)[0], t)))
			if err != nil {
				r.Errs = append(r.Errs, err.Error())
				logf("  cluster.failover %s trial %d: %v", r.Name, t+1, err)
				continue
			}
			r.Times = append(r.Times, d)
			logf("  cluster.failover %-16s trial %d: killed %s, first write after %s", r.Name, t+1, who, fmtDur(d))
		}
	}
	return out
}

func failoverTrial(ctx context.Context, sys failoverSystem, dir string) (time.Duration, string, error) {
	defer os.RemoveAll(dir)
	rig, err := sys.start(ctx, filepath.Join(dir, "a"))
	if err != nil && ctx.Err() == nil {
		// A cluster that did not come up on a busy machine is not a
		// failover figure: one more try, on fresh ports.
		rig, err = sys.start(ctx, filepath.Join(dir, "b"))
	}
	if err != nil {
		return 0, "", fmt.Errorf("start: %w", err)
	}
	defer rig.stop()
	// A few writes first, so the client has reached every node.
	for range 2 * clusterSize {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := rig.write(wctx)
		cancel()
		if err != nil {
			return 0, "", fmt.Errorf("write before the kill: %w", err)
		}
	}
	kill, who, err := rig.leader(ctx)
	if err != nil {
		return 0, "", fmt.Errorf("find the leader: %w", err)
	}
	d, err := measureFailover(ctx, kill, rig.write, defaultFailover)
	return d, who, err
}

// ---- waymaker

func wmFailoverRig(ctx context.Context, dir string) (*failoverRig, error) {
	c, err := startWMCluster(ctx, dir)
	if err != nil {
		return nil, err
	}
	b, err := c.sys.c.KeyValue().Create(ctx, kv.Config{Name: "failover", History: 1})
	if err != nil {
		c.stop()
		return nil, err
	}
	val := payload(128)
	return &failoverRig{
		write: func(ctx context.Context) error { _, err := b.Put(ctx, "k", val); return err },
		leader: func(ctx context.Context) (func() error, string, error) {
			i, err := c.leader(ctx)
			if err != nil {
				return nil, "", err
			}
			return func() error { c.nodes[i].halt(true); return nil }, c.nodes[i].srv.NodeID(), nil
		},
		stop: c.stop,
	}, nil
}

// ---- etcd

func etcdFailoverRig(ctx context.Context, dir string) (*failoverRig, error) {
	c, err := startEtcdCluster(ctx, dir)
	if err != nil {
		return nil, err
	}
	val := string(payload(128))
	return &failoverRig{
		write: func(ctx context.Context) error { _, err := c.cli.Put(ctx, "/failover/k", val); return err },
		leader: func(ctx context.Context) (func() error, string, error) {
			i, err := c.leader(ctx)
			if err != nil {
				return nil, "", err
			}
			return func() error { c.kill(i); return nil }, c.members[i].Config().Name, nil
		},
		stop: c.stop,
	}, nil
}

// ---- NATS, one child process per node

// natsChildEnv, when set in the environment, makes the bench binary run one
// NATS node (the JSON natsNodeSpec it holds) instead of benchmarks. The
// failover trials start their NATS nodes this way so that a kill is a
// SIGKILL: nats-server's in-process Shutdown steps its raft groups down
// first, which is a graceful handover, not a crash.
const natsChildEnv = "WMBENCH_NATS_NODE"

// natsChild runs one NATS node until its stdin closes (the parent ended or
// let it go), printing "ready" once it accepts connections.
func natsChild(specJSON string) int {
	var spec natsNodeSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "nats node:", err)
		return 2
	}
	ns, err := natsserver.NewServer(spec.options())
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats node:", err)
		return 1
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		fmt.Fprintln(os.Stderr, "nats node: not ready after 30s")
		return 1
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	ns.Shutdown()
	return 0
}

type natsChildProc struct {
	cmd   *exec.Cmd
	stdin io.Closer
	once  sync.Once
}

// kill ends the child (SIGKILL, if it still runs) and reaps it.
func (p *natsChildProc) kill() {
	p.once.Do(func() {
		_ = p.stdin.Close()
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	})
}

func startNATSChild(spec natsNodeSpec) (*natsChildProc, <-chan error, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), natsChildEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("unexpected %q", line)
		}
		ready <- err
		_, _ = io.Copy(io.Discard, stdout)
	}()
	return &natsChildProc{cmd: cmd, stdin: stdin}, ready, nil
}

func natsFailoverRig(ctx context.Context, dir string) (*failoverRig, error) {
	specs, err := natsClusterSpecs(dir)
	if err != nil {
		return nil, err
	}
	procs := map[string]*natsChildProc{}
	stopProcs := func() {
		for _, p := range procs {
			p.kill()
		}
	}
	var readies []<-chan error
	var urls []string
	for _, s := range specs {
		p, ready, err := startNATSChild(s)
		if err != nil {
			stopProcs()
			return nil, err
		}
		procs[s.Name] = p
		readies = append(readies, ready)
		urls = append(urls, s.url())
	}
	deadline := time.After(40 * time.Second)
	for _, ready := range readies {
		select {
		case err := <-ready:
			if err != nil {
				stopProcs()
				return nil, fmt.Errorf("nats node: %w", err)
			}
		case <-deadline:
			stopProcs()
			return nil, errors.New("nats nodes not ready after 40s")
		}
	}
	nc, js, err := natsConnectCluster(ctx, urls)
	if err != nil {
		stopProcs()
		return nil, err
	}
	stop := func() { nc.Close(); stopProcs() }
	var bucket jetstream.KeyValue
	var lastErr error
	if _, err := waitFor(ctx, 30*time.Second, func() (struct{}, bool) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		bucket, lastErr = js.CreateKeyValue(cctx, jetstream.KeyValueConfig{Bucket: "failover", History: 1, Storage: jetstream.FileStorage, Replicas: clusterSize})
		return struct{}{}, lastErr == nil
	}); err != nil {
		stop()
		return nil, fmt.Errorf("create R3 bucket: %w (last: %v)", err, lastErr)
	}
	streamLeader := func(ctx context.Context, allCurrent bool) (string, bool) {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		s, err := js.Stream(ictx, "KV_failover")
		if err != nil {
			return "", false
		}
		info, err := s.Info(ictx)
		if err != nil || info.Cluster == nil || info.Cluster.Leader == "" {
			return "", false
		}
		if allCurrent {
			if len(info.Cluster.Replicas) != clusterSize-1 {
				return "", false
			}
			for _, r := range info.Cluster.Replicas {
				if !r.Current {
					return "", false
				}
			}
		}
		return info.Cluster.Leader, true
	}
	val := payload(128)
	return &failoverRig{
		write: func(ctx context.Context) error { _, err := bucket.Put(ctx, "k", val); return err },
		leader: func(ctx context.Context) (func() error, string, error) {
			// Every replica current first, as the other systems' followers
			// are once their cluster has started.
			name, err := waitFor(ctx, 30*time.Second, func() (string, bool) { return streamLeader(ctx, true) })
			if err != nil {
				return nil, "", err
			}
			p := procs[name]
			if p == nil {
				return nil, "", fmt.Errorf("stream leader %q is none of the nodes", name)
			}
			// The process is reaped when the rig stops.
			return func() error { return p.cmd.Process.Kill() }, name, nil
		},
		stop: stop,
	}, nil
}

// writeFailover renders the failover table (nothing when it did not run).
func (r *report) writeFailover(p func(string, ...any)) {
	if len(r.failover) == 0 {
		return
	}
	p("## Cluster failover\n\n")
	p("Three nodes of each system on loopback, durable as in the cluster rows. Per trial a fresh cluster is started, a few writes go through, the leader is killed, and from then on a write (a 128 B KV put: waymaker Bucket.Put, etcd Put, NATS KV Put on an R3 file bucket) is started through the system's own client every %s, each bounded by %s, until one succeeds. ", fmtDur(defaultFailover.every), fmtDur(defaultFailover.attempt))
	p("The figure is the time from the start of the kill to the end of the first successful write. Every system runs with its default raft timeouts, which dominate the figure.\n\n")
	p("| system | leader killed by | raft timeouts | trials | median | worst | every trial |\n|---|---|---|---|---|---|---|\n")
	for _, f := range r.failover {
		var each []string
		for _, d := range f.Times {
			each = append(each, fmtDur(d))
		}
		for _, e := range f.Errs {
			each = append(each, "failed: "+strings.ReplaceAll(e, "|", "/"))
		}
		med, worst := "–", "–"
		if len(f.Times) > 0 {
			med, worst = fmtDur(f.median()), fmtDur(f.worst())
		}
		p("| %s | %s | %s | %d | %s | %s | %s |\n", f.Name, f.Kill, f.Timeouts, len(f.Times)+len(f.Errs), med, worst, strings.Join(each, ", "))
	}
	p("\n")
}
