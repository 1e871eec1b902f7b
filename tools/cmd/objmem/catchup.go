package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/stream"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// catchupSpec is what -catchup measures.
type catchupSpec struct {
	mode       string // join or restart
	objects    int64
	keys, msgs int
	// timeout is raft's timeouts; snapInterval raft's snapshot interval
	// (0: 5s, so that the log is compacted soon after the load).
	timeout, snapInterval time.Duration
	// snapThreshold and trailing: raft's counts (0: the defaults).
	snapThreshold, trailing uint64
	startTimeout            time.Duration
}

const (
	catchupObjectSize = 4 << 20
	catchupMsgSize    = 64
	catchupBatch      = 1000
)

func catchupKey(i int) string   { return fmt.Sprintf("k%07d", i) }
func catchupValue(i int) string { return fmt.Sprintf("v%07d", i) }

// catchupMsg is message i's payload: 64 bytes naming i.
func catchupMsg(i int) []byte {
	b := make([]byte, catchupMsgSize)
	copy(b, fmt.Sprintf("m%09d-", i))
	for j := 11; j < len(b); j++ {
		b[j] = byte('a' + (i+j)%26)
	}
	return b
}

// runCatchup loads a three-node cluster, brings in a node that has none
// of the load (a fourth node joining, or a follower that was down during
// it), and measures its catch-up.
func runCatchup(spec catchupSpec) error {
	if spec.mode != "join" && spec.mode != "restart" {
		return fmt.Errorf("-catchup: %q, want join or restart", spec.mode)
	}
	if spec.objects < 0 || spec.keys < 1 || spec.msgs < 1 {
		return fmt.Errorf("-objects, -keys, -msgs: %d, %d, %d; want objects >= 0 and at least one key and one message", spec.objects, spec.keys, spec.msgs)
	}
	if spec.snapInterval == 0 {
		spec.snapInterval = 5 * time.Second
	}
	dir, err := os.MkdirTemp("", "objmem-catchup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	addrs, err := freeAddrs(8)
	if err != nil {
		return err
	}
	nodes := make([]*child, 4)
	var boot []string
	for i := range nodes {
		nodes[i] = &child{id: fmt.Sprintf("node%d", i+1), addr: addrs[i]}
		if i < 3 {
			boot = append(boot, nodes[i].id+"="+addrs[4+i])
		}
	}
	args := func(i int) []string {
		a := []string{"-node", nodes[i].id, "-listen", nodes[i].addr, "-raft", addrs[4+i], "-raft-timeout", spec.timeout.String(),
			"-snapshot-interval", spec.snapInterval.String(),
			"-snapshot-threshold", fmt.Sprint(spec.snapThreshold), "-trailing-logs", fmt.Sprint(spec.trailing),
			"-start-timeout", spec.startTimeout.String(), "-log", filepath.Join(dir, nodes[i].id+".log")}
		if i < 3 {
			return append(a, "-boot", strings.Join(boot, ","))
		}
		return append(a, "-join", nodes[0].addr) // replaced by the leader's below
	}
	for i := range 3 {
		if err := nodes[i].spawn(exe, filepath.Join(dir, nodes[i].id), args(i)...); err != nil {
			return err
		}
		defer nodes[i].stop()
	}
	for i := range 3 {
		if err := nodes[i].waitReady(); err != nil {
			return err
		}
	}
	ctx := context.Background()
	all, err := waymaker.ConnectMulti(ctx, addrs[:3])
	if err != nil {
		return err
	}
	defer all.Close()
	st, err := all.Cluster().Status(ctx)
	if err != nil {
		return err
	}
	var leader *child
	for _, c := range nodes[:3] {
		if c.id == st.LeaderID {
			leader = c
		}
	}
	if leader == nil {
		return fmt.Errorf("no leader in %+v", st)
	}
	cl, err := waymaker.Connect(ctx, leader.addr)
	if err != nil {
		return err
	}
	defer cl.Close()
	store, err := cl.CreateObjectStore(ctx, waymaker.ObjectStoreConfig{Name: "catchup"})
	if err != nil {
		return err
	}
	bucket, err := cl.KeyValue().Create(ctx, kv.Config{Name: "catchup", History: 1})
	if err != nil {
		return err
	}
	strm, err := cl.Streams().Create(ctx, stream.Config{Name: "catchup", Subjects: []string{"catchup"}})
	if err != nil {
		return err
	}

	// The node that catches up: node4, or a follower stopped now.
	newIdx := 3
	var behindIndex uint64 // the last log index the node holds
	if spec.mode == "restart" {
		for i, c := range nodes[:3] {
			if c != leader {
				newIdx = i
				break
			}
		}
		nc, err := waymaker.Connect(ctx, nodes[newIdx].addr)
		if err != nil {
			return err
		}
		fst, err := nc.Cluster().Status(ctx)
		nc.Close()
		if err != nil {
			return err
		}
		behindIndex = fst.LastIndex
		nodes[newIdx].kill()
	}
	node := nodes[newIdx]

	loadStart := time.Now()
	digests, err := loadObjects(ctx, store, spec.objects)
	if err != nil {
		return fmt.Errorf("objects: %w", err)
	}
	objTime := time.Since(loadStart)
	t0 := time.Now()
	if err := loadKeys(ctx, bucket, spec.keys); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	keyTime := time.Since(t0)
	t0 = time.Now()
	if err := loadMsgs(ctx, strm, spec.msgs); err != nil {
		return fmt.Errorf("messages: %w", err)
	}
	msgTime := time.Since(t0)
	lastRev, err := bucket.Put(ctx, "last", []byte("written last"))
	if err != nil {
		return err
	}
	fmt.Printf("loaded %d MiB of objects in %v, %d keys in %v, %d messages in %v\n",
		spec.objects>>20, objTime.Round(time.Millisecond), spec.keys, keyTime.Round(time.Millisecond), spec.msgs, msgTime.Round(time.Millisecond))

	// Wait for the leader to compact its log past what the node holds,
	// so it cannot catch up from the log.
	t0 = time.Now()
	leaderLog := filepath.Join(dir, leader.id+".log")
	for {
		to, err := compactedTo(leaderLog)
		if err != nil {
			return err
		}
		if to > behindIndex {
			fmt.Printf("leader compacted its log up to index %d (the node holds up to %d) %v after the load\n", to, behindIndex, time.Since(t0).Round(time.Millisecond))
			break
		}
		if time.Since(t0) > 10*spec.snapInterval+time.Minute {
			return fmt.Errorf("the leader did not compact its log past index %d within %v", behindIndex, time.Since(t0))
		}
		time.Sleep(time.Second) // polls a file the child writes; there is no event to wait for
	}
	lst, err := cl.Cluster().Status(ctx)
	if err != nil {
		return err
	}
	target := lst.CommitIndex

	// Bring the node in and watch it.
	a := args(newIdx)
	if spec.mode == "join" {
		a[len(a)-1] = leader.addr
	}
	started := time.Now()
	if err := node.spawn(exe, filepath.Join(dir, node.id), a...); err != nil {
		return err
	}
	defer node.stop()
	var anonPeak, rssPeak atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if a, err := anonRSS(node.pid); err == nil {
				anonPeak.Store(max(anonPeak.Load(), a))
			}
			if r, _, err := mem(node.pid); err == nil {
				rssPeak.Store(max(rssPeak.Load(), r))
			}
			select {
			case <-t.C:
			case <-stopSampling:
				return
			}
		}
	}()
	ready := make(chan error, 1)
	go func() { ready <- node.waitReady() }()
	nc, err := waymaker.Connect(ctx, node.addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	var applied time.Duration
	for applied == 0 {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		nst, err := nc.Cluster().Status(sctx)
		cancel()
		if err == nil && nst.AppliedIndex >= target {
			applied = time.Since(started)
			break
		}
		select {
		case err := <-ready:
			if err != nil {
				return fmt.Errorf("%s: %w", node.id, err)
			}
			ready <- nil
		default:
		}
		if time.Since(started) > 30*time.Minute {
			return fmt.Errorf("%s did not reach applied index %d in %v", node.id, target, time.Since(started))
		}
		time.Sleep(20 * time.Millisecond) // polling the node's applied index is the measurement
	}
	if err := <-ready; err != nil {
		return fmt.Errorf("%s: %w", node.id, err)
	}
	serving := time.Since(started)
	e, err := nc.KeyValue().Bucket("catchup").Get(ctx, "last")
	if err != nil || string(e.Value) != "written last" || e.Revision != lastRev {
		return fmt.Errorf("linearizable read of the last write through %s: %+v, %v", node.id, e, err)
	}
	readBack := time.Since(started)
	close(stopSampling)
	<-sampled
	_, hwm, err := mem(node.pid)
	if err != nil {
		return err
	}
	installed, err := logHas(filepath.Join(dir, node.id+".log"), "Installed remote snapshot")
	if err != nil {
		return err
	}
	if !installed {
		return fmt.Errorf("%s caught up without installing a snapshot: the measurement is not of a snapshot install", node.id)
	}

	// Everything, read through the node alone.
	t0 = time.Now()
	if err := checkObjects(ctx, nc, digests); err != nil {
		return err
	}
	if err := checkKeys(ctx, nc, spec.keys); err != nil {
		return err
	}
	if err := checkMsgs(ctx, nc, spec.msgs); err != nil {
		return err
	}
	checked := time.Since(t0)
	_, hwmAfter, _ := mem(node.pid)

	fmt.Printf("catch-up by snapshot install (%s) of %s: %d MiB of objects (4 MiB each), %d KV keys, %d stream messages of %d B\n",
		spec.mode, node.id, spec.objects>>20, spec.keys, spec.msgs, catchupMsgSize)
	fmt.Printf("time from process start: applied the leader's commit index %d in %v; serving (Start returned) %v; linearizable read of the last write %v\n",
		target, applied.Round(time.Millisecond), serving.Round(time.Millisecond), readBack.Round(time.Millisecond))
	fmt.Printf("%s peak memory while catching up: VmHWM %d MiB (file pages included), RssAnon %d MiB (sampled every 20 ms)\n",
		node.id, hwm>>10, anonPeak.Load()>>10)
	fmt.Printf("every object (digest), key and message read back through %s alone in %v; VmHWM after that %d MiB\n", node.id, checked.Round(time.Millisecond), hwmAfter>>10)
	fmt.Printf("data dirs (MiB):")
	for _, c := range nodes {
		if n, err := dirSize(filepath.Join(dir, c.id)); err == nil {
			fmt.Printf(" %s %d", c.id, n>>20)
		}
	}
	fmt.Println()
	return nil
}

