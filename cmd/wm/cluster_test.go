package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// nodeID is the id waymakertest gives node i.
func nodeID(i int) string { return fmt.Sprintf("node%d", i+1) }

func TestClusterStatusAndMembers(t *testing.T) {
	c := waymakertest.StartCluster(t, 3)
	all := strings.Join(c.Addrs(), ",")
	lead := c.Leader()
	follower := (lead + 1) % 3

	st := decode[clusterStatusJSON](t, wm(t, all, "", "cluster", "status", "--json"))
	if st.LeaderID != nodeID(lead) || st.LeaderAddress != c.Addrs()[lead] || st.Term == 0 || st.CommitIndex == 0 || len(st.Members) != 3 {
		t.Fatalf("status --json = %+v; want leader %s at %s, a term, a commit index and 3 members", st, nodeID(lead), c.Addrs()[lead])
	}
	// One node answers, and says who it is: ask a follower alone.
	st = decode[clusterStatusJSON](t, wm(t, c.Addrs()[follower], "", "cluster", "status", "--json"))
	if st.NodeID != nodeID(follower) || st.State != "follower" || st.LeaderID != nodeID(lead) {
		t.Fatalf("status of %s alone = %+v; want a follower of %s", nodeID(follower), st, nodeID(lead))
	}
	if st.AppliedIndex > st.CommitIndex || st.CommitIndex > st.LastIndex {
		t.Fatalf("status indexes: applied %d, commit %d, last %d; want applied <= commit <= last", st.AppliedIndex, st.CommitIndex, st.LastIndex)
	}
	out := ok(t, wm(t, c.Addrs()[lead], "", "cluster", "status"))
	for _, want := range []string{
		"node:", nodeID(lead), "state:", "leader", "leader:", nodeID(lead) + " (" + c.Addrs()[lead] + ")",
		"term:", "last index:", "commit index:", "applied index:", "members:",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("status table lacks %q:\n%s", want, out)
		}
	}

	ms := decode[[]memberJSON](t, wm(t, all, "", "cluster", "members", "--json"))
	if len(ms) != 3 {
		t.Fatalf("members --json = %+v, want 3", ms)
	}
	for i, m := range ms {
		if m.ID != nodeID(i) || m.Suffrage != "voter" || m.RaftAddress == "" || m.Leader != (i == lead) {
			t.Fatalf("member %d = %+v; want voter %s with a raft address, leader %v", i, m, nodeID(i), i == lead)
		}
	}
	lines := strings.Split(strings.TrimSpace(ok(t, wm(t, all, "", "cluster", "members"))), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "LEADER") {
		t.Fatalf("members table = %q; want a header and 3 rows", lines)
	}
	for i, l := range lines[1:] {
		f := strings.Fields(l)
		if f[0] != nodeID(i) || f[1] != "voter" || (f[2] == "*") != (i == lead) || f[3] != ms[i].RaftAddress {
			t.Fatalf("members row %d = %q; want %s, voter, * only on the leader, its raft address", i, l, nodeID(i))
		}
	}
}

func TestClusterTransferLeader(t *testing.T) {
	c := waymakertest.StartCluster(t, 3)
	all := strings.Join(c.Addrs(), ",")
	old := c.Leader()
	target, other := (old+1)%3, (old+2)%3

	// Asked through a follower, the transfer is forwarded to the leader,
	// which steps down before it can answer: wm still reports the outcome.
	res := decode[map[string]any](t, wm(t, c.Addrs()[other], "", "cluster", "transfer-leader", nodeID(target), "--json"))
	if res["leader_id"] != nodeID(target) {
		t.Fatalf("transfer-leader %s --json = %v", nodeID(target), res)
	}
	// The target itself says it leads, once it has taken over, and marks
	// itself alone as the leader among the members.
	var last result
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last status of %s: %+v", nodeID(target), last)
		}
	})
	pollFor(t, nodeID(target)+" leading", func() bool {
		r := wm(t, c.Addrs()[target], "", "cluster", "status", "--json")
		last = r
		var st clusterStatusJSON
		if r.code != 0 || json.Unmarshal([]byte(r.out), &st) != nil || st.State != "leader" || st.LeaderID != nodeID(target) {
			return false
		}
		for i, m := range st.Members {
			if m.Leader != (i == target) {
				t.Fatalf("status of the new leader = %+v; want %s alone marked leader", st, nodeID(target))
			}
		}
		return true
	})

	// Without an id, raft picks a voter other than the leader; asked
	// through a follower again.
	out := ok(t, wm(t, c.Addrs()[other], "", "cluster", "transfer-leader"))
	if !strings.HasPrefix(out, "leader is now node") || strings.Contains(out, nodeID(target)) {
		t.Fatalf("transfer-leader without an id = %q; want another node named", out)
	}
	// The node it names takes over.
	named := strings.TrimSpace(strings.TrimPrefix(out, "leader is now "))
	pollFor(t, named+" leading", func() bool {
		r := wm(t, all, "", "cluster", "status", "--json")
		var st clusterStatusJSON
		return r.code == 0 && json.Unmarshal([]byte(r.out), &st) == nil && st.LeaderID == named
	})
}

