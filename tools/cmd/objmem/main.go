// Command objmem measures the memory an object store Put and Get of a large
// object costs: it starts a waymaker server with a data dir in a child
// process, uploads and downloads one object of -size bytes from this
// process, and reports how far each operation raised the peak resident
// memory (VmHWM) of the server and of the client above what they held
// before it.
//
//	cd tools && go run ./cmd/objmem -size 1GiB
//
// With -nodes 3 it starts a three-node cluster (one child process per
// node, each with its own data dir) and measures every process: a Put and
// a Get through the leader, then through a follower (whose Put is
// forwarded to the leader and whose Get it serves from its own copy).
//
// With -catchup join or -catchup restart it measures instead how a node
// catches up by snapshot install on a three-node cluster loaded with
// -objects bytes of objects, -keys KV keys and -msgs stream messages: a
// fourth node joins after the load, or a follower killed before it is
// restarted on its data dir; it reports the time until the node has
// applied what the leader had committed and serves a linearizable read of
// the last write, its peak resident memory, and checks every object's
// digest, every key and the stream through that node alone.
//
//	cd tools && go run ./cmd/objmem -catchup join -raft-timeout 1s -start-timeout 10m
//
// (-start-timeout: a joining node's Start gives up catching up after
// max(StartTimeout, 10s), which a large install can exceed.)
//
// Linux only (it reads /proc and resets the peak through clear_refs).
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/objstore"
	"git.awesomike.com/pub/waymaker-client/go/server"
)

func main() {
	size := flag.String("size", "1GiB", "object size (B, KiB, MiB or GiB suffix)")
	chunk := flag.Int("chunk", 0, "store chunk size (0: the default, 128 KiB)")
	nodes := flag.Int("nodes", 1, "servers: 1, or 3 for a cluster")
	serve := flag.String("serve", "", "internal: run the server with this data dir")
	var cn clusterNode
	flag.StringVar(&cn.id, "node", "", "internal: cluster node id")
	flag.StringVar(&cn.listen, "listen", "", "internal: cluster node client address")
	flag.StringVar(&cn.raft, "raft", "", "internal: cluster node raft address")
	flag.StringVar(&cn.boot, "boot", "", "internal: cluster bootstrap list")
	flag.DurationVar(&cn.timeout, "raft-timeout", 0, "cluster: raft's heartbeat, election and leader lease timeouts (0: the server's defaults)")
	flag.StringVar(&cn.join, "join", "", "internal: join the cluster through this client address")
	flag.StringVar(&cn.logFile, "log", "", "internal: write the server's debug log to this file")
	var cs catchupSpec
	flag.StringVar(&cs.mode, "catchup", "", "measure a node catching up by snapshot install instead: join (a fourth node joins\nafter the load) or restart (a follower is killed before the load and restarted after it)")
	objects := flag.String("objects", "256MiB", "catchup: bytes of objects loaded (4 MiB objects)")
	flag.IntVar(&cs.keys, "keys", 100_000, "catchup: KV keys loaded")
	flag.IntVar(&cs.msgs, "msgs", 1_000_000, "catchup: stream messages loaded (64 bytes each)")
	flag.DurationVar(&cn.snapInterval, "snapshot-interval", 0, "cluster: raft's snapshot interval (0: the server's default, 2m; catchup: 5s)")
	flag.Uint64Var(&cn.snapThreshold, "snapshot-threshold", 0, "cluster: raft's snapshot threshold, entries (0: the server's default, 8192)")
	flag.Uint64Var(&cn.trailing, "trailing-logs", 0, "cluster: raft's trailing logs, entries (0: the server's default, 10240)")
	flag.DurationVar(&cn.startTimeout, "start-timeout", 0, "cluster: server.Config.StartTimeout of every node (0: the default, 10s; a joining node's\ncatch-up must finish within it)")
	flag.Parse()
	if *serve != "" && cn.id != "" {
		if err := runClusterServer(*serve, cn); err != nil {
			fmt.Fprintln(os.Stderr, "objmem server:", err)
			os.Exit(1)
		}
		return
	}
	if *serve != "" {
		if err := runServer(*serve); err != nil {
			fmt.Fprintln(os.Stderr, "objmem server:", err)
			os.Exit(1)
		}
		return
	}
	if cs.mode != "" {
		cs.timeout, cs.snapInterval, cs.snapThreshold, cs.trailing, cs.startTimeout = cn.timeout, cn.snapInterval, cn.snapThreshold, cn.trailing, cn.startTimeout
		var err error
		if cs.objects, err = parseSize(*objects); err != nil {
			err = fmt.Errorf("-objects: %w", err)
		} else {
			err = runCatchup(cs)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "objmem:", err)
			os.Exit(1)
		}
		return
	}
	n, err := parseSize(*size)
	switch {
	case err != nil:
		err = fmt.Errorf("-size: %w", err)
	case *nodes == 1:
		err = run(n, *chunk)
	case *nodes == 3:
		err = runCluster(n, *chunk, cn.timeout)
	default:
		err = fmt.Errorf("-nodes: %d, want 1 or 3", *nodes)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "objmem:", err)
		os.Exit(1)
	}
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (a count of B, KiB, MiB or GiB)", s)
	}
	return n * mult, nil
}

