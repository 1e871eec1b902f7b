package waymaker_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/lock"
)

// The Examples below compile but, except Example_errors, do not run: they
// talk to a server at localhost:8818. Start one with
// `cd server && go run ./cmd/waymakerd` (or point them at yours); the ones
// that run against a server in their own process are in server/e2e.

// One Client for every subsystem: a lock that elects a leader, and a KV
// bucket it writes under its fence token.
func Example() {
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, "localhost:8818")
	if err != nil {
		panic(err)
	}
	defer client.Close()

	leader, err := client.AcquireLock(ctx, "leader:reports", waymaker.LockConfig{LeaseTTL: 30 * time.Second})
	if waymaker.IsServerCode(err, "expired") {
		fmt.Println("another instance leads")
		return
	}
	if err != nil {
		panic(err)
	}
	defer leader.Unlock(ctx)

	reports, err := client.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "reports"})
	if err != nil {
		panic(err)
	}
	rev, err := reports.Put(ctx, "last-run", []byte(time.Now().Format(time.RFC3339)))
	if err != nil {
		panic(err)
	}
	fmt.Println("written at revision", rev, "under fence token", leader.FenceToken())
}

// Every failure is an *Error with a kind and a code; errors.Is matches the
// code against a sentinel. An argument the client refuses is never sent,
// so this one runs without a server.
func Example_errors() {
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, "localhost:8818")
	if err != nil {
		panic(err)
	}
	defer client.Close()

	_, err = client.AcquireLock(ctx, "", waymaker.LockConfig{})
	var werr *waymaker.Error
	if errors.As(err, &werr) {
		fmt.Println(werr.Kind, werr.Code, werr.Message)
	}
	fmt.Println("invalid argument:", errors.Is(err, waymaker.ErrInvalidArgument))
	fmt.Println("contended:", waymaker.IsServerCode(err, "expired"))
	// Output:
	// invalid invalid_argument key: must not be empty
	// invalid argument: true
	// contended: false
}

// Connect does not wait for the network: the first call connects, and
// calls retry through an outage until their context ends.
func ExampleConnect() {
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, "localhost:8818",
		waymaker.WithCallTimeout(5*time.Second), // bounds calls whose context has none
		waymaker.WithBackoff(waymaker.Backoff{Initial: 50 * time.Millisecond, Max: time.Second}),
	)
	if err != nil {
		panic(err) // only a malformed address fails here
	}
	defer client.Close()

	info, err := client.Locks().Inspect(ctx, "leader:reports", waymaker.ScopeQuorum)
	if err != nil {
		panic(err)
	}
	fmt.Println("holders:", len(info.Holders), "waiting:", info.Waiters)
}

// Over mutual TLS from PEM files: the CA that signed the server's
// certificate, and this client's certificate and key (pass "" for both when
// the server does not ask for one).
func ExampleWithTLSFiles() {
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, "db1:8818", waymaker.WithTLSFiles("ca.pem", "client.pem", "client-key.pem"))
	if err != nil {
		panic(err) // names the file that could not be used
	}
	defer client.Close()
}

// Several nodes, balanced round-robin, over TLS with a bearer token.
func ExampleConnectMulti() {
	ctx := context.Background()
	client, err := waymaker.ConnectMulti(ctx, []string{"node1:8818", "node2:8818", "node3:8818"},
		waymaker.WithTLS(&tls.Config{MinVersion: tls.VersionTLS13}),
		waymaker.WithToken(os.Getenv("WAYMAKER_TOKEN")),
	)
	if err != nil {
		panic(err)
	}
	defer client.Close()

	bucket, err := client.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "profiles"})
	if err != nil {
		panic(err)
	}
	rev, err := bucket.Put(ctx, "user.1.name", []byte("Ada"))
	if err != nil {
		panic(err)
	}
	fmt.Println("written at revision", rev)
}

