package objstore

// ListOption selects what List and Objects answer.
type ListOption interface{ applyList(*listOptions) }

type listOptions struct {
	includeDeleted bool
	startAfter     string
}

type listFunc func(*listOptions)

func (f listFunc) applyList(o *listOptions) { f(o) }

// IncludeDeleted lists deleted markers too.
func IncludeDeleted() ListOption { return listFunc(func(o *listOptions) { o.includeDeleted = true }) }

// StartAfter lists only names that sort after name.
func StartAfter(name string) ListOption {
	return listFunc(func(o *listOptions) { o.startAfter = name })
}

// WatchOption selects what Watch delivers.
type WatchOption interface{ applyWatch(*watchOptions) }

type watchOptions struct {
	updatesOnly, ignoreDeletes bool
	resumeFrom                 uint64
}

type watchFunc func(*watchOptions)

func (f watchFunc) applyWatch(o *watchOptions) { f(o) }

// UpdatesOnly skips the current objects: only changes after the watch
// starts are delivered.
func UpdatesOnly() WatchOption { return watchFunc(func(o *watchOptions) { o.updatesOnly = true }) }

// IgnoreDeletes skips deleted markers.
func IgnoreDeletes() WatchOption { return watchFunc(func(o *watchOptions) { o.ignoreDeletes = true }) }

// ResumeFromRevision, with rev above 0, skips the current objects and
// delivers every change with a later revision, then live changes: pass a
// WatchEvent's Revision to continue where it stopped. When the server no
// longer keeps all of those changes, the watch ends with an error matching
// transport.ErrCompacted naming the revision it can resume from.
func ResumeFromRevision(rev uint64) WatchOption {
	return watchFunc(func(o *watchOptions) { o.resumeFrom = rev })
}
