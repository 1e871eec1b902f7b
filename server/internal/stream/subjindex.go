package stream

import "strings"

// subjectIndex is a token trie over subjects and filters (as NATS's
// sublist), so "which stored subject overlaps this one" costs the query's
// tokens times the wildcard fan-out it meets, not the number of stored
// subjects. Its answers are exactly Overlap's (and so Match's for a
// literal query): a token is the text between dots, `*` stands for one
// token, and a `>` token stands for one or more tokens and ends the
// subject (Overlap ignores what follows it).
//
// Each stored subject has an owner: a name (a stream, or "" for a
// consumer's filters) and the subject's index in that owner's list. A node
// keeps one entry per name, the first index inserted, so duplicates within
// one list cost nothing. Nodes left empty by remove are pruned, which
// keeps a `>` query's "is anything below" a walk of the depth.
type subjectIndex struct {
	root sxNode
}

type sxOwner struct {
	name string
	idx  int
}

type sxNode struct {
	lit  map[string]*sxNode
	star *sxNode
	end  []sxOwner // subjects that end at this node
	full []sxOwner // subjects whose next token is `>`
}

func (n *sxNode) empty() bool {
	return len(n.lit) == 0 && n.star == nil && len(n.end) == 0 && len(n.full) == 0
}

// tokens splits s as cut does, stopping after the first `>` token.
func sxTokens(s string) []string {
	toks := make([]string, 0, strings.Count(s, ".")+1)
	for {
		t, rest, more := cut(s)
		toks = append(toks, t)
		if t == ">" || !more {
			return toks
		}
		s = rest
	}
}

func addOwner(list []sxOwner, o sxOwner) []sxOwner {
	for _, e := range list {
		if e.name == o.name {
			return list
		}
	}
	return append(list, o)
}

func dropOwner(list []sxOwner, name string) []sxOwner {
	for i, e := range list {
		if e.name == name {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

// insert stores subjects for name, subjects[i] with index i.
func (x *subjectIndex) insert(name string, subjects []string) {
	for i, s := range subjects {
		n := &x.root
		toks := sxTokens(s)
		for _, t := range toks[:len(toks)-1] {
			n = n.child(t)
		}
		o := sxOwner{name, i}
		if last := toks[len(toks)-1]; last == ">" {
			n.full = addOwner(n.full, o)
		} else {
			n = n.child(last)
			n.end = addOwner(n.end, o)
		}
	}
}

func (n *sxNode) child(t string) *sxNode {
	if t == "*" {
		if n.star == nil {
			n.star = &sxNode{}
		}
		return n.star
	}
	c := n.lit[t]
	if c == nil {
		if n.lit == nil {
			n.lit = map[string]*sxNode{}
		}
		c = &sxNode{}
		n.lit[t] = c
	}
	return c
}

// remove drops every entry of name stored under subjects (the list it was
// inserted with).
func (x *subjectIndex) remove(name string, subjects []string) {
	for _, s := range subjects {
		x.root.remove(name, sxTokens(s))
	}
}

func (n *sxNode) remove(name string, toks []string) {
	t := toks[0]
	if t == ">" {
		n.full = dropOwner(n.full, name)
		return
	}
	var c *sxNode
	if t == "*" {
		c = n.star
	} else {
		c = n.lit[t]
	}
	if c == nil {
		return
	}
	if len(toks) == 1 {
		c.end = dropOwner(c.end, name)
	} else {
		c.remove(name, toks[1:])
	}
	if c.empty() {
		if t == "*" {
			n.star = nil
		} else {
			delete(n.lit, t)
		}
	}
}

// overlaps calls visit with the owner of each stored subject that
// overlaps q until visit returns false; it reports whether visit stopped
// it. The visiting order is not specified (map order): a caller that
// reports one answer picks it by a rule of its own.
func (x *subjectIndex) overlaps(q string, visit func(sxOwner) bool) bool {
	return !x.root.walk(sxTokens(q), visit)
}

// walk visits the owners under n overlapping toks (aligned at n) and
// returns false once visit did.
func (n *sxNode) walk(toks []string, visit func(sxOwner) bool) bool {
	// A stored `>` here covers the query's token here and anything after.
	if !visitAll(n.full, visit) {
		return false
	}
	t := toks[0]
	if t == ">" {
		// The query covers every stored subject with a token here.
		if n.star != nil && !n.star.all(visit) {
			return false
		}
		for _, c := range n.lit {
			if !c.all(visit) {
				return false
			}
		}
		return true
	}
	step := func(c *sxNode) bool {
		if len(toks) == 1 {
			return visitAll(c.end, visit)
		}
		return c.walk(toks[1:], visit)
	}
	if n.star != nil && !step(n.star) {
		return false
	}
	if t == "*" {
		for _, c := range n.lit {
			if !step(c) {
				return false
			}
		}
		return true
	}
	if c := n.lit[t]; c != nil && !step(c) {
		return false
	}
	return true
}

// all visits every owner at or below n.
func (n *sxNode) all(visit func(sxOwner) bool) bool {
	if !visitAll(n.end, visit) || !visitAll(n.full, visit) {
		return false
	}
	if n.star != nil && !n.star.all(visit) {
		return false
	}
	for _, c := range n.lit {
		if !c.all(visit) {
			return false
		}
	}
	return true
}

func visitAll(list []sxOwner, visit func(sxOwner) bool) bool {
	for _, o := range list {
		if !visit(o) {
			return false
		}
	}
	return true
}

// any reports whether some stored subject overlaps q.
func (x *subjectIndex) any(q string) bool {
	return x.overlaps(q, func(sxOwner) bool { return false })
}

// first answers the least owner (by name, then index) of a stored subject
// overlapping q, and whether there is one; it visits every match, so
// callers ask it once they know (any) that there is one.
func (x *subjectIndex) first(q string) (sxOwner, bool) {
	var best sxOwner
	found := false
	x.overlaps(q, func(o sxOwner) bool {
		if !found || o.name < best.name || o.name == best.name && o.idx < best.idx {
			best, found = o, true
		}
		return true
	})
	return best, found
}

// filterSet indexes one list of filters (a consumer's), for the work-queue
// overlap check and for matching a stored subject against many filters.
type filterSet struct {
	fs []string
	ix subjectIndex
}

// newFilterSet indexes fs; an empty list is the filter `>`, as a consumer
// without filters takes every subject.
func newFilterSet(fs []string) *filterSet {
	if len(fs) == 0 {
		fs = []string{">"}
	}
	f := &filterSet{fs: fs}
	f.ix.insert("", fs)
	return f
}

// overlap answers the first filter of b (in order; none means `>`) that
// overlaps one of the set's, with the set's first such filter. Its cost is
// b's filters times the fan-out, not len(b) times the set's size.
func (f *filterSet) overlap(b []string) (ours, theirs string, ok bool) {
	if len(b) == 0 {
		b = []string{">"}
	}
	for _, y := range b {
		if f.ix.any(y) {
			o, _ := f.ix.first(y)
			return f.fs[o.idx], y, true
		}
	}
	return "", "", false
}
