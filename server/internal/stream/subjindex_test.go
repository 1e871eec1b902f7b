package stream

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// bruteFirst is what the index must answer: the least (name, index) whose
// subject overlaps q by Overlap, over every list.
func bruteFirst(lists map[string][]string, q string) (sxOwner, bool) {
	var best sxOwner
	found := false
	for name, subs := range lists {
		for i, s := range subs {
			if Overlap(s, q) && (!found || name < best.name || name == best.name && i < best.idx) {
				best, found = sxOwner{name, i}, true
			}
		}
	}
	return best, found
}

func bruteNames(lists map[string][]string, q string) []string {
	var out []string
	for name, subs := range lists {
		for _, s := range subs {
			if Overlap(s, q) {
				out = append(out, name)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

func indexNames(x *subjectIndex, q string) []string {
	seen := map[string]bool{}
	x.overlaps(q, func(o sxOwner) bool { seen[o.name] = true; return true })
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// checkIndex compares every answer of x (holding lists) with Overlap.
func checkIndex(t *testing.T, x *subjectIndex, lists map[string][]string, queries []string) {
	t.Helper()
	for _, q := range queries {
		want, wok := bruteFirst(lists, q)
		if got := x.any(q); got != wok {
			t.Fatalf("any(%q) = %v, Overlap says %v; lists %q", q, got, wok, lists)
		}
		if got, ok := x.first(q); ok != wok || got != want {
			t.Fatalf("first(%q) = %v %v, Overlap says %v %v; lists %q", q, got, ok, want, wok, lists)
		}
		if got, want := indexNames(x, q), bruteNames(lists, q); !slices.Equal(got, want) {
			t.Fatalf("overlaps(%q) names = %q, Overlap says %q; lists %q", q, got, want, lists)
		}
	}
}

// checkLists builds an index of lists, checks it, then removes each list
// in turn (pruning must keep every other answer) and checks the remainder.
func checkLists(t *testing.T, lists map[string][]string, queries []string) {
	t.Helper()
	var x subjectIndex
	names := make([]string, 0, len(lists))
	for n := range lists {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		x.insert(n, lists[n])
	}
	checkIndex(t, &x, lists, queries)
	left := map[string][]string{}
	for n, l := range lists {
		left[n] = l
	}
	for _, n := range names {
		x.remove(n, lists[n])
		delete(left, n)
		checkIndex(t, &x, left, queries)
	}
	if !x.root.empty() {
		t.Fatalf("index not empty after removing every list: %+v", x.root)
	}
}

var propTokens = []string{"a", "b", "c", "*", ">"}

func randSubject(r *rand.Rand) string {
	n := 1 + r.IntN(4)
	toks := make([]string, n)
	for i := range toks {
		toks[i] = propTokens[r.IntN(len(propTokens))]
	}
	return strings.Join(toks, ".")
}

// TestSubjectIndexMatchesOverlap: over random sets of subjects with both
// wildcards (valid or not: `>` mid-subject too), every index answer is
// exactly the brute-force Overlap answer, before and after removals.
func TestSubjectIndexMatchesOverlap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		lists := map[string][]string{}
		for n := range 1 + r.IntN(4) {
			subs := make([]string, 1+r.IntN(5))
			for i := range subs {
				subs[i] = randSubject(r)
			}
			lists[fmt.Sprintf("s%d", n)] = subs
		}
		queries := make([]string, 8)
		for i := range queries {
			queries[i] = randSubject(r)
		}
		checkLists(t, lists, queries)
	}
}

// FuzzSubjectIndex: stored is a space-separated list of subjects spread
// over three owners, queries a space-separated list; any text at all.
func FuzzSubjectIndex(f *testing.F) {
	f.Add("a.b a.* >", "a.b *.b a.> >")
	f.Add("a.>.b x.*.z *", "a.c x.y.z x.y")
	f.Add("", "a")
	f.Add("a..b . *.*", "a.x.b ..")
	f.Fuzz(func(t *testing.T, stored, queries string) {
		lists := map[string][]string{}
		if stored != "" {
			for i, s := range strings.Split(stored, " ") {
				n := fmt.Sprintf("s%d", i%3)
				lists[n] = append(lists[n], s)
			}
		}
		checkLists(t, lists, strings.Split(queries, " "))
	})
}

func TestFilterSetMatchesMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	lit := []string{"a", "b", "c"}
	for range 500 {
		fs := make([]string, r.IntN(12))
		for i := range fs {
			fs[i] = randSubject(r)
		}
		c := &consumer{}
		c.setConfig(&sp.ConsumerConfig{FilterSubjects: fs})
		for range 10 {
			toks := make([]string, 1+r.IntN(4))
			for i := range toks {
				toks[i] = lit[r.IntN(len(lit))]
			}
			subj := strings.Join(toks, ".")
			want := len(fs) == 0
			for _, f := range fs {
				want = want || Match(f, subj)
			}
			if got := c.matches(subj); got != want {
				t.Fatalf("matches(%q) with filters %q = %v, Match says %v", subj, fs, got, want)
			}
		}
	}
}

// TestMachineSubjectsAgainstBruteForce drives creates, updates and deletes
// with random subjects and checks each outcome, and which stream a publish
// binds, against Overlap over the streams' bindings; a restored snapshot
// answers the same.
func TestMachineSubjectsAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	lit := []string{"a", "b", "c"}
	m := New()
	model := map[string][]string{} // stream -> bindings
	for step := range 600 {
		name := fmt.Sprintf("S%d", r.IntN(6))
		var subs []string
		for range r.IntN(4) {
			s := randSubject(r)
			if CheckSubject("subject", s, true) == nil {
				subs = append(subs, s)
			}
		}
		cfg := &sp.StreamConfig{Name: name, Subjects: subs}
		others := map[string][]string{}
		for n, b := range model {
			if n != name {
				others[n] = b
			}
		}
		conflict := false
		for _, g := range bindings(cfg) {
			if _, ok := bruteFirst(others, g); ok {
				conflict = true
			}
		}
		_, exists := model[name]
		var res interface{ GetSuccess() bool }
		switch k := r.IntN(5); {
		case k == 0 && exists:
			res = apply(t, m, OpDeleteStream, 0, &sp.StreamServiceDeleteStreamRequest{Stream: name}).(*sp.StreamServiceDeleteStreamResponse).GetResult()
			delete(model, name)
			conflict = false
		case exists:
			res = apply(t, m, OpUpdateStream, 0, &sp.StreamServiceUpdateStreamRequest{Config: cfg}).(*sp.StreamServiceUpdateStreamResponse).GetResult()
		default:
			res = apply(t, m, OpCreateStream, 0, &sp.StreamServiceCreateStreamRequest{Config: cfg}).(*sp.StreamServiceCreateStreamResponse).GetResult()
		}
		if res.GetSuccess() == conflict {
			t.Fatalf("step %d: %s %q: success %v, brute force conflict %v; streams %q", step, name, subs, res.GetSuccess(), conflict, model)
		}
		if _, present := model[name]; res.GetSuccess() && (present || !exists) {
			model[name] = bindings(cfg)
		}
		if step%50 == 49 {
			write, err := m.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := write(&buf); err != nil {
				t.Fatal(err)
			}
			m = New()
			if err := m.Restore(&buf); err != nil {
				t.Fatal(err)
			}
		}
		for range 5 {
			toks := make([]string, 1+r.IntN(4))
			for i := range toks {
				toks[i] = lit[r.IntN(len(lit))]
			}
			subj := strings.Join(toks, ".")
			want := bruteNames(model, subj)
			var got []string
			m.mu.Lock()
			if s := m.streamFor([]byte(subj)); s != nil {
				got = []string{s.name}
			}
			m.mu.Unlock()
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: %q binds %q, brute force %q; streams %q", step, subj, got, want, model)
			}
		}
	}
}

