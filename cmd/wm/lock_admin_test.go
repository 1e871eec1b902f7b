package main

import (
	"strings"
	"testing"

	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// lock ls lists held keys (table and --json); lock release ends a holder
// that is not this wm, which then sees its lock lost.
func TestLockLsAndRelease(t *testing.T) {
	addr := waymakertest.Start(t).Addr()
	out, stop := background(t, addr, "lock", "acquire", "jobs/a", "--ttl", "30s", "--json")
	out.waitFor(t, "the grant", `"event":"acquired"`)

	ls := decode[[]map[string]any](t, wm(t, addr, "", "lock", "ls", "--prefix", "jobs/", "--json"))
	if len(ls) != 1 || ls[0]["key"] != "jobs/a" {
		t.Fatalf("lock ls --json = %v", ls)
	}
	if hs, _ := ls[0]["holders"].([]any); len(hs) != 1 {
		t.Fatalf("lock ls holders = %v", ls[0])
	}
	if table := ok(t, wm(t, addr, "", "lock", "ls")); !strings.Contains(table, "KEY") || !strings.Contains(table, "jobs/a") {
		t.Fatalf("lock ls table = %q", table)
	}
	rel := decode[map[string]any](t, wm(t, addr, "", "lock", "release", "jobs/a", "--json"))
	if rel["revoked"] != 1.0 {
		t.Fatalf("lock release = %v", rel)
	}
	// The holder learns it lost the lock and exits 1.
	if code := stop(); code != exitError {
		t.Fatalf("the revoked holder exited %d, want %d", code, exitError)
	}
	if ls := decode[[]map[string]any](t, wm(t, addr, "", "lock", "ls", "--json")); len(ls) != 0 {
		t.Fatalf("lock ls after release = %v", ls)
	}
	if r := wm(t, addr, "", "lock", "release"); r.code != exitUsage {
		t.Fatalf("lock release without a key: exit %d", r.code)
	}
}