// Leader election: try once, renew in the background, and stop leading as
// soon as the lock is lost.
func ExampleClient_AcquireLock() {
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, "localhost:8818")
	if err != nil {
		panic(err)
	}
	defer client.Close()

	l, err := client.AcquireLock(ctx, "leader:reports", waymaker.LockConfig{
		MaxWait:  0, // try once: a held key fails at once with "expired"
		LeaseTTL: 30 * time.Second,
		Scope:    waymaker.ScopeQuorum,
	})
	if waymaker.IsServerCode(err, "expired") {
		fmt.Println("someone else leads")
		return
	}
	if err != nil {
		panic(err)
	}
	defer l.Unlock(ctx)
	renewal := l.SpawnRenewal(10 * time.Second)
	defer renewal.Stop()

	for !l.IsLost() {
		fmt.Println("leading with fence token", l.FenceToken())
		select {
		case <-l.Watch(): // a renewal, or the loss
		case <-time.After(time.Second):
		}
	}
	fmt.Println("lost:", l.Err())
}

// A leader's writes carry its lock's fence: the server applies each only
// while the lock is still held with that token, so a leader paused past its
// lease cannot overwrite its successor's work when it wakes.
func ExampleClient_AcquireLock_fencedWrites() {
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, "localhost:8818")
	if err != nil {
		panic(err)
	}
	defer client.Close()
	l, err := client.AcquireLock(ctx, "leader:reports", waymaker.LockConfig{LeaseTTL: 30 * time.Second})
	if err != nil {
		panic(err)
	}
	defer l.Unlock(ctx)
	bucket, err := client.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "reports"})
	if err != nil {
		panic(err)
	}
	_, err = bucket.Put(ctx, "daily", []byte("..."), kv.WithFence(l.Fence()))
	if errors.Is(err, waymaker.ErrFenced) {
		fmt.Println("no longer the leader: the write was refused")
	}
}

// Several keys at once, all or none: overlapping MultiLocks in any key
// order cannot deadlock.
func ExampleClient_MultiLock() {
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, "localhost:8818")
	if err != nil {
		panic(err)
	}
	defer client.Close()

	l, err := client.MultiLock(ctx, []string{"account:1", "account:2"}, waymaker.LockConfig{MaxWait: 5 * time.Second})
	if err != nil {
		panic(err)
	}
	defer l.Unlock(ctx)
	for _, g := range l.Grants() {
		fmt.Println(g.Key, g.FenceToken)
	}
}

// The subsystem clients are free to take and share the Client's connection.
func ExampleClient_Locks() {
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, "localhost:8818")
	if err != nil {
		panic(err)
	}
	defer client.Close()

	locks := client.Locks()
	l, err := locks.AcquireRead(ctx, "config", lock.Config{MaxWait: time.Second})
	if err != nil {
		panic(err)
	}
	defer l.Unlock(ctx)
	fmt.Println(l.State().Mode) // shared
}

// A KV bucket: put, compare-and-set on the revision, and watch.
func ExampleClient_GetOrCreateKV() {
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, "localhost:8818")
	if err != nil {
		panic(err)
	}
	defer client.Close()

	bucket, err := client.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "profiles", History: 3})
	if err != nil {
		panic(err)
	}
	rev, err := bucket.Put(ctx, "user.1.name", []byte("Ada"))
	if err != nil {
		panic(err)
	}
	_, err = bucket.Update(ctx, "user.1.name", []byte("Grace"), rev+1)
	fmt.Println("stale update refused:", errors.Is(err, waymaker.ErrWrongRevision))

	w, err := bucket.WatchAll(ctx)
	if err != nil {
		panic(err)
	}
	defer w.Stop()
	for {
		ev, err := w.Next()
		if err != nil || ev == (waymaker.KVEvent{}) {
			break
		}
		if ev.Put != nil {
			fmt.Printf("%s=%s @%d\n", ev.Put.Key, ev.Put.Value, ev.Put.Revision)
		}
		if ev.InitialDone {
			break // the values present when the watch began have all arrived
		}
	}
}

// KV opens a bucket that exists, and fails with ErrNotFound otherwise.
func ExampleClient_KV() {
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, "localhost:8818")
	if err != nil {
		panic(err)
	}
	defer client.Close()

	bucket, err := client.KV(ctx, "profiles")
	if errors.Is(err, waymaker.ErrNotFound) {
		fmt.Println("no such bucket")
		return
	}
	if err != nil {
		panic(err)
	}
	e, err := bucket.Get(ctx, "user.1.name")
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s @%d\n", e.Value, e.Revision)
}