// TestSubjectIndexCostIsPerNewSubject: creating a stream of many literal
// subjects beside streams holding many costs about the same whether few
// or many subjects are stored (the old check compared every pair).
func TestSubjectIndexCostIsPerNewSubject(t *testing.T) {
	const n = 20_000
	create := func(m *Machine, k int) time.Duration {
		subs := make([]string, n)
		for i := range subs {
			subs[i] = fmt.Sprintf("s%d.sub.%d", k, i)
		}
		t0 := time.Now()
		r := apply(t, m, OpCreateStream, 0, &sp.StreamServiceCreateStreamRequest{Config: &sp.StreamConfig{Name: fmt.Sprintf("S%d", k), Subjects: subs}})
		d := time.Since(t0)
		if !r.(*sp.StreamServiceCreateStreamResponse).GetResult().GetSuccess() {
			t.Fatal(r)
		}
		return d
	}
	m := New()
	first := create(m, 0)
	for k := 1; k < 5; k++ {
		// Generous: the pairwise check took ~k*4e8 Overlap calls here.
		if d := create(m, k); d > 20*first+time.Second {
			t.Fatalf("create %d of %d subjects took %v beside %d such streams; the first took %v", k+1, n, d, k, first)
		}
	}
	// A conflicting create is found and named without a pairwise scan.
	r := apply(t, m, OpCreateStream, 0, &sp.StreamServiceCreateStreamRequest{Config: &sp.StreamConfig{Name: "X", Subjects: []string{"q", "s3.*.77"}}}).(*sp.StreamServiceCreateStreamResponse)
	if r.GetResult().GetResultCode() != result.CodeConflict || !strings.Contains(r.GetResult().GetMessage(), `"s3.*.77" overlaps stream "S3"'s subject "s3.sub.77"`) {
		t.Fatalf("conflict = %v", r.GetResult())
	}
}
