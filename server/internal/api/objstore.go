package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/objstore"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// commitTimeout bounds the proposal of a Put's commit, which runs detached
// from the client's context: once all the data arrived, a client going away
// must not leave the outcome half-known.
const commitTimeout = 30 * time.Second

// ObjectStoreService is the ObjectStoreService: it validates requests,
// streams object data between the client and the machine's blob store, and
// proposes the small metadata commands through raft.
type ObjectStoreService struct {
	objstorepb.UnimplementedObjectStoreServiceServer
	sm     *objstore.Machine
	d      Deps
	budget *byteBudget // chunk data proposed and not yet applied, all Puts
}

// NewObjectStoreService returns the service over sm, and bounds sm's change
// log by d.Limits.WatchBacklog. Call it before raft applies.
func NewObjectStoreService(sm *objstore.Machine, d Deps) *ObjectStoreService {
	sm.SetWatchBacklog(d.Limits.WatchBacklog)
	sm.SetUploadTimeout(int64(d.Limits.ObjectUploadTimeoutMs))
	return &ObjectStoreService{sm: sm, d: d, budget: newByteBudget(DefaultPutInflightBytes)}
}

func (s *ObjectStoreService) validConfig(v *Validator, c *objstorepb.ObjectStoreConfig) {
	v.Name("config.name", c.GetName(), s.d.Limits.MaxNameLen)
	v.MaxLen("config.description", len(c.GetDescription()), s.d.Limits.MaxDescriptionLen)
	v.NonNegative("config.max_bytes", c.GetMaxBytes())
	v.Duration("config.ttl_ms", c.GetTtlMs(), s.d.Limits.MaxDurationMs)
	max := min(objstore.MaxChunkSize, s.d.Limits.MaxChunkSize)
	if cs := int(c.GetChunkSize()); cs != 0 && (cs < objstore.MinChunkSize || cs > max) {
		v.Check(false, "config.chunk_size", "must be 0 (default 131072) or from 1024 to "+itoa(int64(max)))
	}
}

// validMeta bounds an object's description, headers and metadata.
func (s *ObjectStoreService) validMeta(v *Validator, field string, m *objstorepb.ObjectMeta) {
	l := s.d.Limits
	v.MaxLen(field+".description", len(m.GetDescription()), l.MaxDescriptionLen)
	if v.Result() == nil {
		v.Add(CheckHeaders(field+".headers", m.GetHeaders(), l.MaxKeyLen, l.MaxHeaderBytes))
	}
	total := 0
	for k, val := range m.GetMetadata() {
		total += len(k) + len(val)
	}
	if total > l.MaxHeaderBytes {
		v.Check(false, field+".metadata", "holds "+itoa(int64(total))+" bytes, limit "+itoa(int64(l.MaxHeaderBytes))+" (MaxHeaderBytes)")
	}
}

// validObjectName: 1 to MaxKeyLen (default 1024) bytes of UTF-8, no NUL.
func (s *ObjectStoreService) validObjectName(v *Validator, field, name string) {
	v.NonEmpty(field, name)
	v.MaxLen(field, len(name), s.d.Limits.MaxKeyLen)
	v.Check(utf8.ValidString(name), field, "must be valid UTF-8")
	v.Check(!bytes.ContainsRune([]byte(name), 0), field, "must not contain NUL")
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}

// CreateStore implements ObjectStoreServiceServer.
func (s *ObjectStoreService) CreateStore(ctx context.Context, req *objstorepb.ObjectStoreServiceCreateStoreRequest) (*objstorepb.ObjectStoreServiceCreateStoreResponse, error) {
	var v Validator
	s.validConfig(&v, req.GetConfig())
	return write[*objstorepb.ObjectStoreServiceCreateStoreResponse](ctx, s.d, objstore.Name, objstore.OpCreateStore, req, v.Result())
}

// UpdateStore implements ObjectStoreServiceServer.
func (s *ObjectStoreService) UpdateStore(ctx context.Context, req *objstorepb.ObjectStoreServiceUpdateStoreRequest) (*objstorepb.ObjectStoreServiceUpdateStoreResponse, error) {
	var v Validator
	s.validConfig(&v, req.GetConfig())
	return write[*objstorepb.ObjectStoreServiceUpdateStoreResponse](ctx, s.d, objstore.Name, objstore.OpUpdateStore, req, v.Result())
}

