package objstore

import (
	"cmp"
	"slices"
	"sort"
	"strings"

	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/notify"
)

// Reads for the API layer. They copy out what they return under the read
// lock; infos and configs are never modified once published, so sharing
// them is safe.

// StoreInfo returns a store's info, or false.
func (m *Machine) StoreInfo(name string) (*objstorepb.ObjectStoreInfo, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.stores[name]
	if !ok {
		return nil, false
	}
	return s.infoPB(), true
}

// Stores returns up to limit stores whose names sort after `after`.
func (m *Machine) Stores(after string, limit int) (page []*objstorepb.ObjectStoreInfo, more bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	names := make([]string, 0, len(m.stores))
	for n := range m.stores {
		if n > after {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) > limit {
		names, more = names[:limit], true
	}
	for _, n := range names {
		page = append(page, m.stores[n].infoPB())
	}
	return page, more
}

// Version is what a Get needs of an object version.
type Version struct {
	Info   *objstorepb.ObjectInfo
	Blob   string // "" for an empty object
	PutRev uint64 // the revision of the Put that wrote the data
	// CRCs holds each chunk's checksum (nil: stored unchecked by an older
	// server). Shared: never modified.
	CRCs []uint32
}

// Lookup returns a store's available room for a new version of name (its
// max_bytes less the bytes other objects hold; -1 when unbounded) and the
// name's current entry (nil when absent).
func (m *Machine) Lookup(storeName, name string) (v *Version, room int64, found bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.stores[storeName]
	if !ok {
		return nil, 0, false
	}
	room = -1
	if max := s.cfg.GetMaxBytes(); max > 0 {
		room = max - s.bytes
	}
	if o := s.objects[name]; o != nil {
		v = &Version{Info: o.info, Blob: o.blob, PutRev: o.putRev, CRCs: o.crcs}
		if room >= 0 && !o.info.GetDeleted() {
			room += o.info.GetSize()
		}
	}
	return v, room, true
}

// Objects returns a store's entries sorted by name after `after`, or false
// when the store does not exist.
func (m *Machine) Objects(storeName, after string, deleted bool) ([]*objstorepb.ObjectInfo, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.stores[storeName]
	if !ok {
		return nil, false
	}
	out := make([]*objstorepb.ObjectInfo, 0, len(s.objects))
	for n, o := range s.objects {
		if n > after && (deleted || !o.info.GetDeleted()) {
			out = append(out, o.info)
		}
	}
	slices.SortFunc(out, func(a, b *objstorepb.ObjectInfo) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out, true
}

// Changes returns the entries of a store with a revision above after, in
// revision order, with the store's revision; live only when !deleted.
func (m *Machine) Changes(storeName string, after uint64, live, deleted bool) ([]*objstorepb.ObjectInfo, uint64, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.stores[storeName]
	if !ok {
		return nil, 0, false
	}
	var out []*objstorepb.ObjectInfo
	for _, o := range s.objects {
		if o.info.GetRevision() > after && (o.info.GetDeleted() && deleted || !o.info.GetDeleted() && live) {
			out = append(out, o.info)
		}
	}
	slices.SortFunc(out, func(a, b *objstorepb.ObjectInfo) int {
		return cmp.Compare(a.GetRevision(), b.GetRevision())
	})
	return out, s.rev, true
}

// Watch subscribes to changes in a store (see notify).
func (m *Machine) Watch(storeName string) *notify.Waiter[string] {
	return m.notify.Watch(storeName)
}
