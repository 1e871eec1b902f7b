package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
)

// fenceChildEnv makes the test binary run fenceChild instead of the tests
// (see TestMain): the paused holder of TestFenceProcessPausedBySIGSTOP.
const fenceChildEnv = "WAYMAKER_E2E_FENCE_CHILD"

// fenceChild is holder A as its own process. It takes the lock (1 s
// lease, renewed every 250 ms), says "held <token>", then writes "w"
// fenced with that token in a loop, saying "ok <i>" or "fenced <i>" for
// each write; it never looks at whether it still holds the lock, as a
// leader paused in the middle of its loop would not. After its first
// refused write it writes "u" unfenced once ("unfenced ok"): that write
// lands, which is what fencing prevents for "w". It exits after 5 refusals.
func fenceChild() int {
	args := strings.Split(os.Getenv(fenceChildEnv), ",") // addr,bucket,lock key
	if len(args) != 3 {
		fmt.Println("error: want addr,bucket,lock in", fenceChildEnv)
		return 1
	}
	addr, bucketName, lockKey := args[0], args[1], args[2]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := waymaker.Connect(ctx, addr, append(suiteClientOptions(), waymaker.WithBackoff(waymaker.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}))...)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	defer c.Close()
	bucket, err := c.KeyValue().Open(ctx, bucketName)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	l, err := c.AcquireLock(ctx, lockKey, waymaker.LockConfig{LeaseTTL: time.Second})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	renewal := l.SpawnRenewal(250 * time.Millisecond)
	defer renewal.Stop()
	fence := l.Fence()
	fmt.Println("held", fence.Token)
	pace := time.NewTicker(5 * time.Millisecond)
	defer pace.Stop()
	refused := 0
	for i := 0; refused < 5; i++ {
		<-pace.C
		_, err := bucket.Put(ctx, "w", []byte(fmt.Sprintf("A:%d:%d", fence.Token, i)), kv.WithFence(fence))
		switch {
		case err == nil:
			fmt.Println("ok", i)
		case errors.Is(err, waymaker.ErrFenced):
			fmt.Println("fenced", i)
			if refused++; refused == 1 {
				if _, err := bucket.Put(ctx, "u", []byte("A unfenced")); err != nil {
					fmt.Println("error", err)
					return 1
				}
				fmt.Println("unfenced ok")
			}
		default:
			fmt.Println("error", err)
			return 1
		}
	}
	return 0
}

// The paused-leader scenario with two real processes: holder A (a child
// process) writes fenced in a loop and is stopped with SIGSTOP past its
// lease; B takes the lock and writes; A is continued and its next fenced
// writes are all refused, while an unfenced one lands. The key's whole
// history, in revision order, is checked against the model: exactly the
// writes A saw acknowledged, all with A's token, then exactly B's.
func TestFenceProcessPausedBySIGSTOP(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	bucketName, lockKey := name(t), name(t)+"-lock"
	bucket, err := c.KeyValue().Create(ctx, kv.Config{Name: bucketName})
	if err != nil {
		t.Fatal(err)
	}
	watch, err := bucket.Watch(ctx, "w", kv.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Stop()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fenceChildEnv+"="+c.Conn().Addrs()[0]+","+bucketName+","+lockKey, suiteDirEnv+"="+suiteDir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(lines)
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Signal(syscall.SIGCONT)
			_ = cmd.Process.Kill()
			<-readDone
			_ = cmd.Wait()
		}
	})
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("holder A exited early")
			}
			if strings.HasPrefix(l, "error") {
				t.Fatalf("holder A: %s", l)
			}
			return l
		case <-ctx.Done():
			t.Fatal("holder A said nothing in time")
		}
		return ""
	}
	var tokenA uint64
	if _, err := fmt.Sscanf(next(), "held %d", &tokenA); err != nil {
		t.Fatal(err)
	}
	acked := map[int]bool{}
	var refused []int
	record := func(l string) {
		var i int
		switch {
		case strings.HasPrefix(l, "ok "):
			i, _ = strconv.Atoi(l[3:])
			acked[i] = true
		case strings.HasPrefix(l, "fenced "):
			i, _ = strconv.Atoi(l[7:])
			refused = append(refused, i)
		}
	}
	for len(acked) < 3 {
		record(next())
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}

	// B waits for the lock: it comes free when A's lease runs out.
	b, err := c.AcquireLock(ctx, lockKey, waymaker.LockConfig{MaxWait: 10 * time.Second, LeaseTTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Unlock(context.Background()) }()
	if b.FenceToken() <= tokenA {
		t.Fatalf("B's token %d after A's %d", b.FenceToken(), tokenA)
	}
	const nB = 5
	for j := range nB {
		if _, err := bucket.Put(ctx, "w", []byte(fmt.Sprintf("B:%d:%d", b.FenceToken(), j)), kv.WithFence(b.Fence())); err != nil {
			t.Fatalf("B's write %d: %v", j, err)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	unfenced := false
	for l := range lines {
		if strings.HasPrefix(l, "error") {
			t.Fatalf("holder A: %s", l)
		}
		unfenced = unfenced || l == "unfenced ok"
		record(l)
	}
	<-readDone
	exited = true
	if err := cmd.Wait(); err != nil {
		t.Fatalf("holder A: %v", err)
	}
	if len(refused) != 5 || !unfenced {
		t.Fatalf("A's writes after the pause: refused %v, unfenced write landed %v", refused, unfenced)
	}
	for j := range acked {
		if j > refused[0] {
			t.Fatalf("A's write %d was acknowledged after %d was refused", j, refused[0])
		}
	}
	if e, err := bucket.Get(ctx, "u"); err != nil || string(e.Value) != "A unfenced" {
		t.Fatalf("A's unfenced write: %v, %v", e, err)
	}

	// The model: "w" changed exactly by A's acknowledged writes, in order,
	// with A's token, then by B's, with B's; nothing else.
	var want []string
	for i := 0; len(want) < len(acked); i++ {
		if acked[i] {
			want = append(want, fmt.Sprintf("A:%d:%d", tokenA, i))
		}
	}
	for j := range nB {
		want = append(want, fmt.Sprintf("B:%d:%d", b.FenceToken(), j))
	}
	var got []string
	for len(got) < len(want) {
		ev, err := watch.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Put != nil {
			got = append(got, string(ev.Put.Value))
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("history of w:\n got %v\nwant %v", got, want)
	}
	if e, err := bucket.Get(ctx, "w"); err != nil || string(e.Value) != want[len(want)-1] {
		t.Fatalf("w now: %v, %v; want %s", e, err, want[len(want)-1])
	}
}
