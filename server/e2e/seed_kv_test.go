//lint:file-ignore SA4006 the README sample overwrites err unchecked, and it stays verbatim

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

// seedKV is the KV sample of the published README, verbatim between the
// markers; the lines after it only use what it declares.
func seedKV(ctx context.Context, client *waymaker.Client) error {
	// --- README sample begins ---
	bucket, err := client.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "my-bucket"})
	rev, err := bucket.Put(ctx, "hello", []byte("world"))
	val, err := bucket.Get(ctx, "hello")
	rev2, err := bucket.Update(ctx, "hello", []byte("updated"), rev)

	// Watch all keys
	w, err := bucket.WatchAll(ctx)
	for {
		ev, err := w.Next()
		if err != nil || ev == (waymaker.KVEvent{}) {
			break
		}
		if ev.Put != nil {
			fmt.Println("put", ev.Put.Key)
		}
	}
	// --- README sample ends ---
	_, _ = val, rev2
	return err
}

// The README's KV sample runs as written: it stores and updates "hello",
// prints the watched put, and its loop ends on the zero KVEvent when the
// watch ends (here: its context is cancelled).
func TestSeedKVSample(t *testing.T) {
	c := start(t)
	// The sample prints to stdout; read what it prints.
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = wr
	defer func() { os.Stdout = stdout }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- seedKV(ctx, c) }()

	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	deadline := time.After(20 * time.Second)
	for seen := false; !seen; {
		select {
		case l := <-lines:
			if !strings.HasPrefix(l, "put ") {
				t.Fatalf("sample printed %q, want put lines", l)
			}
			seen = l == "put hello" // other keys may exist on a shared server
		case err := <-done:
			t.Fatalf("sample returned before watching hello: %v", err)
		case <-deadline:
			t.Fatal("sample did not print \"put hello\" within 20s")
		}
	}
	cancel() // ends the watch: Next returns the zero KVEvent
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sample: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the sample's watch loop did not end")
	}
	os.Stdout = stdout
	wr.Close()
	for l := range lines {
		t.Errorf("output after the watch ended: %q", l)
	}
	r.Close()

	b, err := c.KV(context.Background(), "my-bucket")
	if err != nil {
		t.Fatal(err)
	}
	e, err := b.Get(context.Background(), "hello")
	if err != nil || string(e.Value) != "updated" {
		t.Fatalf("hello = %v, %v; want updated", e, err)
	}
}
