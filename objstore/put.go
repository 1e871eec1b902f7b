package objstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"strconv"

	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Put uploads the data r yields as a new version of meta.Name. It streams r
// in chunks of the store's chunk size, so memory stays at a chunk or two
// whatever the size. The server hashes the data as it arrives and makes the
// new version visible only once all of it arrived and every check passed:
// when r fails, ctx ends, the connection drops, the digest does not match
// (WithSHA256) or the store's MaxBytes would be exceeded, nothing is stored
// and any earlier version stays as it was.
//
// A Put is not retried (r cannot be rewound); call it again to retry.
func (s *Store) Put(ctx context.Context, meta ObjectMeta, r io.Reader, opts ...PutOption) (ObjectInfo, error) {
	if r == nil {
		return ObjectInfo{}, transport.Invalid("reader", "must not be nil")
	}
	return s.put(ctx, meta, &readerSource{r: r, size: s.chunkSize}, opts)
}

// PutBytes stores data as the object name.
func (s *Store) PutBytes(ctx context.Context, name string, data []byte, opts ...PutOption) (ObjectInfo, error) {
	opts = append([]PutOption{WithSize(int64(len(data)))}, opts...)
	return s.put(ctx, ObjectMeta{Name: name}, &bytesSource{b: data, size: s.chunkSize}, opts)
}

// PutFile stores the contents of the file at path as the object name.
func (s *Store) PutFile(ctx context.Context, name, path string, opts ...PutOption) (ObjectInfo, error) {
	if err := validObjectName("name", name); err != nil {
		return ObjectInfo{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return ObjectInfo{}, &transport.Error{Kind: transport.KindInvalid, Code: transport.CodeInvalidArgument, Message: "path: " + err.Error(), Err: err}
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		opts = append([]PutOption{WithSize(st.Size())}, opts...)
	}
	return s.put(ctx, ObjectMeta{Name: name}, &readerSource{r: f, size: s.chunkSize}, opts)
}

// chunkSource yields an object's data a chunk at a time; io.EOF ends it.
type chunkSource interface {
	next() ([]byte, error)
}

// readerSource reads into a fresh buffer per chunk: a sent message must
// not be modified afterwards (stats handlers may read it lazily).
type readerSource struct {
	r    io.Reader
	size int
	done bool
}

func (s *readerSource) next() ([]byte, error) {
	if s.done {
		return nil, io.EOF
	}
	buf := make([]byte, s.size)
	n, err := io.ReadFull(s.r, buf)
	switch {
	case err == nil:
		return buf, nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		s.done = true
		if n == 0 {
			return nil, io.EOF
		}
		return buf[:n], nil
	default:
		return nil, readerError{err}
	}
}

type bytesSource struct {
	b    []byte
	size int
}

func (s *bytesSource) next() ([]byte, error) {
	if len(s.b) == 0 {
		return nil, io.EOF
	}
	n := min(len(s.b), s.size)
	chunk := s.b[:n:n]
	s.b = s.b[n:]
	return chunk, nil
}

// readerError marks a failure of the caller's reader, as opposed to the
// network's.
type readerError struct{ err error }

func (e readerError) Error() string { return e.err.Error() }

func (s *Store) put(ctx context.Context, meta ObjectMeta, src chunkSource, opts []PutOption) (ObjectInfo, error) {
	if err := meta.validate("meta"); err != nil {
		return ObjectInfo{}, err
	}
	o, err := putOptionsOf(opts)
	if err != nil {
		return ObjectInfo{}, err
	}
	// Cancelling the stream's context is how a failed Put tells the server
	// to discard what it received.
	ctx, cancel := s.c.conn.Bind(ctx)
	defer cancel()
	stream, err := s.c.rpc.Put(ctx)
	if err != nil {
		return ObjectInfo{}, transport.MapError(ctx, err)
	}
	hdr := &objstorepb.ObjectPutHeader{Store: s.name, Meta: meta.toPB(), ExpectedSha256: o.expectSHA256}
	if o.fence != nil {
		hdr.Fence = transport.FencePB(*o.fence)
	}
	total := int64(-1)
	if o.sizeSet {
		hdr.ExpectedSize = &o.expectSize
		total = o.expectSize
	}
	if err := stream.Send(&objstorepb.ObjectStoreServicePutRequest{Part: &objstorepb.ObjectStoreServicePutRequest_Header{Header: hdr}}); err != nil {
		return finishPut(ctx, stream, err)
	}
	h := sha256.New()
	var off int64
	for {
		data, err := src.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			cancel()
			var re readerError
			if errors.As(err, &re) {
				err = re.err
			}
			return ObjectInfo{}, &transport.Error{Kind: transport.KindInvalid, Code: transport.CodeInvalidArgument,
				Message: "reader: failed after " + strconv.FormatInt(off, 10) + " bytes, nothing stored: " + err.Error(), Err: err}
		}
		h.Write(data)
		msg := &objstorepb.ObjectStoreServicePutRequest{Part: &objstorepb.ObjectStoreServicePutRequest_Chunk{Chunk: &objstorepb.ObjectChunk{Offset: off, Data: data}}}
		if err := stream.Send(msg); err != nil {
			return finishPut(ctx, stream, err)
		}
		off += int64(len(data))
		if o.progress != nil {
			o.progress(off, total)
		}
	}
	commit := &objstorepb.ObjectPutCommit{ExpectedSha256: h.Sum(nil), ExpectedSize: &off}
	if err := stream.Send(&objstorepb.ObjectStoreServicePutRequest{Part: &objstorepb.ObjectStoreServicePutRequest_Commit{Commit: commit}}); err != nil {
		return finishPut(ctx, stream, err)
	}
	return finishPut(ctx, stream, nil)
}

// finishPut collects the server's answer. A Send that failed with io.EOF
// means the server already answered (a refusal mid-way); CloseAndRecv
// returns that answer or the stream's real failure.
func finishPut(ctx context.Context, stream objstorepb.ObjectStoreService_PutClient, sendErr error) (ObjectInfo, error) {
	if sendErr != nil && !errors.Is(sendErr, io.EOF) {
		return ObjectInfo{}, transport.MapError(ctx, sendErr)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return ObjectInfo{}, transport.MapError(ctx, err)
	}
	if err := transport.ServerError(resp.GetResult()); err != nil {
		return ObjectInfo{}, err
	}
	return infoFromPB(resp.GetInfo()), nil
}
