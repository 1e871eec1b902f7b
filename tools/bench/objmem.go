package main

import (
	"context"
	"os/exec"
	"strings"
)

// The object store's memory bound (issue: a 1 GiB Put and Get with a data
// dir raise the server's peak RSS by under 64 MiB and the client's by under
// 16 MiB) needs two processes, so it is measured by tools/cmd/objmem, run
// here as a child and reported as it prints; no figure is asserted.

const toolsModule = "git.awesomike.com/pub/waymaker-client/go/tools"

// runObjMem returns the command line and objmem's table, or an error text.
func runObjMem(ctx context.Context, quick bool, logf func(string, ...any)) (cmdline, table, errText string) {
	size := "1GiB"
	if quick {
		size = "16MiB"
	}
	dirOut, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", toolsModule).Output()
	if err != nil {
		return "", "", "cannot locate the tools module: " + err.Error()
	}
	cmdline = "cd tools && go run ./cmd/objmem -size " + size
	logf("object store memory: %s", cmdline)
	cmd := exec.CommandContext(ctx, "go", "run", "./cmd/objmem", "-size", size)
	cmd.Dir = strings.TrimSpace(string(dirOut))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return cmdline, "", err.Error() + ": " + strings.TrimSpace(string(out))
	}
	return cmdline, strings.TrimSpace(string(out)), ""
}
