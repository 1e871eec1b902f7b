package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server"
)

type clusterNode struct {
	id, listen, raft, boot string
	timeout                time.Duration
	// join, instead of boot, is a running node's client address to join
	// the cluster through; snapInterval is raft's SnapshotInterval (0: the
	// server's default); logFile receives the server's log at debug
	// (raft's included), or nothing when empty.
	join         string
	snapInterval time.Duration
	logFile      string
	// snapThreshold and trailing are raft's SnapshotThreshold and
	// TrailingLogs (0: the server's defaults).
	snapThreshold, trailing uint64
	// startTimeout is server.Config.StartTimeout (0: the default, 10s).
	startTimeout time.Duration
}

// runClusterServer serves one cluster node until its stdin closes.
func runClusterServer(dir string, n clusterNode) error {
	cfg := server.Config{DataDir: dir, NodeID: n.id, RaftListen: n.raft, Advertise: n.listen, Join: n.join,
		HeartbeatTimeout: n.timeout, ElectionTimeout: n.timeout, LeaderLeaseTimeout: n.timeout, SnapshotInterval: n.snapInterval,
		SnapshotThreshold: n.snapThreshold, TrailingLogs: n.trailing, StartTimeout: n.startTimeout}
	if n.join == "" {
		peers, err := server.ParsePeers(n.boot)
		if err != nil {
			return err
		}
		cfg.Bootstrap = peers
	}
	if n.logFile != "" {
		f, err := os.OpenFile(n.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.Logger = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.Lock(f), zapcore.DebugLevel))
	}
	srv, err := server.Open(cfg)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", n.listen)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	if err := srv.Start(context.Background()); err != nil {
		return err
	}
	fmt.Printf("ADDR %s\n", lis.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Stop()
	return <-done
}

// freeAddrs returns n distinct loopback addresses nothing listens on (now).
func freeAddrs(n int) ([]string, error) {
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close() // held until all are drawn, so none repeats
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

type child struct {
	id, addr, pid string
	stdin         io.Closer
	cmd           *exec.Cmd
	out           *bufio.Reader
}

// spawn starts this program as the server of node c with data dir dir
// and the given flags; waitReady waits for it to serve, stop ends it
// gracefully (its stdin closes) and kill with SIGKILL.
func (c *child) spawn(exe, dir string, args ...string) error {
	c.cmd = exec.Command(exe, append([]string{"-serve", dir}, args...)...)
	c.cmd.Stderr = os.Stderr
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := c.cmd.Start(); err != nil {
		return err
	}
	c.stdin, c.pid, c.out = stdin, strconv.Itoa(c.cmd.Process.Pid), bufio.NewReader(stdout)
	return nil
}

func (c *child) waitReady() error {
	line, err := c.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		return fmt.Errorf("%s did not start: %q %v", c.id, line, err)
	}
	return nil
}

func (c *child) stop() {
	if c.cmd == nil {
		return
	}
	c.stdin.Close()
	_ = c.cmd.Wait()
	c.cmd = nil
}

func (c *child) kill() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
	c.cmd = nil
}

