package stream

// PurgeOption narrows a Purge.
type PurgeOption interface{ applyPurge(*purgeOptions) }

type purgeOptions struct {
	subject   string
	keep, seq uint64
}

type purgeFunc func(*purgeOptions)

func (f purgeFunc) applyPurge(o *purgeOptions) { f(o) }

// PurgeSubject purges only messages whose subject matches filter
// (wildcards allowed).
func PurgeSubject(filter string) PurgeOption {
	return purgeFunc(func(o *purgeOptions) { o.subject = filter })
}

// PurgeKeep keeps the newest n messages (of the subject filter, if any).
func PurgeKeep(n uint64) PurgeOption {
	return purgeFunc(func(o *purgeOptions) { o.keep = n })
}

// PurgeBelow purges only messages with a sequence below seq.
func PurgeBelow(seq uint64) PurgeOption {
	return purgeFunc(func(o *purgeOptions) { o.seq = seq })
}
