package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/lock"
)

// say prints one line of the story, stamped with the wall clock so two
// instances' outputs can be read side by side.
func say(format string, args ...any) {
	fmt.Printf(time.Now().Format("15:04:05.000 ")+format, args...)
}

// term is one term of office: its fence token and when it began.
type term struct {
	token uint64
	at    time.Time
}

// bucketName is the KV bucket the leader writes, fenced.
const bucketName = "leader-demo"

// contend campaigns for leadership until ctx ends or the client is closed:
// Campaign waits in line (FIFO) and returns once this instance leads,
// so a crashed leader's successor takes over the moment its lease runs
// out. While it leads it writes fenced; when the term is lost it campaigns
// again. Each term it begins is reported to led (if not nil).
func contend(ctx context.Context, client *waymaker.Client, key string, ttl time.Duration, name string, led chan<- term) error {
	e, err := client.Locks().Election(key, lock.ElectionConfig{LeaseTTL: ttl})
	if err != nil {
		return err
	}
	bucket, err := client.KeyValue().GetOrCreate(ctx, kv.Config{Name: bucketName})
	if err != nil {
		return err
	}
	for {
		say("[%s] campaigning for %s\n", name, key)
		lead, err := e.Campaign(ctx, []byte(name))
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, waymaker.ErrClosed):
			return err
		case err != nil:
			say("[%s] cannot campaign: %v; again in %v\n", name, err, ttl/5)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(ttl / 5):
			}
			continue
		}
		say("[%s] LEADER of %s with fence token %d (lease %v, renewed in the background)\n", name, key, lead.FenceToken(), ttl)
		if led != nil {
			led <- term{lead.FenceToken(), time.Now()}
		}
		if err := serve(ctx, lead, bucket, name); err != nil {
			return err
		}
	}
}

// serve is the leader's work loop: every write goes out fenced with the
// term's fence, so the server refuses it once the term is over, even if
// this instance has not noticed yet (paused, partitioned). It returns nil
// when the term is lost (to campaign again), and ctx's error after
// resigning when the program stops.
func serve(ctx context.Context, lead *lock.Leadership, bucket *kv.Bucket, name string) error {
	work := time.NewTicker(time.Second)
	defer work.Stop()
	for n := 1; ; {
		select {
		case <-ctx.Done():
			// A clean stop hands leadership over at once instead of after a TTL.
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := lead.Resign(rctx); err != nil {
				say("[%s] stopping; resign: %v\n", name, err)
			} else {
				say("[%s] stopping; resigned\n", name)
			}
			return ctx.Err()
		case <-lead.Watch():
			if lead.IsLost() {
				say("[%s] LOST leadership: %v\n", name, lead.Err())
				return nil
			}
		case <-work.C:
			rev, err := write(ctx, bucket, lead, name, n)
			switch {
			case errors.Is(err, waymaker.ErrFenced):
				say("[%s] fenced write refused: the term is over (%v)\n", name, err)
				return nil
			case err != nil:
				say("[%s] write %d failed: %v\n", name, n, err)
			default:
				say("[%s] fenced write %d with token %d: revision %d\n", name, n, lead.FenceToken(), rev)
				n++
			}
		}
	}
}

// write is one fenced put of the leader's work.
func write(ctx context.Context, bucket *kv.Bucket, lead *lock.Leadership, name string, n int) (uint64, error) {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return bucket.Put(wctx, "report", fmt.Appendf(nil, "%s #%d (token %d)", name, n, lead.FenceToken()), kv.WithFence(lead.Fence()))
}

// observe prints every change of leadership of key until ctx ends.
func observe(ctx context.Context, client *waymaker.Client, key string) {
	e, err := client.Locks().Election(key, lock.ElectionConfig{})
	if err != nil {
		say("[observer] %v\n", err)
		return
	}
	o, err := e.Observe(ctx)
	if err != nil {
		say("[observer] %v\n", err)
		return
	}
	defer o.Stop()
	for ch, err := range o.All() {
		switch {
		case err != nil:
			if ctx.Err() == nil {
				say("[observer] ended: %v\n", err)
			}
			return
		case ch.Vacant:
			say("[observer] revision %d: nobody leads\n", ch.Revision)
		default:
			say("[observer] revision %d: %s leads with token %d\n", ch.Revision, ch.Leader.Value, ch.Leader.Fence.Token)
		}
	}
}
