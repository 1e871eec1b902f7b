package main

import (
	"context"
	"sort"
)

// A Case is one operation measured on several systems side by side, at every
// point of its grid (concurrency × payload size). Adding a scenario is one
// small file whose init calls register.
type Case struct {
	Group string // report section: "floor", "kv", "locks", ...
	Name  string // e.g. "get"; unique within Group
	Note  string // one line for the report: what exactly is compared

	// Payloads lists the payload sizes in bytes (nil: the case has no
	// payload dimension). Conc lists the concurrency levels (nil: 1, 4, 16, 64).
	Payloads []int
	Conc     []int
	// QuickPayloads and QuickConc replace them in --quick mode (nil: the
	// first payload and concurrency 4 or the first level).
	QuickPayloads []int
	QuickConc     []int
	// Bytes reports throughput as MB/s of payload as well as ops/s.
	Bytes bool
	// FanOut, when set, names what the concurrency levels count instead of
	// workers (e.g. "watchers"): one worker runs, and Setup reads the level
	// from Point.Conc.
	FanOut string
	// MaxInFlight, when set, leaves out grid points whose concurrency ×
	// payload exceeds it (bytes), e.g. four 256 MiB objects at once.
	MaxInFlight int
	// PerOp is how many messages one operation carries (batches; default 1):
	// the report shows messages/s as well.
	PerOp int

	Sides []Side
}

// A Side is one system's implementation of a Case.
type Side struct {
	System string // a key of systems: "waymaker", "nats", ...
	Label  string // shown in tables, e.g. "NATS KV (memory)"
	// Peer names the Label of the side this one is compared with in the
	// ratio column (empty: this side is a baseline or shown for context).
	Peer string
	// Setup prepares one grid point and returns the operation that the
	// workers call in a loop. w is the worker index (0..conc-1) and i the
	// worker's own iteration counter. cleanup may be nil.
	Setup func(ctx context.Context, env *Env, p Point) (op Op, cleanup func(), err error)
}

// setupFunc is the type of Side.Setup.
type setupFunc = func(ctx context.Context, env *Env, p Point) (op Op, cleanup func(), err error)

// Op is one measured operation.
type Op func(ctx context.Context, w, i int) error

// Point is one grid point of a Case.
type Point struct {
	Conc    int
	Payload int // 0 when the case has no payload dimension
}

// A Probe is a one-shot measurement that is not a rate, such as the memory
// held per idle lock. It returns a value in Unit per item.
type Probe struct {
	Group, Name, Unit, Note string
	System                  string
	Run                     func(ctx context.Context, env *Env, n int) (float64, error)
}

var (
	cases  []*Case
	probes []*Probe
)

func register(c *Case) { cases = append(cases, c) }

var groupOrder = map[string]int{"floor": 0, "locks": 10, "kv": 20, "streams": 30, "collections": 40, "sketches": 50, "objects": 60, "cache": 70, "cluster": 80}

func sortedCases() []*Case {
	out := append([]*Case(nil), cases...)
	sort.SliceStable(out, func(i, j int) bool { return groupOrder[out[i].Group] < groupOrder[out[j].Group] })
	return out
}

func (c *Case) ID() string { return c.Group + "." + c.Name }

func (c *Case) grid(quick bool) []Point {
	conc := c.Conc
	if conc == nil {
		conc = []int{1, 4, 16, 64}
	}
	payloads := c.Payloads
	if quick {
		if c.QuickConc != nil {
			conc = c.QuickConc
		} else {
			conc = []int{pickQuickConc(conc)}
		}
		if c.QuickPayloads != nil {
			payloads = c.QuickPayloads
		} else if len(payloads) > 0 {
			payloads = payloads[:1]
		}
	}
	if len(payloads) == 0 {
		payloads = []int{0}
	}
	var pts []Point
	for _, p := range payloads {
		for _, n := range conc {
			if c.MaxInFlight > 0 && n*p > c.MaxInFlight {
				continue
			}
			pts = append(pts, Point{Conc: n, Payload: p})
		}
	}
	return pts
}

func pickQuickConc(conc []int) int {
	for _, n := range conc {
		if n == 4 {
			return 4
		}
	}
	return conc[0]
}

// payload returns n bytes of a repeating, compressible-but-not-trivial pattern.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%23)
	}
	return b
}
