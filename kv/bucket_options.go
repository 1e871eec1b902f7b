package kv

// Per-call options follow one idiom across the SDK: a call's options are an
// interface with one unexported method (DeleteOption: applyDelete), so an
// option valid on several calls is one value whose type has each call's
// method.

// DeleteOption qualifies Delete and Purge.
type DeleteOption interface{ applyDelete(*deleteOptions) }

type deleteOptions struct{ lastRev uint64 }

type deleteFunc func(*deleteOptions)

func (f deleteFunc) applyDelete(o *deleteOptions) { f(o) }

// LastRevision makes Delete or Purge happen only if the key's latest
// revision is rev (ErrWrongRevision otherwise).
func LastRevision(rev uint64) DeleteOption {
	return deleteFunc(func(o *deleteOptions) { o.lastRev = rev })
}

func deleteOptionsOf(opts []DeleteOption) deleteOptions {
	if len(opts) == 0 {
		return deleteOptions{} // no allocation on the common path
	}
	o := new(deleteOptions)
	for _, opt := range opts {
		if opt != nil {
			opt.applyDelete(o)
		}
	}
	return *o
}
