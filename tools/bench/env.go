package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"sort"
	"sync"
	"time"
)

// Env owns every system of a run: the floor echo server, the waymaker server
// (embedded, or the one at --addr), and the peers. Each system starts the
// first time a scenario needs it and stops when the run ends.
type Env struct {
	ctx    context.Context
	addr   string // --addr; empty: embedded servers
	tmp    string // scratch directory for data dirs, removed at the end
	logf   func(format string, args ...any)
	quick  bool
	nextID int

	mu      sync.Mutex
	started map[string]*sysState
	order   []string // start order, stopped in reverse

	// Filled in by the starters (see sys_*.go).
	Floor *floorSys
	WM    *wmSys // waymaker, in memory (or --addr)
	WMD   *wmSys // waymaker with a data dir (durable)
	NATS  *natsSys
	Etcd  *etcdSys
	Redis *redisSys
	WMC   *wmCluster   // three waymaker nodes (sys_cluster.go)
	EtcdC *etcdCluster // three etcd members
	NATSC *natsCluster // three NATS servers
}

type sysState struct {
	err     error
	skipped string
	took    time.Duration
	stop    func()
	desc    string
}

// systems lists every system a Side may name, with its starter. A starter
// returns a stop function, a one-line description for the report, and
// either an error or a reason to skip (err == errSkip with env.skipReason).
var systems = map[string]func(e *Env) (stop func(), desc string, err error){}

type skipError struct{ reason string }

func (s skipError) Error() string { return s.reason }

func newEnv(ctx context.Context, addr string, quick bool, logf func(string, ...any)) (*Env, error) {
	tmp, err := os.MkdirTemp("", "wmbench-")
	if err != nil {
		return nil, err
	}
	return &Env{ctx: ctx, addr: addr, tmp: tmp, quick: quick, logf: logf, started: map[string]*sysState{}}, nil
}

// unavailable starts system if needed and returns why it cannot be used
// ("" when it can).
func (e *Env) unavailable(system string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.started[system]
	if !ok {
		start, known := systems[system]
		if !known {
			panic("bench: unknown system " + system)
		}
		st = &sysState{}
		t0 := time.Now()
		stop, desc, err := start(e)
		st.took = time.Since(t0)
		st.stop, st.desc = stop, desc
		if se, ok := err.(skipError); ok {
			st.skipped = se.reason
			e.logf("skipping %s: %s", system, se.reason)
		} else if err != nil {
			st.err = err
			e.logf("%s failed to start: %v", system, err)
		} else {
			e.logf("started %s in %s: %s", system, st.took.Round(time.Millisecond), desc)
		}
		e.started[system] = st
		e.order = append(e.order, system)
	}
	switch {
	case st.skipped != "":
		return "skipped: " + st.skipped
	case st.err != nil:
		return "failed to start: " + st.err.Error()
	}
	return ""
}

// Systems describes every system the run used, for the report.
func (e *Env) Systems() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, name := range e.order {
		st := e.started[name]
		switch {
		case st.skipped != "":
			out = append(out, fmt.Sprintf("**%s**: skipped — %s", name, st.skipped))
		case st.err != nil:
			out = append(out, fmt.Sprintf("**%s**: failed to start — %v", name, st.err))
		default:
			out = append(out, fmt.Sprintf("**%s**: %s", name, st.desc))
		}
	}
	sort.Strings(out)
	return out
}

// Close stops every system in reverse start order and removes scratch data.
func (e *Env) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.order) - 1; i >= 0; i-- {
		if st := e.started[e.order[i]]; st.stop != nil {
			st.stop()
		}
	}
	os.RemoveAll(e.tmp)
}

// uniq returns a name no other scenario of this run uses, so that grid
// points never see each other's data.
func (e *Env) uniq(prefix string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextID++
	return fmt.Sprintf("%s%d", prefix, e.nextID)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