// GetStore implements ObjectStoreServiceServer.
func (s *ObjectStoreService) GetStore(ctx context.Context, req *objstorepb.ObjectStoreServiceGetStoreRequest) (*objstorepb.ObjectStoreServiceGetStoreResponse, error) {
	var v Validator
	v.Name("store", req.GetStore(), s.d.Limits.MaxNameLen)
	return read(ctx, s.d, v.Result(), func() *objstorepb.ObjectStoreServiceGetStoreResponse {
		info, ok := s.sm.StoreInfo(req.GetStore())
		if !ok {
			return failed[*objstorepb.ObjectStoreServiceGetStoreResponse](result.Failf(result.CodeNotFound, "store %q", req.GetStore()))
		}
		return &objstorepb.ObjectStoreServiceGetStoreResponse{Result: result.OK(), Info: info}
	})
}

// DeleteStore implements ObjectStoreServiceServer.
func (s *ObjectStoreService) DeleteStore(ctx context.Context, req *objstorepb.ObjectStoreServiceDeleteStoreRequest) (*objstorepb.ObjectStoreServiceDeleteStoreResponse, error) {
	var v Validator
	v.Name("store", req.GetStore(), s.d.Limits.MaxNameLen)
	return write[*objstorepb.ObjectStoreServiceDeleteStoreResponse](ctx, s.d, objstore.Name, objstore.OpDeleteStore, req, v.Result())
}

// ListStores implements ObjectStoreServiceServer. The page token is opaque
// (see PageToken).
func (s *ObjectStoreService) ListStores(ctx context.Context, req *objstorepb.ObjectStoreServiceListStoresRequest) (*objstorepb.ObjectStoreServiceListStoresResponse, error) {
	var v Validator
	size := v.PageSize("page_size", req.GetPageSize(), defaultPageSize, maxPageSize)
	after := v.PageToken("page_token", ScopeObjectStores, req.GetPageToken())
	return read(ctx, s.d, v.Result(), func() *objstorepb.ObjectStoreServiceListStoresResponse {
		page, more := s.sm.Stores(after, size)
		resp := &objstorepb.ObjectStoreServiceListStoresResponse{Result: result.OK(), Stores: page}
		if more {
			resp.NextPageToken = NextPageToken(ScopeObjectStores, page[len(page)-1].GetConfig().GetName())
		}
		return resp
	})
}

// GetInfo implements ObjectStoreServiceServer.
func (s *ObjectStoreService) GetInfo(ctx context.Context, req *objstorepb.ObjectStoreServiceGetInfoRequest) (*objstorepb.ObjectStoreServiceGetInfoResponse, error) {
	var v Validator
	v.Name("store", req.GetStore(), s.d.Limits.MaxNameLen)
	s.validObjectName(&v, "name", req.GetName())
	return read(ctx, s.d, v.Result(), func() *objstorepb.ObjectStoreServiceGetInfoResponse {
		ver, _, ok := s.sm.Lookup(req.GetStore(), req.GetName())
		switch {
		case !ok:
			return failed[*objstorepb.ObjectStoreServiceGetInfoResponse](result.Failf(result.CodeNotFound, "store %q", req.GetStore()))
		case ver == nil || ver.Info.GetDeleted() && !req.GetIncludeDeleted():
			return failed[*objstorepb.ObjectStoreServiceGetInfoResponse](result.Failf(result.CodeNotFound, "object %q", req.GetName()))
		}
		return &objstorepb.ObjectStoreServiceGetInfoResponse{Result: result.OK(), Info: ver.Info}
	})
}

// UpdateMeta implements ObjectStoreServiceServer.
func (s *ObjectStoreService) UpdateMeta(ctx context.Context, req *objstorepb.ObjectStoreServiceUpdateMetaRequest) (*objstorepb.ObjectStoreServiceUpdateMetaResponse, error) {
	var v Validator
	v.Name("store", req.GetStore(), s.d.Limits.MaxNameLen)
	s.validObjectName(&v, "name", req.GetName())
	s.validObjectName(&v, "meta.name", req.GetMeta().GetName())
	s.validMeta(&v, "meta", req.GetMeta())
	return write[*objstorepb.ObjectStoreServiceUpdateMetaResponse](ctx, s.d, objstore.Name, objstore.OpUpdateMeta, req, v.Result())
}

