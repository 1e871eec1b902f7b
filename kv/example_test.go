package kv_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// A compare-and-set loop: read, compute, write back only if nobody wrote
// in between, and retry otherwise.
func ExampleBucket_Update() {
	ctx := context.Background()
	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	bucket, err := kv.New(conn).GetOrCreate(ctx, kv.Config{Name: "counters"})
	if err != nil {
		panic(err)
	}
	for {
		e, err := bucket.Get(ctx, "visits")
		var n int
		var rev uint64
		switch {
		case err == nil:
			n, _ = strconv.Atoi(string(e.Value))
			rev = e.Revision
		case !errors.Is(err, transport.ErrNotFound):
			panic(err)
		}
		_, err = bucket.Update(ctx, "visits", []byte(strconv.Itoa(n+1)), rev)
		if errors.Is(err, transport.ErrWrongRevision) {
			continue // someone else wrote first
		}
		if err != nil {
			panic(err)
		}
		break
	}
}

// Watch the keys under "config.": the current values, the InitialDone
// marker, then every change, until ctx ends.
func ExampleBucket_Watch() {
	ctx := context.Background()
	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	bucket, err := kv.New(conn).Open(ctx, "settings")
	if err != nil {
		panic(err)
	}
	w, err := bucket.Watch(ctx, "config.>")
	if err != nil {
		panic(err)
	}
	defer w.Stop()
	for ev, err := range w.All() {
		if err != nil {
			if ctx.Err() != nil {
				return // ctx ended: All yields its error last
			}
			panic(err) // ErrNotFound (bucket deleted), ErrClosed, ...
		}
		switch {
		case ev.Put != nil:
			fmt.Println("set", ev.Put.Key, string(ev.Put.Value))
		case ev.Delete != nil:
			fmt.Println("unset", ev.Delete.Key)
		case ev.InitialDone:
			fmt.Println("up to date")
		}
	}
}

// Every client lists its resources the same way: List returns an
// iter.Seq2 that fetches pages as the loop goes and yields a failure once,
// last.
func ExampleClient_List() {
	ctx := context.Background()
	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	for st, err := range kv.New(conn).List(ctx) {
		if err != nil {
			panic(err)
		}
		fmt.Println(st.Config.Name, st.Values)
	}
}