// runServer serves until its stdin closes.
func runServer(dir string) error {
	srv, err := server.New(server.Config{DataDir: dir})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	fmt.Printf("ADDR %s\n", lis.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Stop()
	return <-done
}

// mem reads a process's resident and peak resident memory in KiB.
func mem(pid string) (rss, hwm int64, err error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm, nil
}

// resetPeak makes VmHWM restart from the current resident size.
func resetPeak(pid string) error {
	return os.WriteFile("/proc/"+pid+"/clear_refs", []byte("5"), 0)
}

// genReader yields n pseudo-random bytes without holding them.
type genReader struct {
	r    *rand.PCG
	left int64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.left)]
	for i := 0; i < len(p); i += 8 {
		v := g.r.Uint64()
		for j := 0; j < 8 && i+j < len(p); j++ {
			p[i+j] = byte(v >> (8 * j))
		}
	}
	g.left -= int64(len(p))
	return len(p), nil
}

type phase struct {
	name             string
	srvBase, srvPeak int64
	cliBase, cliPeak int64
	elapsed          time.Duration
}

func measure(name string, spid string, f func() error) (phase, error) {
	p := phase{name: name}
	for _, pid := range []string{spid, "self"} {
		if err := resetPeak(pid); err != nil {
			return p, fmt.Errorf("reset peak RSS of %s: %w", pid, err)
		}
	}
	var err error
	if p.srvBase, _, err = mem(spid); err != nil {
		return p, err
	}
	if p.cliBase, _, err = mem("self"); err != nil {
		return p, err
	}
	start := time.Now()
	if err := f(); err != nil {
		return p, err
	}
	p.elapsed = time.Since(start)
	_, p.srvPeak, _ = mem(spid)
	_, p.cliPeak, _ = mem("self")
	return p, nil
}

func run(size int64, chunk int) error {
	dir, err := os.MkdirTemp("", "objmem-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "-serve", dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		return fmt.Errorf("server did not start: %q %v", line, err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))
	spid := strconv.Itoa(cmd.Process.Pid)

	ctx := context.Background()
	c, err := waymaker.Connect(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	store, err := c.CreateObjectStore(ctx, waymaker.ObjectStoreConfig{Name: "objmem", ChunkSize: chunk})
	if err != nil {
		return err
	}
	// Warm both processes up with a small round trip, so the baseline
	// includes the connection and the code paths, not just the heap.
	if _, err := store.PutBytes(ctx, "warm", make([]byte, 4<<20)); err != nil {
		return err
	}
	if _, err := store.GetBytes(ctx, "warm"); err != nil {
		return err
	}

	var info objstore.ObjectInfo
	put, err := measure("Put", spid, func() error {
		var err error
		info, err = store.Put(ctx, waymaker.ObjectMeta{Name: "big"}, &genReader{r: rand.NewPCG(1, 2), left: size})
		return err
	})
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	get, err := measure("Get", spid, func() error {
		r, err := store.Get(ctx, "big")
		if err != nil {
			return err
		}
		defer r.Close()
		h := sha256.New()
		n, err := io.Copy(h, r)
		if err != nil {
			return err
		}
		if n != size || string(h.Sum(nil)) != string(info.SHA256) {
			return errors.New("downloaded data differs")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	fmt.Printf("object: %d MiB, chunk %d bytes, server with a data dir (separate process)\n", size>>20, info.ChunkSize)
	fmt.Printf("%-4s %10s %12s %12s %12s %12s\n", "op", "MB/s", "server base", "server peak+", "client base", "client peak+")
	for _, p := range []phase{put, get} {
		fmt.Printf("%-4s %10.1f %9d MiB %9d MiB %9d MiB %9d MiB\n", p.name, float64(size)/1e6/p.elapsed.Seconds(),
			p.srvBase>>10, (p.srvPeak-p.srvBase)>>10, p.cliBase>>10, (p.cliPeak-p.cliBase)>>10)
	}
	return nil
}
