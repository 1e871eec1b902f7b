package objstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"os"
	"path/filepath"

	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Reader reads one version of an object. It is an io.ReadCloser: read it to
// io.EOF, which comes only after the data's SHA-256 matched the object's
// digest (ErrDigestMismatch otherwise), and Close it.
//
// A Reader holds at most a few chunks in memory (WithReadAhead). When its stream drops (a
// server restart, a network failure) it reopens the download at the next
// byte it needs, pinned to the same version, so the bytes read are each
// delivered exactly once; if that version is gone meanwhile, Read fails
// with ErrWrongRevision.
type Reader struct {
	info     ObjectInfo
	p        *transport.Pump[[]byte]
	cur      []byte
	err      error
	done     int64
	progress ProgressFunc
}

// Get opens the latest version of the object name for reading. It waits for
// the object's info, so a missing object fails here with ErrNotFound. The
// download ends when the Reader is read to the end or closed, or when ctx
// ends.
func (s *Store) Get(ctx context.Context, name string, opts ...GetOption) (*Reader, error) {
	if err := validObjectName("name", name); err != nil {
		return nil, err
	}
	o, err := getOptionsOf(opts)
	if err != nil {
		return nil, err
	}
	// The download's resume point is the next offset and the pinned
	// revision; the first message carries the info (read by Get once the
	// pump has started: StartPump returns after that message was handled).
	var (
		off  int64
		rev  uint64
		info *objstorepb.ObjectInfo
		h    hash.Hash = sha256.New()
	)
	open := func(ctx context.Context) (transport.Receiver[objstorepb.ObjectStoreServiceGetResponse], error) {
		return s.c.rpc.Get(ctx, &objstorepb.ObjectStoreServiceGetRequest{Store: s.name, Name: name, Offset: off, Revision: rev})
	}
	done := func() error {
		if off < info.GetSize() {
			return nil
		}
		if sum := h.Sum(nil); !bytes.Equal(sum, info.GetSha256()) {
			return &transport.Error{Kind: transport.KindRPC, Code: transport.CodeDigestMismatch,
				Message: "object " + name + ": received data does not match its SHA-256 digest"}
		}
		return transport.ErrStreamDone
	}
	handle := func(m *objstorepb.ObjectStoreServiceGetResponse, emit func([]byte) error) error {
		if err := transport.ServerError(m.GetResult()); err != nil {
			return err
		}
		if info == nil {
			if m.GetInfo() == nil {
				return &transport.Error{Kind: transport.KindServer, Code: transport.CodeInternal, Message: "first Get message carries no info"}
			}
			info, rev = m.GetInfo(), m.GetInfo().GetRevision()
		}
		c := m.GetChunk()
		if data := c.GetData(); len(data) > 0 {
			switch {
			case c.GetOffset() > off:
				return &transport.Error{Kind: transport.KindServer, Code: transport.CodeInternal, Message: "Get skipped data"}
			case c.GetOffset() < off: // already delivered before a rebind
				skip := off - c.GetOffset()
				if skip >= int64(len(data)) {
					return nil
				}
				data = data[skip:]
			}
			if off+int64(len(data)) > info.GetSize() {
				return &transport.Error{Kind: transport.KindServer, Code: transport.CodeInternal, Message: "Get sent more data than the object holds"}
			}
			h.Write(data)
			if err := emit(data); err != nil {
				return err
			}
			off += int64(len(data))
		}
		return done()
	}
	p, err := transport.StartPump(ctx, s.c.conn, transport.PumpConfig{Buffer: o.readAhead, AwaitFirst: true}, open, handle)
	if err != nil {
		return nil, err
	}
	return &Reader{info: infoFromPB(info), p: p, progress: o.progress}, nil
}

// Info returns the info of the version being read.
func (r *Reader) Info() ObjectInfo { return r.info }

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.next()
	}
	n := copy(p, r.cur)
	r.advance(n)
	return n, nil
}

// WriteTo implements io.WriterTo, sparing io.Copy a buffer copy.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		for len(r.cur) == 0 {
			if r.err != nil {
				if errors.Is(r.err, io.EOF) {
					return total, nil
				}
				return total, r.err
			}
			r.next()
		}
		n, err := w.Write(r.cur)
		total += int64(n)
		r.advance(n)
		if err != nil {
			return total, err
		}
	}
}

func (r *Reader) next() {
	data, err := r.p.Next()
	if err != nil {
		r.err = err // io.EOF only after the digest matched
		return
	}
	r.cur = data
}

func (r *Reader) advance(n int) {
	r.cur = r.cur[n:]
	r.done += int64(n)
	if r.progress != nil {
		r.progress(r.done, r.info.Size)
	}
}

// Close ends the download and releases its stream. It is safe to call more
// than once.
func (r *Reader) Close() error {
	r.p.Stop()
	if r.err == nil {
		r.err = transport.Invalid("reader", "read after Close")
	}
	r.cur = nil
	return nil
}

// GetBytes returns the data of the object name.
func (s *Store) GetBytes(ctx context.Context, name string, opts ...GetOption) ([]byte, error) {
	r, err := s.Get(ctx, name, opts...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	buf := bytes.NewBuffer(make([]byte, 0, r.info.Size))
	if _, err := r.WriteTo(buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// GetFile writes the data of the object name to the file at path. It writes
// to a temporary file beside path and renames it into place only when the
// whole object arrived and its digest matched, so path never holds a
// partial object.
func (s *Store) GetFile(ctx context.Context, name, path string, opts ...GetOption) (err error) {
	r, err := s.Get(ctx, name, opts...)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return pathError(err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = r.WriteTo(f); err != nil {
		var werr *transport.Error
		if !errors.As(err, &werr) {
			err = pathError(err)
		}
		return err
	}
	if err = f.Close(); err != nil {
		return pathError(err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return pathError(err)
	}
	return nil
}

func pathError(err error) error {
	return &transport.Error{Kind: transport.KindInvalid, Code: transport.CodeInvalidArgument, Message: "path: " + err.Error(), Err: err}
}
