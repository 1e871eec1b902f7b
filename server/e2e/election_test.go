package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/lock"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

func election(t testing.TB, c *waymaker.Client, key string, ttl time.Duration) *lock.Election {
	t.Helper()
	e, err := c.Locks().Election(key, lock.ElectionConfig{LeaseTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// nextChange reads one change from o, failing the test after 10 s.
func nextChange(t *testing.T, o *lock.Observer) lock.LeaderChange {
	t.Helper()
	type got struct {
		ch  lock.LeaderChange
		err error
	}
	c := make(chan got, 1)
	go func() { ch, err := o.Next(); c <- got{ch, err} }()
	select {
	case g := <-c:
		if g.err != nil {
			t.Fatalf("observer ended: %v", g.err)
		}
		return g.ch
	case <-time.After(10 * time.Second):
		o.Stop()
		<-c
		t.Fatal("no leadership change within 10s")
	}
	return lock.LeaderChange{}
}

// describeChange is a change as the test compares it: the leader's value
// and token, or "-" when vacant.
func describeChange(ch lock.LeaderChange) string {
	if ch.Vacant {
		return "-"
	}
	return fmt.Sprintf("%s/%d", ch.Leader.Value, ch.Leader.Fence.Token)
}

// waitWaiters waits until key has n waiting acquisitions.
func waitWaiters(t *testing.T, ctx context.Context, c *waymaker.Client, key string, n int64) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := c.Locks().Inspect(ctx, key, lock.ScopeQuorum)
		if err != nil {
			t.Fatal(err)
		}
		if info.Waiters == n {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("key %s never had %d waiters (has %d)", key, n, info.Waiters)
		}
	}
}

type campaignResult struct {
	lead *lock.Leadership
	err  error
}

func campaignAsync(ctx context.Context, e *lock.Election, value string) <-chan campaignResult {
	c := make(chan campaignResult, 1)
	go func() {
		l, err := e.Campaign(ctx, []byte(value))
		c <- campaignResult{l, err}
	}()
	return c
}

func won(t *testing.T, c <-chan campaignResult) *lock.Leadership {
	t.Helper()
	select {
	case r := <-c:
		if r.err != nil {
			t.Fatalf("campaign: %v", r.err)
		}
		return r.lead
	case <-time.After(10 * time.Second):
		t.Fatal("campaign did not win within 10s")
	}
	return nil
}

// Candidates lead in the order they campaigned; Resign hands over at
// once; Leader reports the leader's value and fence; an Observe started
// first delivers every change once, in order, tokens increasing.
func TestElectionFIFOResignLeaderAndObserve(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	key := name(t)
	e := election(t, c, key, 10*time.Second)
	if _, err := e.Leader(ctx); !errors.Is(err, lock.ErrNoLeader) {
		t.Fatalf("Leader with nobody leading: %v", err)
	}
	obs, err := e.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Stop()
	if ch := nextChange(t, obs); !ch.Vacant {
		t.Fatalf("first change of an empty election: %+v", ch)
	}

	l1 := won(t, campaignAsync(ctx, e, "one"))
	c2 := campaignAsync(ctx, e, "two")
	waitWaiters(t, ctx, c, key, 1)
	c3 := campaignAsync(ctx, e, "three")
	waitWaiters(t, ctx, c, key, 2)

	ld, err := e.Leader(ctx)
	if err != nil || string(ld.Value) != "one" || ld.Fence != l1.Fence() {
		t.Fatalf("Leader = %+v, %v; want one with %+v", ld, err, l1.Fence())
	}
	if info, err := c.Locks().Inspect(ctx, key, lock.ScopeQuorum); err != nil || len(info.Holders) != 1 || string(info.Holders[0].Value) != "one" {
		t.Fatalf("Inspect of the election key: %+v, %v", info, err)
	}
	if err := l1.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	l2 := won(t, c2)
	select {
	case r := <-c3:
		t.Fatalf("the third candidate won before the second resigned: %+v", r)
	default:
	}
	if ld, err := e.Leader(ctx); err != nil || string(ld.Value) != "two" || ld.Fence != l2.Fence() {
		t.Fatalf("Leader after the resign = %+v, %v", ld, err)
	}
	if err := l2.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	l3 := won(t, c3)
	defer func() { _ = l3.Resign(context.Background()) }()
	if !(l1.FenceToken() < l2.FenceToken() && l2.FenceToken() < l3.FenceToken()) {
		t.Fatalf("tokens %d, %d, %d", l1.FenceToken(), l2.FenceToken(), l3.FenceToken())
	}

	var got []string
	last := uint64(0)
	for range 5 {
		ch := nextChange(t, obs)
		if ch.Revision <= last {
			t.Fatalf("revision %d after %d", ch.Revision, last)
		}
		last = ch.Revision
		got = append(got, describeChange(ch))
	}
	want := fmt.Sprintf("one/%d - two/%d - three/%d", l1.FenceToken(), l2.FenceToken(), l3.FenceToken())
	if strings.Join(got, " ") != want {
		t.Fatalf("observed %q, want %q", strings.Join(got, " "), want)
	}
	if obs.Revision() != last {
		t.Fatalf("Revision %d, want %d", obs.Revision(), last)
	}

	// A Leadership is a Lock: it is lost as one, and its fence stops
	// working with the term.
	if _, err := c.Locks().Revoke(ctx, key); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l3.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a revoked leadership was not lost")
	}
	if !l3.IsLost() {
		t.Fatal("IsLost false after revoke")
	}
	bucket, err := c.KeyValue().Create(ctx, kv.Config{Name: name(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bucket.Put(ctx, "k", []byte("v"), kv.WithFence(l3.Fence())); !errors.Is(err, waymaker.ErrFenced) {
		t.Fatalf("write with the revoked term's fence: %v", err)
	}
	if ch := nextChange(t, obs); !ch.Vacant {
		t.Fatalf("after the revoke: %+v", ch)
	}
}

// Three candidates on a three-node cluster; the leading candidate
// crashes twice (its client goes, the lease runs out), and the raft leader
// is killed under a sitting term and restarted. An observer on each node
// (one address each, so the killed node's observer resumes there after its
// restart, from its last revision) delivers the same sequence: each term
// once, in order, tokens strictly increasing, a vacancy between terms and
// nothing else. Leader, asked of every node after a term was observed,
// never answers an older one.
func TestElectionObserveAcrossLeaderKills(t *testing.T) {
	const ttl = time.Second
	cl := waymakertest.StartCluster(t, 3, withSuite(t)...)
	ctx := testCtx(t, 60*time.Second)
	key := name(t)
	var observers []*lock.Observer
	var perNode []*lock.Election
	for _, a := range cl.Addrs() {
		e := election(t, connect(t, a), key, ttl)
		o, err := e.Observe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Stop()
		if ch := nextChange(t, o); !ch.Vacant {
			t.Fatalf("first change: %+v", ch)
		}
		observers, perNode = append(observers, o), append(perNode, e)
	}
	var candidates []*waymaker.Client
	var results []<-chan campaignResult
	for i := range 3 {
		c := connectCluster(t, cl)
		candidates = append(candidates, c)
		results = append(results, campaignAsync(ctx, election(t, c, key, ttl), fmt.Sprint("c", i)))
	}
	var lastToken uint64
	for round := range 3 {
		// The next leader is whichever campaign wins now.
		var r campaignResult
		var who int
		select {
		case r = <-results[0]:
		case r = <-results[1]:
			who = 1
		case r = <-results[2]:
			who = 2
		case <-time.After(15 * time.Second):
			t.Fatalf("round %d: nobody won", round)
		}
		if r.err != nil {
			t.Fatal(r.err)
		}
		results[who] = nil // a nil channel never fires again
		lead := r.lead
		if lead.FenceToken() <= lastToken {
			t.Fatalf("round %d: token %d after %d", round, lead.FenceToken(), lastToken)
		}
		lastToken = lead.FenceToken()
		want := fmt.Sprintf("c%d/%d", who, lead.FenceToken())
		if round == 1 {
			// The raft leader dies under a sitting election leader, and
			// comes back once another node leads.
			k := cl.Leader()
			cl.Kill(k)
			cl.Leader()
			cl.Restart(k)
		}
		for i, o := range observers {
			if round > 0 {
				if ch := nextChange(t, o); !ch.Vacant {
					t.Fatalf("observer %d, round %d: %s where the last term ended", i, round, describeChange(ch))
				}
			}
			if got := describeChange(nextChange(t, o)); got != want {
				t.Fatalf("observer %d: round %d delivered %s, want %s", i, round, got, want)
			}
		}
		for i, e := range perNode {
			ld, err := e.Leader(ctx)
			if err != nil || ld.Fence.Token < lead.FenceToken() {
				t.Fatalf("Leader on node %d after round %d: %+v, %v", i, round, ld, err)
			}
		}
		if round < 2 {
			// The leader crashes: no resign, its lease runs out.
			_ = candidates[who].Close()
		} else if err := lead.Resign(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, o := range observers {
		if ch := nextChange(t, o); !ch.Vacant {
			t.Fatalf("observer %d after the last resign: %+v", i, ch)
		}
	}
}

// An observer rides through a server restart without a gap or a repeat;
// ObserveFrom resumes after a given revision; a revision the server no
// longer keeps the changes after is ErrCompacted, never a silent gap.
func TestElectionObserveResumesAfterRestart(t *testing.T) {
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir())
	ctx := testCtx(t, 30*time.Second)
	key := name(t)
	e := election(t, c, key, 10*time.Second)
	obs, err := e.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Stop()
	nextChange(t, obs) // vacant
	a := won(t, campaignAsync(ctx, e, "a"))
	first := nextChange(t, obs)
	if describeChange(first) != fmt.Sprintf("a/%d", a.FenceToken()) {
		t.Fatalf("first leader %+v", first)
	}
	srv.Restart()
	if err := a.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	b := won(t, campaignAsync(ctx, e, "b"))
	defer func() { _ = b.Resign(context.Background()) }()
	if ch := nextChange(t, obs); !ch.Vacant {
		t.Fatalf("after a's resign: %+v", ch)
	}
	if got := describeChange(nextChange(t, obs)); got != fmt.Sprintf("b/%d", b.FenceToken()) {
		t.Fatalf("after the restart: %s", got)
	}

	from, err := e.ObserveFrom(ctx, first.Revision)
	if err != nil {
		t.Fatal(err)
	}
	defer from.Stop()
	if ch := nextChange(t, from); !ch.Vacant {
		t.Fatalf("ObserveFrom: %+v", ch)
	}
	if got := describeChange(nextChange(t, from)); got != fmt.Sprintf("b/%d", b.FenceToken()) {
		t.Fatalf("ObserveFrom: %s", got)
	}

	// 40 terms on another key: more changes than the server keeps per key.
	other := election(t, c, name(t)+"x", 10*time.Second)
	for i := range 40 {
		l := won(t, campaignAsync(ctx, other, fmt.Sprint(i)))
		if err := l.Resign(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, err = other.ObserveFrom(ctx, 0)
	if !errors.Is(err, transport.ErrCompacted) || !strings.Contains(err.Error(), "oldest resume point") {
		t.Fatalf("ObserveFrom a compacted revision: %v", err)
	}
}

// Bad input gets a clear error naming the field, before or at the server.
func TestElectionBadInput(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 10*time.Second)
	for _, tc := range []struct {
		key   string
		cfg   lock.ElectionConfig
		field string
	}{
		{"", lock.ElectionConfig{}, "key"},
		{strings.Repeat("k", lock.MaxKeyLen+1), lock.ElectionConfig{}, "key"},
		{"k", lock.ElectionConfig{LeaseTTL: time.Millisecond}, "LeaseTTL"},
		{"k", lock.ElectionConfig{LeaseTTL: time.Second, RenewEvery: time.Second}, "RenewEvery"},
	} {
		_, err := c.Locks().Election(tc.key, tc.cfg)
		var werr *waymaker.Error
		if !errors.As(err, &werr) || werr.Kind != "invalid" || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Election(%.10q, %+v) = %v, want invalid naming %s", tc.key, tc.cfg, err, tc.field)
		}
	}
	e := election(t, c, name(t), 0)
	if _, err := e.Campaign(ctx, make([]byte, lock.MaxValueLen+1)); err == nil || !strings.Contains(err.Error(), "value") {
		t.Fatalf("a value over the limit: %v", err)
	}

	// The server checks again, for clients that are not this SDK.
	rpc := lockpb.NewLockServiceClient(c.Conn())
	resp, err := rpc.TryAcquire(ctx, &lockpb.LockServiceTryAcquireRequest{Key: name(t), RequestId: "r", Value: make([]byte, lock.MaxValueLen+1)})
	if err != nil || resp.GetResult().GetResultCode() != "invalid_argument" || !strings.Contains(resp.GetResult().GetMessage(), "value") {
		t.Fatalf("TryAcquire with a large value: %v, %v", resp, err)
	}
	if in, err := c.Locks().Inspect(ctx, name(t), lock.ScopeQuorum); err != nil || len(in.Holders) != 0 {
		t.Fatalf("refused acquisition changed something: %+v, %v", in, err)
	}
	for _, req := range []*lockpb.LockServiceObserveRequest{
		{Key: ""},
		{Key: strings.Repeat("k", lock.MaxKeyLen+1)},
		{Key: "k", AfterRevision: 3},
		{Key: "k", Resume: true, AfterRevision: 1 << 40},
	} {
		s, err := rpc.Observe(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.Recv()
		if err != nil || m.GetResult().GetResultCode() != "invalid_argument" {
			t.Errorf("Observe(%.20v): %v, %v", req, m, err)
		}
	}
}

// Once Next has returned a change, Revision counts it, so an ObserveFrom
// that resumes from Revision neither misses it nor repeats it.
func TestElectionObserverRevisionCountsTheChangeNextReturned(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	e := election(t, c, name(t), 10*time.Second)
	obs, err := e.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Stop()
	if ch := nextChange(t, obs); !ch.Vacant {
		t.Fatalf("first change of an empty election: %+v", ch)
	}
	check := func(i int, want string) {
		t.Helper()
		// Next directly, not nextChange: the check must follow Next's
		// return at once. The test's context bounds the wait.
		ch, err := obs.Next()
		if err != nil {
			t.Fatalf("term %d: observer ended: %v", i, err)
		}
		if got := describeChange(ch); got != want {
			t.Fatalf("term %d: observed %s, want %s", i, got, want)
		}
		if got := obs.Revision(); got < ch.Revision {
			t.Fatalf("term %d: Revision() = %d after Next returned revision %d", i, got, ch.Revision)
		}
	}
	for i := range 100 {
		l, err := e.Campaign(ctx, []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		check(i, fmt.Sprintf("v/%d", l.FenceToken()))
		if err := l.Resign(ctx); err != nil {
			t.Fatal(err)
		}
		check(i, "-")
	}
}
