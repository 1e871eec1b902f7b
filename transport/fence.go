package transport

import "git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"

// Fence names a held lock grant that a write is conditional on: a lock key
// and the fence token the holder was granted for it. A write carrying a
// Fence is applied by the server only if, at that write's place in the
// log, Key is held exclusively by a live lease with exactly Token;
// otherwise nothing changes and the call fails with ErrFenced (result
// code "fenced"; the message gives the current token). The server decides
// it in the same replicated log as the write, so a holder paused past its
// lease cannot write through it, on any node, after any leader change.
//
// Get one from a held lock ((*lock.Lock).Fence); every subsystem takes it
// through its own WithFence option. A Fence refers to a quorum-scope lock
// (the default scope): a local-scope grant is not in the replicated log.
type Fence struct {
	Key   string
	Token uint64
}

// CheckFence validates f, naming field (e.g. "fence") in the error: a
// non-empty key and a positive token. A zero Fence is an error, not "no
// fence": a caller that passed one asked for a condition it did not name
// (a lock it does not hold, say).
func CheckFence(field string, f Fence) error {
	if f.Key == "" {
		return Invalid(field+".key", "must not be empty (pass the Fence of a held lock)")
	}
	if f.Token == 0 {
		return Invalid(field+".token", "must be positive (fence tokens start at 1)")
	}
	return nil
}

// FencePB is the wire form of f, for subsystem packages building requests.
func FencePB(f Fence) *commonpb.Fence {
	return &commonpb.Fence{Key: f.Key, Token: f.Token}
}