// A stream with a durable consumer: publish, then receive and ack.
func ExampleClient_GetOrCreateStream() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := waymaker.Connect(ctx, "localhost:8818")
	if err != nil {
		panic(err)
	}
	defer client.Close()

	events, err := client.GetOrCreateStream(ctx, waymaker.StreamConfig{Name: "events", Retention: waymaker.RetentionLimits})
	if err != nil {
		panic(err)
	}
	ack, err := events.Publish(ctx, "events.user.123", []byte(`{"action":"login"}`))
	if err != nil {
		panic(err)
	}
	fmt.Println("stored at", ack.Sequence)

	consumer, err := events.GetOrCreateConsumer(ctx, waymaker.ConsumerConfig{
		DurableName:   "processor",
		DeliverPolicy: waymaker.DeliverAll,
		AckWait:       30 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	msgs, err := consumer.Messages(ctx)
	if err != nil {
		panic(err)
	}
	defer msgs.Stop()
	for {
		msg, err := msgs.Next()
		if err != nil || msg == nil {
			break // the context ended, or Stop
		}
		fmt.Println(msg.Subject, string(msg.Payload))
		if err := msg.Ack(ctx); err != nil {
			panic(err)
		}
	}
}

// A work queue: a popped message is hidden for the visibility timeout, and
// comes back unless it is acked in time.
func ExampleClient_CreateQueue() {
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, "localhost:8818")
	if err != nil {
		panic(err)
	}
	defer client.Close()

	jobs, err := client.GetOrCreateQueue(ctx, waymaker.QueueConfig{Name: "jobs", VisibilityTimeout: 30 * time.Second})
	if err != nil {
		panic(err)
	}
	if _, err := jobs.Push(ctx, []byte("resize image 42")); err != nil {
		panic(err)
	}
	m, err := jobs.Pop(ctx, 5*time.Second)
	if errors.Is(err, waymaker.ErrExpired) {
		fmt.Println("nothing to do")
		return
	}
	if err != nil {
		panic(err)
	}
	fmt.Println("working on", string(m.Payload))
	if err := m.Ack(ctx); err != nil {
		panic(err)
	}
}

// A Bloom filter: "have we seen this before?" in fixed memory.
func ExampleClient_CreateBloom() {
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, "localhost:8818")
	if err != nil {
		panic(err)
	}
	defer client.Close()

	seen, err := client.CreateBloom(ctx, waymaker.BloomConfig{Name: "seen", Capacity: 1_000_000, ErrorRate: 0.001})
	if err != nil {
		panic(err)
	}
	added, err := seen.Add(ctx, []byte("order-17"))
	if err != nil {
		panic(err)
	}
	fmt.Println("new:", added)
}

// An object store: Put streams its reader in chunks; GetBytes reads a
// small object whole.
func ExampleClient_GetOrCreateObjectStore() {
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, "localhost:8818")
	if err != nil {
		panic(err)
	}
	defer client.Close()

	docs, err := client.GetOrCreateObjectStore(ctx, waymaker.ObjectStoreConfig{Name: "docs"})
	if err != nil {
		panic(err)
	}
	info, err := docs.Put(ctx, waymaker.ObjectMeta{Name: "hello.txt"}, strings.NewReader("hello, world"))
	if err != nil {
		panic(err)
	}
	fmt.Println(info.Name, info.Size)
	data, err := docs.GetBytes(ctx, "hello.txt")
	if err != nil {
		panic(err)
	}
	fmt.Println(string(data))
}

// A cache policy makes a KV bucket evict: here the least recently used key
// once it holds more than 10,000.
func ExampleClient_CacheAttachPolicy() {
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, "localhost:8818")
	if err != nil {
		panic(err)
	}
	defer client.Close()

	if _, err := client.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "sessions"}); err != nil {
		panic(err)
	}
	if _, err := client.CacheAttachPolicy(ctx, waymaker.CachePolicy{Bucket: "sessions", MaxEntries: 10_000, Eviction: waymaker.CacheLRU}); err != nil {
		panic(err)
	}
	st, err := client.CacheStats(ctx, "sessions")
	if err != nil {
		panic(err)
	}
	fmt.Printf("entries %d, hits %d, misses %d, evictions %d\n", st.Entries, st.Hits, st.Misses, st.Evictions)
}