// Delete implements ObjectStoreServiceServer.
func (s *ObjectStoreService) Delete(ctx context.Context, req *objstorepb.ObjectStoreServiceDeleteRequest) (*objstorepb.ObjectStoreServiceDeleteResponse, error) {
	var v Validator
	v.Name("store", req.GetStore(), s.d.Limits.MaxNameLen)
	s.validObjectName(&v, "name", req.GetName())
	return write[*objstorepb.ObjectStoreServiceDeleteResponse](ctx, s.d, objstore.Name, objstore.OpDelete, req, v.Result())
}

// Put implements ObjectStoreServiceServer: it stages the data as it
// arrives, hashing it, and proposes the commit only when everything
// checked out. Any other ending discards the staged data.
func (s *ObjectStoreService) Put(stream objstorepb.ObjectStoreService_PutServer) error {
	resp := s.put(stream)
	return stream.SendAndClose(resp)
}

func putFail(r *commonpb.Result) *objstorepb.ObjectStoreServicePutResponse {
	return &objstorepb.ObjectStoreServicePutResponse{Result: r}
}

func (s *ObjectStoreService) put(stream objstorepb.ObjectStoreService_PutServer) *objstorepb.ObjectStoreServicePutResponse {
	first, err := stream.Recv()
	if err != nil {
		return putFail(result.Invalid("header", "the stream ended before its header; nothing stored"))
	}
	hdr := first.GetHeader()
	var v Validator
	v.Check(hdr != nil, "header", "the first message must be the header")
	v.Name("header.store", hdr.GetStore(), s.d.Limits.MaxNameLen)
	s.validObjectName(&v, "header.meta.name", hdr.GetMeta().GetName())
	s.validMeta(&v, "header.meta", hdr.GetMeta())
	v.Check(len(hdr.GetExpectedSha256()) == 0 || len(hdr.GetExpectedSha256()) == sha256.Size, "header.expected_sha256", "must be empty or 32 bytes")
	v.Check(!(hdr != nil && hdr.ExpectedSize != nil) || hdr.GetExpectedSize() >= 0, "header.expected_size", "must not be negative")
	if hdr != nil {
		v.Add(checkFence(hdr, "header.fence", s.d.Limits.MaxKeyLen))
	}
	if r := v.Result(); r != nil {
		return putFail(r)
	}
	_, room, ok := s.sm.Lookup(hdr.GetStore(), hdr.GetMeta().GetName())
	if !ok {
		return putFail(result.Failf(result.CodeNotFound, "store %q", hdr.GetStore()))
	}
	if (hdr != nil && hdr.ExpectedSize != nil) && room >= 0 && hdr.GetExpectedSize() > room {
		return putFail(result.Failf(result.CodeLimitExceeded, "header.expected_size: %d bytes exceed the %d bytes left under the store's max_bytes", hdr.GetExpectedSize(), room))
	}

	cs := int64(objstore.DefaultChunkSize)
	if si, ok := s.sm.StoreInfo(hdr.GetStore()); ok && si.GetConfig().GetChunkSize() > 0 {
		cs = int64(si.GetConfig().GetChunkSize())
	}
	// The chunks go through raft as they arrive, re-cut to the store's
	// chunk size; nothing is visible before the commit applies, and a Put
	// that ends any other way proposes a discard of what it sent (or, when
	// even that fails, a tick collects the upload after the timeout).
	ctx := stream.Context()
	cp := &chunkProposer{ctx: ctx, p: s.d.Node, budget: s.budget, blob: objstore.NewBlobID(), cs: cs}
	sent := false
	committed := false
	defer func() {
		if err := cp.wait(); (err != nil || !committed) && sent {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
			defer cancel()
			_, _ = s.d.Node.Propose(dctx, objstore.Name, objstore.OpDiscard, []byte(cp.blob))
		}
	}()
	buf := make([]byte, 0, cs)
	var next int64 // the index of the next chunk to propose
	flush := func() *commonpb.Result {
		if len(buf) == 0 {
			return nil
		}
		sent = true
		if err := cp.send(next, buf); err != nil {
			return result.Failf(result.CodeUnavailable, "the upload failed: %v; nothing stored", err)
		}
		next++
		buf = buf[:0]
		return nil
	}

	h := sha256.New()
	var size int64
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return putFail(result.Invalid("commit", "the stream ended without a commit; nothing stored"))
		}
		if err != nil {
			return putFail(result.Failf(result.CodeUnavailable, "the upload was cut off: %v; nothing stored", err))
		}
		switch part := msg.GetPart().(type) {
		case *objstorepb.ObjectStoreServicePutRequest_Chunk:
			c := part.Chunk
			switch {
			case c.GetOffset() != size:
				return putFail(result.Invalid("chunk.offset", "is "+itoa(c.GetOffset())+", want "+itoa(size)+" (the bytes sent before it)"))
			case len(c.GetData()) > s.d.Limits.MaxChunkSize:
				return putFail(result.Invalid("chunk.data", "is "+itoa(int64(len(c.GetData())))+" bytes, limit "+itoa(int64(s.d.Limits.MaxChunkSize))))
			}
			size += int64(len(c.GetData()))
			if (hdr != nil && hdr.ExpectedSize != nil) && size > hdr.GetExpectedSize() {
				return putFail(result.Invalid("header.expected_size", "the data is longer than "+itoa(hdr.GetExpectedSize())+" bytes; nothing stored"))
			}
			if room >= 0 && size > room {
				return putFail(result.Failf(result.CodeLimitExceeded, "the object exceeds the %d bytes left under the store's max_bytes; nothing stored", room))
			}
			if size > objstore.MaxChunkIndex*cs {
				return putFail(result.Failf(result.CodeLimitExceeded, "the object exceeds %d chunks of %d bytes; nothing stored", objstore.MaxChunkIndex, cs))
			}
			h.Write(c.GetData())
			for data := c.GetData(); len(data) > 0; {
				k := min(len(data), int(cs)-len(buf))
				buf = append(buf, data[:k]...)
				data = data[k:]
				if int64(len(buf)) == cs {
					if r := flush(); r != nil {
						return putFail(r)
					}
				}
			}
		case *objstorepb.ObjectStoreServicePutRequest_Commit:
			sum := h.Sum(nil)
			for _, e := range []struct {
				field string
				has   bool
				size  int64
				sha   []byte
			}{
				{"header", (hdr != nil && hdr.ExpectedSize != nil), hdr.GetExpectedSize(), hdr.GetExpectedSha256()},
				{"commit", (part.Commit.ExpectedSize != nil), part.Commit.GetExpectedSize(), part.Commit.GetExpectedSha256()},
			} {
				if e.has && e.size != size {
					return putFail(result.Invalid(e.field+".expected_size", "is "+itoa(e.size)+" but "+itoa(size)+" bytes arrived; nothing stored"))
				}
				if len(e.sha) != 0 && !bytes.Equal(e.sha, sum) {
					if len(e.sha) != sha256.Size {
						return putFail(result.Invalid(e.field+".expected_sha256", "must be 32 bytes"))
					}
					return putFail(result.Failf(result.CodeDigestMismatch, "%s.expected_sha256 does not match the data's SHA-256; nothing stored", e.field))
				}
			}
			if r := flush(); r != nil {
				return putFail(r)
			}
			if err := cp.wait(); err != nil {
				return putFail(result.Failf(result.CodeUnavailable, "the upload failed: %v; nothing stored", err))
			}
			blob := cp.blob
			if size == 0 {
				blob = "" // an empty object has no blob
			}
			meta := hdr.GetMeta()
			info := &objstorepb.ObjectInfo{
				Store: hdr.GetStore(), Name: meta.GetName(), Description: meta.GetDescription(),
				Headers: meta.GetHeaders(), Metadata: meta.GetMetadata(), Size: size, Sha256: sum,
			}
			resp := s.commit(ctx, blob, FenceOf(hdr), info)
			committed = true // commit discards itself when it must
			return resp
		default:
			return putFail(result.Invalid("header", "only the first message may be a header"))
		}
	}
}

