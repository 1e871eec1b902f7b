package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/collections"
)

func init() { register(40, "collections: hash, set, reliable queue", tourCollections) }

// tourCollections shows the Redis-shaped hash and set stores and the
// SQS-shaped queue, with the results those commands give.
func tourCollections(ctx context.Context, c *waymaker.Client) error {
	suffix := time.Now().Format("150405")
	users, err := c.GetOrCreateHashStore(ctx, waymaker.HashStoreConfig{Name: "tour-users-" + suffix})
	if err != nil {
		return err
	}
	defer func() { _ = c.DeleteHashStore(ctx, users.Name()) }()
	added, err := users.Set(ctx, "user:1", map[string][]byte{"name": []byte("Ada"), "lang": []byte("en")})
	if err != nil {
		return err
	}
	fmt.Printf("HSET user:1 name lang -> %d new fields\n", added)
	visits, err := users.IncrBy(ctx, "user:1", "visits", 3)
	if err != nil {
		return err
	}
	fmt.Printf("HINCRBY user:1 visits 3 -> %d\n", visits)
	vals, err := users.MGet(ctx, "user:1", "name", "email")
	if err != nil {
		return err
	}
	fmt.Printf("HMGET user:1 name email -> %q (found %v), missing (found %v)\n", vals[0].Value, vals[0].Found, vals[1].Found)
	if _, err := users.Get(ctx, "user:1", "email"); errors.Is(err, waymaker.ErrNotFound) {
		fmt.Println("HGET user:1 email -> not_found")
	}
	if _, err := users.Expire(ctx, "user:1", time.Minute, "lang"); err != nil {
		return err
	}
	ttl, err := users.TTL(ctx, "user:1", "lang", "name")
	if err != nil {
		return err
	}
	fmt.Printf("HPEXPIRE user:1 60000 lang; HPTTL -> lang %v, name %d (no TTL)\n", ttl[0].Round(time.Second), ttl[1])

	tags, err := c.GetOrCreateSetStore(ctx, waymaker.SetStoreConfig{Name: "tour-tags-" + suffix})
	if err != nil {
		return err
	}
	defer func() { _ = c.DeleteSetStore(ctx, tags.Name()) }()
	n, err := tags.Add(ctx, "post:1", "go", "raft", "queues", "go")
	if err != nil {
		return err
	}
	fmt.Printf("SADD post:1 go raft queues go -> %d new\n", n)
	if _, err := tags.Add(ctx, "post:2", "go", "sets"); err != nil {
		return err
	}
	inter, err := tags.Inter(ctx, "post:1", "post:2")
	if err != nil {
		return err
	}
	fmt.Printf("SINTER post:1 post:2 -> %v\n", inter)
	popped, err := tags.Pop(ctx, "post:1", 2)
	if err != nil {
		return err
	}
	fmt.Printf("SPOP post:1 2 -> %d members removed\n", len(popped))

	dlq, err := c.CreateQueue(ctx, waymaker.QueueConfig{Name: "tour-dead-" + suffix})
	if err != nil {
		return err
	}
	jobs, err := c.CreateQueue(ctx, waymaker.QueueConfig{
		Name: "tour-jobs-" + suffix, VisibilityTimeout: 200 * time.Millisecond,
		MaxReceiveCount: 2, DeadLetterQueue: dlq.Name(),
	})
	if err != nil {
		return err
	}
	defer func() {
		_ = c.DeleteQueue(ctx, jobs.Name())
		_ = c.DeleteQueue(ctx, dlq.Name())
	}()
	if _, err := jobs.Push(ctx, []byte("send welcome mail"), collections.WithID("mail-1")); err != nil {
		return err
	}
	if r, err := jobs.Push(ctx, []byte("send welcome mail"), collections.WithID("mail-1")); err == nil && r.Duplicate {
		fmt.Println("push mail-1 twice -> stored once (deduplicated)")
	}
	m, err := jobs.Pop(ctx, time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("pop -> %q, receive %d; not acked...\n", m.Payload, m.ReceiveCount)
	m, err = jobs.Pop(ctx, 5*time.Second, collections.WithVisibilityTimeout(time.Minute))
	if err != nil {
		return err
	}
	fmt.Printf("pop after the visibility timeout -> %q again, receive %d\n", m.Payload, m.ReceiveCount)
	if err := m.Nack(ctx, 0); err != nil {
		return err
	}
	dead, err := dlq.Pop(ctx, 5*time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("nacked at MaxReceiveCount -> dead-letter queue has %q (id %s)\n", dead.Payload, dead.ID)
	return dead.Ack(ctx)
}