func TestClusterRefusals(t *testing.T) {
	c := waymakertest.StartCluster(t, 3)
	all := strings.Join(c.Addrs(), ",")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := waymaker.ConnectMulti(ctx, c.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	// remove of an unknown id: not found, with the SDK's message as it is.
	sdkErr := cl.Cluster().RemoveServer(ctx, "nosuch")
	if sdkErr == nil {
		t.Fatal("SDK RemoveServer of an unknown id succeeded")
	}
	r := wm(t, all, "", "cluster", "remove", "nosuch")
	if r.code != exitNotFound || r.err != "wm: "+sdkErr.Error()+"\n" || !strings.Contains(r.err, "not_found") {
		t.Fatalf("remove nosuch: exit %d, stderr %q; want %d and %q", r.code, r.err, exitNotFound, "wm: "+sdkErr.Error())
	}
	if r := wm(t, all, "", "cluster", "transfer-leader", "nosuch"); r.code != exitNotFound {
		t.Fatalf("transfer-leader nosuch: exit %d, stderr %q; want %d", r.code, r.err, exitNotFound)
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"add-voter", "node4", "not-an-address"}, exitUsage, "raft_address"},
		{[]string{"add-voter", "node4", "127.0.0.1:70000"}, exitUsage, "raft_address"},
		{[]string{"add-voter", "node4", "127.0.0.1:7001", "nohost"}, exitUsage, "client_address"},
		{[]string{"add-nonvoter", "bad id!", "127.0.0.1:7001"}, exitUsage, "id"},
		{[]string{"add-voter", "node4"}, exitUsage, "accepts between 2 and 3 arg(s)"},
		{[]string{"remove"}, exitUsage, "accepts 1 arg(s)"},
		{[]string{"transfer-leader", "a", "b"}, exitUsage, "accepts at most 1 arg(s)"},
		{[]string{}, exitUsage, "needs a subcommand"},
	} {
		r := wm(t, all, "", append([]string{"cluster"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.err, tc.msg) || strings.Count(r.err, "\n") != 1 {
			t.Errorf("wm cluster %v: exit %d, stderr %q; want exit %d and one line containing %q", tc.args, r.code, r.err, tc.code, tc.msg)
		}
	}
	// Nothing refused changed the membership.
	if ms := decode[[]memberJSON](t, wm(t, all, "", "cluster", "members", "--json")); len(ms) != 3 {
		t.Fatalf("members after refused changes = %+v, want the 3 nodes", ms)
	}
}

func TestClusterAddAndRemove(t *testing.T) {
	c := waymakertest.StartCluster(t, 3)
	all := strings.Join(c.Addrs(), ",")
	// Nothing listens at these addresses: the configuration changes commit
	// on the three live voters all the same (3 of 4 is a quorum).
	res := decode[map[string]any](t, wm(t, all, "", "cluster", "add-nonvoter", "node5", "127.0.0.1:1", "--json"))
	if res["added"] != true || res["suffrage"] != "nonvoter" {
		t.Fatalf("add-nonvoter --json = %v", res)
	}
	// node4 can never catch up, so add-voter says it is staging, not a voter.
	if out := ok(t, wm(t, all, "", "cluster", "add-voter", "node4", "127.0.0.1:2", "127.0.0.1:3")); !strings.HasPrefix(out, "added node4 at 127.0.0.1:2, staging: ") {
		t.Fatalf("add-voter = %q, want it to say node4 is staging", out)
	}
	// Status is what the answering node knows, and a follower may not have
	// applied the last change yet: ask the leader, which applied it before
	// it answered.
	lead := c.Addrs()[c.Leader()]
	ms := decode[[]memberJSON](t, wm(t, lead, "", "cluster", "members", "--json"))
	got := map[string]memberJSON{}
	for _, m := range ms {
		got[m.ID] = m
	}
	// node4 is staged (a non-voter to promote once it is healthy), and
	// nothing serves its address, so it stays staging.
	if len(ms) != 5 || got["node5"].Suffrage != "nonvoter" || got["node4"].Suffrage != "staging" || got["node4"].ClientAddress != "127.0.0.1:3" {
		t.Fatalf("members after the adds = %+v", ms)
	}
	ok(t, wm(t, all, "", "cluster", "remove", "node4"))
	if out := ok(t, wm(t, all, "", "cluster", "remove", "node5")); out != "removed node5\n" {
		t.Fatalf("remove = %q", out)
	}
	if ms := decode[[]memberJSON](t, wm(t, c.Addrs()[c.Leader()], "", "cluster", "members", "--json")); len(ms) != 3 {
		t.Fatalf("members after the removes = %+v, want the 3 nodes", ms)
	}
}

// TestClusterKVAfterLeaderKill: `wm --server a,b,c` rides through the loss
// of the leader, as a script running against a cluster needs.
func TestClusterKVAfterLeaderKill(t *testing.T) {
	c := waymakertest.StartCluster(t, 3)
	all := strings.Join(c.Addrs(), ",")
	ok(t, wm(t, all, "", "kv", "add", "cfg"))
	ok(t, wm(t, all, "", "kv", "put", "cfg", "greeting", "hello"))

	c.Kill(c.Leader())
	put := decode[map[string]any](t, wm(t, all, "", "kv", "put", "cfg", "greeting", "again", "--json"))
	rev, _ := put["revision"].(float64)
	if rev < 2 {
		t.Fatalf("put after the leader was killed = %v, want a revision after 1", put)
	}
	got := decode[map[string]any](t, wm(t, all, "", "kv", "get", "cfg", "greeting", "--json"))
	if got["value"] != "again" || got["revision"] != rev {
		t.Fatalf("get after the leader was killed = %v, want again at revision %v", got, rev)
	}
	st := decode[clusterStatusJSON](t, wm(t, all, "", "cluster", "status", "--json"))
	if st.LeaderID == "" {
		t.Fatalf("status after failover = %+v, want a leader", st)
	}
}

// add-voter --wait returns once the leader has promoted the member, and
// says it is a voter.
func TestClusterAddVoterWaitsForThePromotion(t *testing.T) {
	c := waymakertest.StartCluster(t, 3)
	i := c.JoinStaged()
	lead := c.Addrs()[c.Leader()]
	var staged memberJSON
	for _, m := range decode[[]memberJSON](t, wm(t, lead, "", "cluster", "members", "--json")) {
		if m.ClientAddress == c.Addrs()[i] {
			staged = m
		}
	}
	if staged.ID == "" {
		t.Fatalf("the joined node %s is not a member", c.Addrs()[i])
	}
	// Re-adding a staging member as it is changes nothing but the wait.
	want := fmt.Sprintf("added voter %s at %s\n", staged.ID, staged.RaftAddress)
	if out := ok(t, wm(t, lead, "", "cluster", "add-voter", staged.ID, staged.RaftAddress, "--wait")); out != want {
		t.Fatalf("add-voter --wait = %q, want %q", out, want)
	}
	for _, m := range decode[[]memberJSON](t, wm(t, lead, "", "cluster", "members", "--json")) {
		if m.ID == staged.ID && m.Suffrage != "voter" {
			t.Fatalf("after add-voter --wait, %s is %s, want voter", m.ID, m.Suffrage)
		}
	}
}
