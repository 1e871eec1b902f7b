package e2e

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/objstore"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// A live object store watcher gets every version of objects that writers
// overwrite as fast as they can, each once and in revision order; a watch
// resuming from before what the server keeps gets ErrCompacted naming where
// it can resume, and from there every change that followed.
func TestObjstoreWatchSeesEveryVersion(t *testing.T) {
	const backlog = 100
	_, c := startEmbedded(t, waymakertest.WithConfig(func(cfg *server.Config) {
		cfg.Limits.WatchBacklog = backlog
	}))
	ctx := testCtx(t, 2*time.Minute)
	s := newObjectStore(t, c, waymaker.ObjectStoreConfig{})
	w, err := s.Watch(ctx, objstore.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if ev, err := w.Next(); err != nil || !ev.InitialDone {
		t.Fatalf("first event %+v, %v; want the marker", ev, err)
	}

	const writers, perWriter = 4, 100
	var (
		mu   sync.Mutex
		puts = map[uint64]string{} // revision -> content
		wg   sync.WaitGroup
		errs = make(chan error, writers)
	)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				body := fmt.Sprintf("%d-%d", g, i)
				info, err := s.PutBytes(ctx, fmt.Sprint("o", i%2), []byte(body))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				puts[info.Revision] = body
				mu.Unlock()
			}
		}()
	}
	var last uint64
	for n := 0; n < writers*perWriter; n++ {
		ev, err := w.Next()
		if err != nil {
			t.Fatalf("after %d events: %v", n, err)
		}
		if ev.Revision <= last {
			t.Fatalf("revision %d after %d: duplicate or out of order", ev.Revision, last)
		}
		last = ev.Revision
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// As many increasing revisions as puts, each put answered a distinct
	// revision, and the last is the last put: every version, once.
	if len(puts) != writers*perWriter {
		t.Fatalf("%d distinct revisions for %d puts", len(puts), writers*perWriter)
	}
	var newest uint64
	for r := range puts {
		newest = max(newest, r)
	}
	if last != newest {
		t.Fatalf("watch ended at revision %d, the last put is %d", last, newest)
	}

	// Every version except the last two was overwritten, and the server
	// keeps 100 changes: a watch resuming from revision 1 cannot be served.
	// (The failure comes from Watch or, as the stream opens in the
	// background, from the first Next.)
	w2, err := s.Watch(ctx, objstore.ResumeFromRevision(1))
	if err == nil {
		defer w2.Stop()
		var ev objstore.WatchEvent
		if ev, err = w2.Next(); err == nil {
			t.Fatalf("resume from revision 1 delivered %+v", ev)
		}
	}
	if !errors.Is(err, waymaker.ErrCompacted) {
		t.Fatalf("resume from revision 1: %v, want ErrCompacted", err)
	}
	m := regexp.MustCompile(`resume from revision (\d+)`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("compacted error names no revision: %v", err)
	}
	from, _ := strconv.ParseUint(m[1], 10, 64)
	w3, err := s.Watch(ctx, objstore.ResumeFromRevision(from))
	if err != nil {
		t.Fatal(err)
	}
	defer w3.Stop()
	for want := from + 1; ; want++ {
		ev, err := w3.Next()
		if err != nil {
			t.Fatalf("resumed from %d: %v", from, err)
		}
		if ev.InitialDone {
			if want != newest+1 {
				t.Fatalf("resumed from %d: backlog ended before revision %d, want %d", from, want, newest+1)
			}
			break
		}
		if ev.Revision != want {
			t.Fatalf("resumed from %d: revision %d, want %d", from, ev.Revision, want)
		}
		if ev.Info.Size != int64(len(puts[want])) {
			t.Fatalf("revision %d: size %d, want %d", want, ev.Info.Size, len(puts[want]))
		}
	}
}
