package objstore

import (
	"encoding/hex"
	"sort"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
)

// ObjectMeta is what a user sets on an object: its name and description.
type ObjectMeta struct {
	// Name is the object's name: 1 to 1024 bytes of UTF-8 with no NUL.
	Name string
	// Description is free-form.
	Description string
	// Headers are named, multi-valued headers, as on stream messages.
	Headers map[string][]string
	// Metadata is free-form key/value data.
	Metadata map[string]string
}

// ObjectInfo describes one version of an object.
type ObjectInfo struct {
	ObjectMeta
	// Store is the store the object lives in.
	Store string
	// Size is the object's size in bytes.
	Size int64
	// Chunks is the number of chunks the data is stored in.
	Chunks int64
	// ChunkSize is the chunk size the data was stored with.
	ChunkSize int
	// SHA256 is the SHA-256 digest of the data (32 bytes).
	SHA256 []byte
	// ModTime is when this version was put, or its metadata last changed.
	ModTime time.Time
	// Deleted is true for a deleted marker (seen by Watch and by List with
	// IncludeDeleted).
	Deleted bool
	// Revision is the store revision of this change. It pins the version a
	// Get reads, and is the resume point of Watch.
	Revision uint64
}

// Digest returns the SHA-256 digest in hex.
func (i ObjectInfo) Digest() string { return hex.EncodeToString(i.SHA256) }

func (m ObjectMeta) validate(field string) error {
	return validObjectName(field+".Name", m.Name)
}

func (m ObjectMeta) toPB() *objstorepb.ObjectMeta {
	return &objstorepb.ObjectMeta{
		Name:        m.Name,
		Description: m.Description,
		Headers:     headersToPB(m.Headers),
		Metadata:    m.Metadata,
	}
}

// headersToPB sorts keys so that equal headers encode equally.
func headersToPB(h map[string][]string) []*commonpb.Header {
	if len(h) == 0 {
		return nil
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*commonpb.Header, 0, len(keys))
	for _, k := range keys {
		out = append(out, &commonpb.Header{Key: k, Values: h[k]})
	}
	return out
}

func headersFromPB(hs []*commonpb.Header) map[string][]string {
	if len(hs) == 0 {
		return nil
	}
	out := make(map[string][]string, len(hs))
	for _, h := range hs {
		out[h.GetKey()] = append(out[h.GetKey()], h.GetValues()...)
	}
	return out
}

func infoFromPB(p *objstorepb.ObjectInfo) ObjectInfo {
	return ObjectInfo{
		ObjectMeta: ObjectMeta{
			Name:        p.GetName(),
			Description: p.GetDescription(),
			Headers:     headersFromPB(p.GetHeaders()),
			Metadata:    p.GetMetadata(),
		},
		Store:     p.GetStore(),
		Size:      p.GetSize(),
		Chunks:    p.GetChunks(),
		ChunkSize: int(p.GetChunkSize()),
		SHA256:    p.GetSha256(),
		ModTime:   time.UnixMilli(p.GetModifiedAtMs()),
		Deleted:   p.GetDeleted(),
		Revision:  p.GetRevision(),
	}
}

// ProgressFunc is called as a Put or Get moves data: done bytes so far, and
// the total when known (-1 otherwise, e.g. for a Put from a stream of
// unknown length).
type ProgressFunc func(done, total int64)