// commit proposes an upload's commit, the object's metadata, once every
// chunk has applied. When the outcome is unknown, it proposes a discard,
// which raft orders after the commit: it drops the upload only if the
// commit did not take it.
//
// The header's fence is checked here, on the commit command: a writer that
// lost its lock while the data streamed in commits nothing. A refused
// commit never reached the object store, so its blob is discarded too.
func (s *ObjectStoreService) commit(ctx context.Context, blob string, fence fsm.Fence, info *objstorepb.ObjectInfo) *objstorepb.ObjectStoreServicePutResponse {
	payload, err := objstore.EncodeCommit(blob, info)
	if err != nil {
		return putFail(result.Failf(result.CodeInternal, "encode commit: %v", err))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	res, err := proposePayload(ctx, s.d.Node, objstore.Name, objstore.OpCommit, "", fence, payload)
	refused, _ := res.(*commonpb.Result)
	if err != nil || refused != nil {
		if blob != "" {
			_, _ = s.d.Node.Propose(ctx, objstore.Name, objstore.OpDiscard, []byte(blob))
		}
		if refused != nil {
			return putFail(refused)
		}
		return putFail(FromError(err))
	}
	resp, ok := res.(*objstorepb.ObjectStoreServicePutResponse)
	if !ok {
		return putFail(result.Failf(result.CodeInternal, "commit applied with a %T result", res))
	}
	return resp
}

// Get implements ObjectStoreServiceServer.
func (s *ObjectStoreService) Get(req *objstorepb.ObjectStoreServiceGetRequest, stream objstorepb.ObjectStoreService_GetServer) error {
	var v Validator
	v.Name("store", req.GetStore(), s.d.Limits.MaxNameLen)
	s.validObjectName(&v, "name", req.GetName())
	v.NonNegative("offset", req.GetOffset())
	v.NonNegative("length", req.GetLength())
	if r := readStart(stream.Context(), s.d, v.Result()); r != nil {
		return stream.Send(&objstorepb.ObjectStoreServiceGetResponse{Result: r})
	}
	ver, rd, r := s.openVersion(req)
	if r != nil {
		return stream.Send(&objstorepb.ObjectStoreServiceGetResponse{Result: r})
	}
	if rd != nil {
		defer rd.Close()
	}
	info := ver.Info
	off, end := req.GetOffset(), info.GetSize()
	if off > end {
		return stream.Send(&objstorepb.ObjectStoreServiceGetResponse{Result: result.Invalid("offset", "is past the object's size "+itoa(end))})
	}
	if l := req.GetLength(); l > 0 && off+l < end {
		end = off + l
	}
	chunk := int64(info.GetChunkSize())
	if chunk <= 0 {
		chunk = objstore.DefaultChunkSize
	}
	first := &objstorepb.ObjectStoreServiceGetResponse{Result: result.OK(), Info: info}
	for {
		msg := first
		if msg == nil {
			msg = &objstorepb.ObjectStoreServiceGetResponse{Result: result.OK()}
		}
		first = nil
		if off < end {
			// Whole chunks are read and verified; the message carries the
			// part from off, so the next one starts at a chunk boundary.
			k := off / chunk
			buf, err := objstore.ReadChunk(rd, ver, k)
			if err != nil {
				s.d.Logger.Error("object store: corrupt object data", zap.String("store", req.GetStore()), zap.Error(err))
				return stream.Send(&objstorepb.ObjectStoreServiceGetResponse{Result: result.Failf(result.CodeInternal, "store %q: %v", req.GetStore(), err)})
			}
			buf = buf[off-k*chunk : min(int64(len(buf)), end-k*chunk)]
			msg.Chunk = &objstorepb.ObjectChunk{Offset: off, Data: buf}
			off += int64(len(buf))
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
		if off >= end {
			return nil
		}
		select {
		case <-s.d.Stopping:
			// The client rebinds at the next offset once the server is back.
			return status.Error(codes.Unavailable, "server stopping")
		default:
		}
	}
}

// openVersion finds the version a Get reads and opens its blob. A Get
// pinned to a revision accepts any revision of the same data (a metadata
// update does not break a resumed download).
func (s *ObjectStoreService) openVersion(req *objstorepb.ObjectStoreServiceGetRequest) (*objstore.Version, objstore.BlobReader, *commonpb.Result) {
	for attempt := 0; ; attempt++ {
		ver, _, ok := s.sm.Lookup(req.GetStore(), req.GetName())
		switch {
		case !ok:
			return nil, nil, result.Failf(result.CodeNotFound, "store %q", req.GetStore())
		case req.GetRevision() != 0 && (ver == nil || ver.Info.GetDeleted() || req.GetRevision() < ver.PutRev || req.GetRevision() > ver.Info.GetRevision()):
			return nil, nil, result.Failf(result.CodeWrongRevision, "object %q no longer has revision %d", req.GetName(), req.GetRevision())
		case ver == nil || ver.Info.GetDeleted():
			return nil, nil, result.Failf(result.CodeNotFound, "object %q", req.GetName())
		}
		if ver.Blob == "" {
			return ver, nil, nil
		}
		rd, err := s.sm.Open(ver.Blob)
		if err == nil {
			return ver, rd, nil
		}
		// The version was replaced between the lookup and the open; look
		// again.
		if attempt == 2 {
			return nil, nil, result.Failf(result.CodeInternal, "object %q: data unavailable: %v", req.GetName(), err)
		}
	}
}

// List implements ObjectStoreServiceServer.
func (s *ObjectStoreService) List(req *objstorepb.ObjectStoreServiceListRequest, stream objstorepb.ObjectStoreService_ListServer) error {
	var v Validator
	v.Name("store", req.GetStore(), s.d.Limits.MaxNameLen)
	batch := v.PageSize("batch_size", req.GetBatchSize(), defaultPageSize, maxPageSize)
	if r := readStart(stream.Context(), s.d, v.Result()); r != nil {
		return stream.Send(&objstorepb.ObjectStoreServiceListResponse{Result: r})
	}
	infos, ok := s.sm.Objects(req.GetStore(), req.GetStartAfter(), req.GetIncludeDeleted())
	if !ok {
		return stream.Send(&objstorepb.ObjectStoreServiceListResponse{Result: result.Failf(result.CodeNotFound, "store %q", req.GetStore())})
	}
	for {
		n := min(batch, len(infos))
		msg := &objstorepb.ObjectStoreServiceListResponse{Result: result.OK(), Objects: infos[:n], Done: n == len(infos)}
		if err := stream.Send(msg); err != nil {
			return err
		}
		if msg.Done {
			return nil
		}
		infos = infos[n:]
	}
}

// Watch implements ObjectStoreServiceServer.
func (s *ObjectStoreService) Watch(req *objstorepb.ObjectStoreServiceWatchRequest, stream objstorepb.ObjectStoreService_WatchServer) error {
	var v Validator
	v.Name("store", req.GetStore(), s.d.Limits.MaxNameLen)
	if r := readStart(stream.Context(), s.d, v.Result()); r != nil {
		return stream.Send(&objstorepb.ObjectStoreServiceWatchResponse{Result: r})
	}
	// Subscribe before the first look, so no change falls in between.
	w := s.sm.Watch(req.GetStore())
	defer w.Stop()
	notFound := func() error {
		return stream.Send(&objstorepb.ObjectStoreServiceWatchResponse{Result: result.Failf(result.CodeNotFound, "store %q", req.GetStore())})
	}
	deletes := !req.GetIgnoreDeletes()
	var initial []*objstorepb.ObjectInfo
	var last uint64
	var ok bool
	switch {
	case req.GetResumeFromRevision() != 0:
		// Every change since, or compacted when some are no longer kept.
		var r *commonpb.Result
		initial, last, r = s.sm.ChangesSince(req.GetStore(), req.GetResumeFromRevision(), deletes, 0)
		if r != nil {
			return stream.Send(&objstorepb.ObjectStoreServiceWatchResponse{Result: r})
		}
		last, ok = max(last, req.GetResumeFromRevision()), true
	case req.GetUpdatesOnly():
		_, last, ok = s.sm.Changes(req.GetStore(), ^uint64(0), false, false)
	default:
		initial, last, ok = s.sm.Changes(req.GetStore(), 0, true, false)
	}
	if !ok {
		return notFound()
	}
	for _, info := range initial {
		if err := stream.Send(&objstorepb.ObjectStoreServiceWatchResponse{Result: result.OK(), Info: info, Revision: info.GetRevision()}); err != nil {
			return err
		}
	}
	if err := stream.Send(&objstorepb.ObjectStoreServiceWatchResponse{Result: result.OK(), InitialDone: true, Revision: last}); err != nil {
		return err
	}
	for more := false; ; {
		if !more {
			select {
			case <-w.C():
				_ = w.Wait(stream.Context()) // returns at once, re-subscribing
			case <-stream.Context().Done():
				return nil
			case <-s.d.Stopping:
				return status.Error(codes.Unavailable, "server stopping")
			}
		}
		// Every change since last, from the change log: a watcher that fell
		// further behind than it holds is told so, never skipped forward.
		changed, rev, r := s.sm.ChangesSince(req.GetStore(), last, deletes, watchBatch)
		if r != nil {
			return stream.Send(&objstorepb.ObjectStoreServiceWatchResponse{Result: r})
		}
		for _, info := range changed {
			if err := stream.Send(&objstorepb.ObjectStoreServiceWatchResponse{Result: result.OK(), Info: info, Revision: info.GetRevision()}); err != nil {
				return err
			}
		}
		last = max(last, rev)
		more = len(changed) == watchBatch
	}
}

// watchBatch is how many changes a watch takes from the state at a time.
const watchBatch = 256
