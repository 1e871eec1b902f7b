package server

import (
	"os/exec"
	"strings"
	"testing"
)

// TestMachinesImportNoHandlers: a subsystem's state machine never depends
// on the gRPC handlers in front of it (docs/DESIGN.md, "One shape of a
// subsystem"): no internal/<subsystem> package has internal/api among its
// dependencies.
func TestMachinesImportNoHandlers(t *testing.T) {
	const mod = "git.awesomike.com/pub/waymaker-client/go/server/internal/"
	pkgs := []string{"lock", "kv", "stream", "collections", "sketch", "objstore", "cache", "auth", "result"}
	args := []string{"list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}"}
	for _, p := range pkgs {
		args = append(args, "./internal/"+p)
	}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		seen++
		for _, imp := range f[1:] {
			if imp == mod+"api" {
				t.Errorf("%s imports internal/api", f[0])
			}
		}
	}
	if seen < len(pkgs) {
		t.Fatalf("go list listed %d packages", seen)
	}
}
