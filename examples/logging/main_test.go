package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The SDK logs its retries and rebinds at Debug, nothing above, and the
// watch and the write carry on across the restart.
func TestDebugLinesAcrossARestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, t.TempDir()); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"DEBUG\twaymaker: stream dropped, rebinding",
		"DEBUG\twaymaker: retrying call",
		"saw mode=safe",
		"warn 0, error 0",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "waymaker:") && !strings.Contains(line, "\tDEBUG\t") {
			t.Errorf("an SDK line above Debug: %q", line)
		}
	}
}