func runCluster(size int64, chunk int, timeout time.Duration) error {
	dir, err := os.MkdirTemp("", "objmem-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	const n = 3
	var boot []string
	nodes := make([]*child, n)
	addrs, err := freeAddrs(2 * n)
	if err != nil {
		return err
	}
	raftAddrs := addrs[n:]
	for i := range n {
		nodes[i] = &child{id: fmt.Sprintf("node%d", i+1), addr: addrs[i]}
		boot = append(boot, nodes[i].id+"="+raftAddrs[i])
	}
	for i, c := range nodes {
		if err := c.spawn(exe, filepath.Join(dir, c.id), "-node", c.id, "-listen", c.addr, "-raft", raftAddrs[i], "-boot", strings.Join(boot, ","), "-raft-timeout", timeout.String()); err != nil {
			return err
		}
		defer c.stop()
	}
	for _, c := range nodes {
		if err := c.waitReady(); err != nil {
			return err
		}
	}
	ctx := context.Background()
	all, err := waymaker.ConnectMulti(ctx, []string{nodes[0].addr, nodes[1].addr, nodes[2].addr})
	if err != nil {
		return err
	}
	defer all.Close()
	st, err := all.Cluster().Status(ctx)
	if err != nil {
		return err
	}
	var leader, follower *child
	for _, c := range nodes {
		if c.id == st.LeaderID {
			leader = c
		} else if follower == nil {
			follower = c
		}
	}
	if leader == nil {
		return fmt.Errorf("no leader in %+v", st)
	}
	// Order: leader first, then the follower measured, then the other.
	order := []*child{leader, follower}
	for _, c := range nodes {
		if c != leader && c != follower {
			order = append(order, c)
		}
	}
	pids := []string{leader.pid, follower.pid, order[2].pid}

	if _, err := all.CreateObjectStore(ctx, waymaker.ObjectStoreConfig{Name: "objmem", ChunkSize: chunk}); err != nil {
		return err
	}
	type row struct {
		op, via string
		mbps    float64
		base    []int64
		peak    []int64
		anon    []int64
		logMap  []int64
	}
	var rows []row
	for _, via := range []*child{leader, follower} {
		cl, err := waymaker.Connect(ctx, via.addr)
		if err != nil {
			return err
		}
		store, err := cl.Objects().Store(ctx, "objmem")
		if err != nil {
			return err
		}
		if _, err := store.PutBytes(ctx, "warm", make([]byte, 4<<20)); err != nil {
			return err
		}
		if _, err := store.GetBytes(ctx, "warm"); err != nil {
			return err
		}
		role := "leader"
		if via == follower {
			role = "follower"
		}
		var sum []byte
		for _, op := range []string{"Put", "Get"} {
			base, peak, anon, logMap, elapsed, err := measureAll(pids, func() error {
				if op == "Put" {
					info, err := store.Put(ctx, waymaker.ObjectMeta{Name: "big"}, &genReader{r: rand.NewPCG(1, 2), left: size})
					sum = info.SHA256
					return err
				}
				r, err := store.Get(ctx, "big")
				if err != nil {
					return err
				}
				defer r.Close()
				h := sha256.New()
				got, err := io.Copy(h, r)
				if err != nil {
					return err
				}
				if got != size || string(h.Sum(nil)) != string(sum) {
					return errors.New("downloaded data differs")
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("%s via the %s: %w", op, role, err)
			}
			rows = append(rows, row{op: op, via: role, mbps: float64(size) / 1e6 / elapsed.Seconds(), base: base, peak: peak, anon: anon, logMap: logMap})
		}
		cl.Close()
	}
	if chunk == 0 {
		chunk = 128 << 10
	}
	fmt.Printf("object: %d MiB, chunk %d bytes, 3-node cluster, one process per node, each with a data dir\n", size>>20, chunk)
	fmt.Printf("each cell rss/anon/log, MiB: rss: VmHWM over the RSS before (file pages included); anon: the peak of RssAnon over its value before (heap, stacks); log: the peak of the resident pages of raft.db's mapping (bolt's mmapped log) over its value before\n")
	fmt.Printf("%-4s %-9s %8s %14s %14s %14s %14s\n", "op", "via", "MB/s", "leader", "follower", "other", "client")
	for _, r := range rows {
		fmt.Printf("%-4s %-9s %8.1f", r.op, r.via, r.mbps)
		for i := range r.base {
			fmt.Printf(" %14s", fmt.Sprintf("%d/%d/%d", (r.peak[i]-r.base[i])>>10, r.anon[i]>>10, r.logMap[i]>>10))
		}
		fmt.Println()
	}
	fmt.Printf("baselines (MiB, before the last Get): leader %d, follower %d, other %d, client %d\n",
		rows[len(rows)-1].base[0]>>10, rows[len(rows)-1].base[1]>>10, rows[len(rows)-1].base[2]>>10, rows[len(rows)-1].base[3]>>10)
	return nil
}

// measureAll runs f and reports, for each process in pids and then this
// one, its resident memory before and its peak during f, and the peak
// growth of its anonymous memory and of its raft.db mapping.
func measureAll(pids []string, f func() error) (base, peak, anonPeak, logPeak []int64, elapsed time.Duration, err error) {
	all := append(append([]string(nil), pids...), "self")
	for _, pid := range all {
		if err := resetPeak(pid); err != nil {
			return nil, nil, nil, nil, 0, fmt.Errorf("reset peak RSS of %s: %w", pid, err)
		}
		rss, _, err := mem(pid)
		if err != nil {
			return nil, nil, nil, nil, 0, err
		}
		base = append(base, rss)
	}
	// VmHWM counts file pages too (bolt reads its log through mmap), so
	// the anonymous memory (heap, stacks) is sampled as well.
	anon0 := make([]int64, len(all))
	anonPeak = make([]int64, len(all))
	log0 := make([]int64, len(all))
	logPeak = make([]int64, len(all))
	for i, pid := range all {
		anon0[i], _ = anonRSS(pid)
		log0[i], _ = mappingRSS(pid, "raft.db")
	}
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for tick := 0; ; tick++ {
			for i, pid := range all {
				if a, err := anonRSS(pid); err == nil {
					anonPeak[i] = max(anonPeak[i], a-anon0[i])
				}
				// smaps is dearer to read: every 10th tick.
				if tick%10 == 0 {
					if m, err := mappingRSS(pid, "raft.db"); err == nil {
						logPeak[i] = max(logPeak[i], m-log0[i])
					}
				}
			}
			select {
			case <-t.C:
			case <-stop:
				return
			}
		}
	}()
	start := time.Now()
	err = f()
	elapsed = time.Since(start)
	close(stop)
	<-sampled
	if err != nil {
		return nil, nil, nil, nil, 0, err
	}
	for _, pid := range all {
		_, hwm, err := mem(pid)
		if err != nil {
			return nil, nil, nil, nil, 0, err
		}
		peak = append(peak, hwm)
	}
	for i, pid := range all {
		if m, err := mappingRSS(pid, "raft.db"); err == nil {
			logPeak[i] = max(logPeak[i], m-log0[i])
		}
	}
	return base, peak, anonPeak, logPeak, elapsed, nil
}

// mappingRSS sums the resident size (Rss, KiB) of a process's mappings of
// files whose path ends in name, from /proc/<pid>/smaps.
func mappingRSS(pid, name string) (int64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/smaps")
	if err != nil {
		return 0, err
	}
	var total int64
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if !strings.HasSuffix(f[0], ":") || strings.Contains(f[0], "-") {
			// A mapping's header: address range, perms, offset, dev, inode, path.
			in = len(f) >= 6 && strings.HasSuffix(f[len(f)-1], name)
			continue
		}
		if in && f[0] == "Rss:" && len(f) >= 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			total += v
		}
	}
	return total, nil
}

// anonRSS reads a process's resident anonymous memory (RssAnon) in KiB.
func anonRSS(pid string) (int64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "RssAnon:" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, errors.New("no RssAnon")
}
