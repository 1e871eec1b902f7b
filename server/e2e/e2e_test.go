// Package e2e runs the SDK against the reference server: an embedded
// waymakertest server by default, or the server at WAYMAKER_ADDR when that
// is set (tests that must restart the server always embed their own).
package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// A raft node killed while a proposal's entry is between commit and apply
// never resolves that proposal's future (hashicorp/raft drops the FSM's
// queue at shutdown, and an apply future has no shutdown channel), so the
// goroutine waiting on it stays. It only happens to killed nodes.
func TestMain(m *testing.M) {
	if err := checkSessionsEnv(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := setUpSuite(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if os.Getenv(fenceChildEnv) != "" {
		os.Exit(fenceChild()) // this process is a test's child, not a test run
	}
	code := m.Run()
	tearDownSuite()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// start returns a client for a fresh embedded server, or for the server at
// WAYMAKER_ADDR when it is set. Both are closed when the test ends.
func start(t testing.TB, opts ...waymakertest.Option) *waymaker.Client {
	t.Helper()
	addr := os.Getenv("WAYMAKER_ADDR")
	if addr == "" {
		addr = waymakertest.Start(t, withSuite(t, opts...)...).Addr()
	}
	return connect(t, addr)
}

// startEmbedded always embeds a server, for tests that restart or stop it.
func startEmbedded(t testing.TB, opts ...waymakertest.Option) (*waymakertest.Server, *waymaker.Client) {
	t.Helper()
	srv := waymakertest.Start(t, withSuite(t, opts...)...)
	return srv, connect(t, srv.Addr())
}

// connect dials addr with short retry waits, so that rebinding after a
// restart is quick, and closes the client when the test ends.
func connect(t testing.TB, addr string) *waymaker.Client {
	t.Helper()
	opts := append(suiteClientOptions(), waymaker.WithSessions(sessionsOn()), waymaker.WithBackoff(waymaker.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond}))
	c, err := waymaker.Connect(context.Background(), addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// name returns a resource name unique to the test and valid in every
// subsystem ([A-Za-z0-9_-]), so suites can share one external server.
func name(t testing.TB) string {
	n := unsafeName.ReplaceAllString(t.Name(), "_")
	if len(n) > 64 {
		n = n[len(n)-64:]
	}
	return strings.Trim(n, "_") + "_" + time.Now().Format("150405.000000")[7:]
}

// testCtx returns a context that ends with the test or after d.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
