package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/lock"
)

// leadReports is README's "Leader election" sample (the lines between the
// markers are checked against it by TestReadmeElectionSampleIsThisCode):
// campaign, then write only under the term's fence until the term ends.
func leadReports(ctx context.Context, client *waymaker.Client, name string, bucket *kv.Bucket, reports <-chan string) error {
	// README sample begins.
	election, err := client.Locks().Election("leader:reports", lock.ElectionConfig{LeaseTTL: 10 * time.Second})
	if err != nil {
		return err
	}
	leadership, err := election.Campaign(ctx, []byte(name)) // waits in line (FIFO) until it leads
	if err != nil {
		return err
	}
	defer leadership.Resign(context.Background()) // the next candidate leads at once
	for report := range reports {
		_, err := bucket.Put(ctx, "daily", []byte(report), kv.WithFence(leadership.Fence()))
		if errors.Is(err, waymaker.ErrFenced) {
			return err // the term is over (lease lost, revoked): the server wrote nothing
		}
		if err != nil {
			return err
		}
	}
	return nil
	// README sample ends.
}

// Leader election with fenced writes against a real server: a leads and
// writes; b waits in line and leads once a resigns; an observer sees each
// change once, in order.
func Example_election() {
	addr, stop := lockExampleServer()
	defer stop()
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, addr)
	if err != nil {
		panic(err)
	}
	defer client.Close()
	bucket, err := client.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "reports"})
	if err != nil {
		panic(err)
	}
	election, err := client.Locks().Election("leader:reports", lock.ElectionConfig{})
	if err != nil {
		panic(err)
	}
	observer, err := election.Observe(ctx)
	if err != nil {
		panic(err)
	}
	defer observer.Stop()

	aReports, bReports := make(chan string, 1), make(chan string, 1)
	aReports <- "from a"
	close(aReports)
	if err := leadReports(ctx, client, "a", bucket, aReports); err != nil {
		panic(err)
	}
	bReports <- "from b"
	close(bReports)
	if err := leadReports(ctx, client, "b", bucket, bReports); err != nil {
		panic(err)
	}
	for range 5 {
		ch, err := observer.Next()
		if err != nil {
			panic(err)
		}
		if ch.Vacant {
			fmt.Println("nobody leads")
		} else {
			fmt.Printf("%s leads with token %d\n", ch.Leader.Value, ch.Leader.Fence.Token)
		}
	}
	e, err := bucket.Get(ctx, "daily")
	if err != nil {
		panic(err)
	}
	fmt.Println("daily:", string(e.Value))
	// Output:
	// nobody leads
	// a leads with token 1
	// nobody leads
	// b leads with token 2
	// nobody leads
	// daily: from b
}

// README's "Leader election" sample is exactly the code of leadReports
// between its markers, so the README shows code that compiles and runs.
func TestReadmeElectionSampleIsThisCode(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("election_example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, sample, ok := strings.Cut(string(readme), "<!-- sample: server/e2e/election_example_test.go leadReports -->\n```go\n")
	if !ok {
		t.Fatal("README has no leader election sample marker")
	}
	sample, _, _ = strings.Cut(sample, "```")
	_, code, _ := strings.Cut(string(src), "// README sample begins.\n")
	code, _, _ = strings.Cut(code, "\t// README sample ends.")
	if strings.TrimSpace(sample) != untab(code) {
		t.Fatalf("README's sample differs from leadReports:\n%s\n---\n%s", sample, code)
	}
}

// untab removes one level of indentation from each line of s.
func untab(s string) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		out = append(out, strings.TrimPrefix(l, "\t"))
	}
	return strings.Join(out, "\n")
}
