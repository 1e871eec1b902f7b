package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

func init() { register(20, "kv: buckets, revisions, compare-and-set, watch", tourKV) }

// tourKV stores, reads and updates keys, shows the compare-and-set
// refusal, and watches changes arrive.
func tourKV(ctx context.Context, c *waymaker.Client) error {
	name := fmt.Sprintf("tour-%d", time.Now().UnixNano())
	bucket, err := c.CreateKV(ctx, waymaker.KVConfig{Name: name, History: 5})
	if err != nil {
		return err
	}
	defer func() { _ = c.DeleteKV(context.Background(), name) }()
	fmt.Printf("created bucket %s (history 5)\n", name)

	rev, err := bucket.Put(ctx, "greeting.en", []byte("hello"))
	if err != nil {
		return err
	}
	fmt.Printf("Put greeting.en=hello -> revision %d\n", rev)
	e, err := bucket.Get(ctx, "greeting.en")
	if err != nil {
		return err
	}
	fmt.Printf("Get greeting.en -> %s at revision %d\n", e.Value, e.Revision)

	rev2, err := bucket.Update(ctx, "greeting.en", []byte("hi"), rev)
	if err != nil {
		return err
	}
	fmt.Printf("Update greeting.en=hi if still at %d -> revision %d\n", rev, rev2)
	_, err = bucket.Update(ctx, "greeting.en", []byte("hey"), rev)
	if !errors.Is(err, waymaker.ErrWrongRevision) {
		return fmt.Errorf("stale Update answered %v, want wrong_revision", err)
	}
	fmt.Printf("Update again from the stale revision %d -> %v\n", rev, err)
	if _, err := bucket.Create(ctx, "greeting.en", []byte("x")); !errors.Is(err, waymaker.ErrExists) {
		return fmt.Errorf("create of a live key answered %v, want exists", err)
	}
	fmt.Println("Create greeting.en (it exists) -> exists")

	w, err := bucket.Watch(ctx, "greeting.*")
	if err != nil {
		return err
	}
	defer w.Stop()
	fmt.Println(`Watch "greeting.*":`)
	changed := false
	for {
		ev, err := w.Next()
		if err != nil || ev == (waymaker.KVEvent{}) {
			return err
		}
		switch {
		case ev.Put != nil:
			fmt.Printf("  put %s=%s (revision %d)\n", ev.Put.Key, ev.Put.Value, ev.Put.Revision)
		case ev.Delete != nil:
			fmt.Printf("  %s %s (revision %d)\n", ev.Delete.Operation, ev.Delete.Key, ev.Delete.Revision)
		case ev.InitialDone:
			fmt.Println("  (initial values done; now live)")
		}
		if ev.Delete != nil {
			break
		}
		if (ev.InitialDone || ev.Put != nil) && !changed {
			changed = true
			if _, err := bucket.Put(ctx, "greeting.fr", []byte("bonjour")); err != nil {
				return err
			}
			if _, err := bucket.Delete(ctx, "greeting.en"); err != nil {
				return err
			}
		}
	}
	h, err := bucket.History(ctx, "greeting.en")
	if err != nil {
		return err
	}
	fmt.Printf("History greeting.en: %d entries:", len(h))
	for _, e := range h {
		fmt.Printf(" %s@%d", e.Operation, e.Revision)
	}
	fmt.Println()
	fmt.Print("Keys:")
	for k, err := range bucket.Keys(ctx).All() {
		if err != nil {
			return err
		}
		fmt.Print(" ", k)
	}
	fmt.Println()
	return nil
}