func loadObjects(ctx context.Context, store *waymaker.ObjectStore, total int64) (map[string][]byte, error) {
	digests := map[string][]byte{}
	var mu sync.Mutex
	n := int((total + catchupObjectSize - 1) / catchupObjectSize)
	next := atomic.Int64{}
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				size := min(int64(catchupObjectSize), total-int64(i)*catchupObjectSize)
				name := fmt.Sprintf("o%04d", i)
				info, err := store.Put(ctx, waymaker.ObjectMeta{Name: name}, &genReader{r: rand.NewPCG(uint64(i), 7), left: size})
				if err != nil {
					errs <- fmt.Errorf("put %s: %w", name, err)
					return
				}
				mu.Lock()
				digests[name] = info.SHA256
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	return digests, <-errs
}

func loadKeys(ctx context.Context, b *kv.Bucket, keys int) error {
	var next atomic.Int64
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= keys {
					return
				}
				if _, err := b.Put(ctx, catchupKey(i), []byte(catchupValue(i))); err != nil {
					errs <- fmt.Errorf("put %s: %w", catchupKey(i), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// loadMsgs publishes in batches, one batch in flight at a time, so the
// sequence of message i is i+1.
func loadMsgs(ctx context.Context, s *stream.Stream, msgs int) error {
	for i := 0; i < msgs; i += catchupBatch {
		batch := make([]stream.Message, min(catchupBatch, msgs-i))
		for j := range batch {
			batch[j] = stream.Message{Subject: "catchup", Data: catchupMsg(i + j)}
		}
		if _, err := s.PublishBatch(ctx, batch); err != nil {
			return fmt.Errorf("batch at %d: %w", i, err)
		}
	}
	return nil
}

func checkObjects(ctx context.Context, c *waymaker.Client, digests map[string][]byte) error {
	store, err := c.Objects().Store(ctx, "catchup")
	if err != nil {
		return err
	}
	for name, want := range digests {
		r, err := store.Get(ctx, name)
		if err != nil {
			return fmt.Errorf("object %s: %w", name, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil || !bytes.Equal(h.Sum(nil), want) {
			return fmt.Errorf("object %s: digest differs (%v)", name, err)
		}
	}
	return nil
}

// checkKeys reads every key's value through a watch's initial values.
func checkKeys(ctx context.Context, c *waymaker.Client, keys int) error {
	w, err := c.KeyValue().Bucket("catchup").WatchAll(ctx)
	if err != nil {
		return err
	}
	defer w.Stop()
	seen := make([]bool, keys)
	got := 0
	for {
		ev, err := w.Next()
		if err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		if ev.InitialDone {
			break
		}
		if ev.Put == nil || ev.Put.Key == "last" {
			continue
		}
		var i int
		if _, err := fmt.Sscanf(ev.Put.Key, "k%07d", &i); err != nil || i < 0 || i >= keys || string(ev.Put.Value) != catchupValue(i) {
			return fmt.Errorf("key %q = %q: not one loaded", ev.Put.Key, ev.Put.Value)
		}
		if !seen[i] {
			seen[i] = true
			got++
		}
	}
	if got != keys {
		return fmt.Errorf("the bucket holds %d of the %d keys", got, keys)
	}
	return nil
}

// checkMsgs reads every message by sequence (stale reads: the
// linearizable read before already showed the node caught up).
func checkMsgs(ctx context.Context, c *waymaker.Client, msgs int) error {
	s, err := c.Streams().Get(ctx, "catchup")
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs != int64(msgs) || info.State.LastSeq != uint64(msgs) {
		return fmt.Errorf("stream state %+v, want %d messages", info.State, msgs)
	}
	sctx := transport.StaleRead(ctx)
	var next atomic.Int64
	errs := make(chan error, 32)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= msgs {
					return
				}
				m, err := s.GetMsg(sctx, uint64(i+1))
				if err != nil || !bytes.Equal(m.Payload, catchupMsg(i)) {
					errs <- fmt.Errorf("message %d: %v", i+1, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// compactedTo returns the highest index raft's log said it compacted up
// to, 0 if none.
func compactedTo(path string) (uint64, error) {
	var to uint64
	err := scanLog(path, func(line []byte) {
		if !bytes.Contains(line, []byte(`"compacting logs"`)) {
			return
		}
		var e struct {
			To uint64 `json:"to"`
		}
		if json.Unmarshal(line, &e) == nil {
			to = max(to, e.To)
		}
	})
	return to, err
}

func logHas(path, msg string) (bool, error) {
	found := false
	err := scanLog(path, func(line []byte) {
		found = found || bytes.Contains(line, []byte(`"msg":"`+msg+`"`))
	})
	return found, err
}

func scanLog(path string, f func([]byte)) error {
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		f(sc.Bytes())
	}
	return sc.Err()
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}
