package kv

// WatchOption qualifies Watch and WatchAll.
type WatchOption interface{ applyWatch(*watchOptions) }

type watchOptions struct {
	history, updatesOnly, ignoreDeletes bool
	resumeFrom                          uint64
}

type watchFunc func(*watchOptions)

func (f watchFunc) applyWatch(o *watchOptions) { f(o) }

// IncludeHistory delivers every retained entry of the matching keys first,
// instead of only their latest ones.
func IncludeHistory() WatchOption { return watchFunc(func(o *watchOptions) { o.history = true }) }

// UpdatesOnly delivers no initial values: InitialDone comes first, then
// changes made after the watch started.
func UpdatesOnly() WatchOption { return watchFunc(func(o *watchOptions) { o.updatesOnly = true }) }

// IgnoreDeletes leaves delete, purge and expiry markers out.
func IgnoreDeletes() WatchOption { return watchFunc(func(o *watchOptions) { o.ignoreDeletes = true }) }

// ResumeFromRevision delivers, instead of initial values, every change with
// a revision above rev, then live changes: pass a Watcher's Revision to pick
// up where it stopped. When the server no longer keeps all of those changes
// (see the package doc), Watch fails with an error matching
// transport.ErrCompacted, whose message names the revision it can resume
// from; a Watch without this option starts over from the current values.
func ResumeFromRevision(rev uint64) WatchOption {
	return watchFunc(func(o *watchOptions) { o.resumeFrom = rev })
}
