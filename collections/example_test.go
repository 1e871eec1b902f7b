package collections_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/collections"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// A worker loop over a reliable queue: pop with a long wait, process, ack.
// A message that is not acked within the visibility timeout is delivered
// again. (Runnable examples against a server are in server/e2e.)
func ExampleQueue_Pop() {
	ctx := context.Background()
	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
	if err != nil {
		return
	}
	defer conn.Close()
	c := collections.New(conn)
	jobs, err := c.GetOrCreateQueue(ctx, collections.QueueConfig{Name: "jobs", VisibilityTimeout: time.Minute, MaxReceiveCount: 5})
	if err != nil {
		return
	}
	for ctx.Err() == nil {
		msg, err := jobs.Pop(ctx, 20*time.Second)
		if errors.Is(err, transport.ErrExpired) {
			continue // nothing in 20s
		}
		if err != nil {
			return
		}
		fmt.Printf("job %s: %s\n", msg.ID, msg.Payload)
		_ = msg.Ack(ctx)
	}
}

// Hash fields with Redis' results: Set counts new fields, Get fails with
// ErrNotFound on a missing one.
func ExampleHashStore_Set() {
	ctx := context.Background()
	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
	if err != nil {
		return
	}
	defer conn.Close()
	users, err := collections.New(conn).GetOrCreateHashStore(ctx, collections.HashStoreConfig{Name: "users"})
	if err != nil {
		return
	}
	added, _ := users.Set(ctx, "user:1", map[string][]byte{"name": []byte("Ada"), "lang": []byte("en")})
	fmt.Println("new fields:", added)
	if _, err := users.Get(ctx, "user:1", "email"); errors.Is(err, transport.ErrNotFound) {
		fmt.Println("no email")
	}
}
