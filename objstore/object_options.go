package objstore

import (
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Per-call options follow one idiom across the SDK: a call's options are an
// interface with one unexported method (PutOption: applyPut), so an option
// valid on several calls is one value whose type has each call's method
// (WithProgress is a TransferOption: both a PutOption and a GetOption).

// PutOption tunes one Put, PutBytes or PutFile.
type PutOption interface{ applyPut(*putOptions) }

// GetOption tunes one Get, GetBytes or GetFile.
type GetOption interface{ applyGet(*getOptions) }

// TransferOption is an option valid on both Put and Get calls.
type TransferOption interface {
	PutOption
	GetOption
}

type putOptions struct {
	fence        *transport.Fence
	progress     ProgressFunc
	expectSHA256 []byte
	expectSize   int64
	sizeSet      bool
}

type getOptions struct {
	progress  ProgressFunc
	readAhead int
}

type putFunc func(*putOptions)

func (f putFunc) applyPut(o *putOptions) { f(o) }

type progressOption ProgressFunc

func (f progressOption) applyPut(o *putOptions) { o.progress = ProgressFunc(f) }
func (f progressOption) applyGet(o *getOptions) { o.progress = ProgressFunc(f) }

// WithProgress reports progress to fn after every chunk a Put sends or a Get
// delivers. fn runs on the caller's goroutine (Put) or the reading
// goroutine (Get) and must be quick.
func WithProgress(fn ProgressFunc) TransferOption { return progressOption(fn) }

// WithSHA256 makes a Put fail with ErrDigestMismatch, storing nothing, unless
// the data's SHA-256 equals digest (32 bytes).
func WithSHA256(digest []byte) PutOption {
	return putFunc(func(o *putOptions) { o.expectSHA256 = digest })
}

// WithSize tells a Put the data's size in advance: the server refuses an
// object over the store's MaxBytes before any data is sent, and the Put
// fails, storing nothing, unless the reader yields exactly size bytes. It
// also gives WithProgress its total.
func WithSize(size int64) PutOption {
	return putFunc(func(o *putOptions) { o.expectSize, o.sizeSet = size, true })
}

func putOptionsOf(opts []PutOption) (putOptions, error) {
	var o putOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applyPut(&o)
		}
	}
	if o.expectSHA256 != nil && len(o.expectSHA256) != 32 {
		return o, transport.Invalid("WithSHA256", "digest must be 32 bytes, got %d", len(o.expectSHA256))
	}
	if o.sizeSet && o.expectSize < 0 {
		return o, transport.Invalid("WithSize", "must not be negative, got %d", o.expectSize)
	}
	if o.fence != nil {
		if err := transport.CheckFence("fence", *o.fence); err != nil {
			return o, err
		}
	}
	return o, nil
}

// WriteOption qualifies Delete and UpdateMeta.
type WriteOption interface{ applyWrite(*writeOptions) }

type writeOptions struct{ fence *transport.Fence }

// FenceOption is WithFence's option, valid on Put, PutBytes, PutFile,
// Delete and UpdateMeta.
type FenceOption struct{ f transport.Fence }

func (o FenceOption) applyPut(p *putOptions)     { p.fence = &o.f }
func (o FenceOption) applyWrite(w *writeOptions) { w.fence = &o.f }

// WithFence makes a Put, Delete or UpdateMeta conditional on a held lock:
// the server applies it only while f's lock is held with f's token, and
// otherwise changes nothing and answers ErrFenced (the message gives the
// current token). A Put is checked when it commits, after its data has
// arrived, so a writer that lost the lock meanwhile stores nothing. A
// refusal is definite and never retried.
//
//	info, err := store.PutBytes(ctx, "report", data, objstore.WithFence(l.Fence()))
func WithFence(f transport.Fence) FenceOption { return FenceOption{f} }

// writeFence validates the fence of a Delete or UpdateMeta, if any, and
// gives its wire form.
func writeFence(opts []WriteOption) (*commonpb.Fence, error) {
	var o writeOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applyWrite(&o)
		}
	}
	if o.fence == nil {
		return nil, nil
	}
	if err := transport.CheckFence("fence", *o.fence); err != nil {
		return nil, err
	}
	return transport.FencePB(*o.fence), nil
}

// DefaultReadAhead is how many chunks a Reader holds ahead of the caller
// unless WithReadAhead says otherwise; MaxReadAhead bounds the option.
const (
	DefaultReadAhead = 2
	MaxReadAhead     = 64
)

type getFunc func(*getOptions)

func (f getFunc) applyGet(o *getOptions) { f(o) }

// WithReadAhead sets how many chunks (of the store's chunk size) a Reader
// receives ahead of the caller: 1 to MaxReadAhead, default
// DefaultReadAhead. More hides more of the network's latency; each costs a
// chunk of memory. Beyond these, what is in flight is bounded by gRPC's
// flow-control window (64 KiB per stream at first, grown by gRPC's
// bandwidth estimate; grpc.WithInitialWindowSize through WithDialOptions
// fixes it). A Put holds the chunk it is sending and what the same window
// lets through: the server stops reading while its raft pipeline is full.
func WithReadAhead(chunks int) GetOption {
	return getFunc(func(o *getOptions) { o.readAhead = chunks })
}

func getOptionsOf(opts []GetOption) (getOptions, error) {
	o := getOptions{readAhead: DefaultReadAhead}
	for _, opt := range opts {
		if opt != nil {
			opt.applyGet(&o)
		}
	}
	if o.readAhead < 1 || o.readAhead > MaxReadAhead {
		return o, transport.Invalid("WithReadAhead", "must be 1 to %d chunks, got %d", MaxReadAhead, o.readAhead)
	}
	return o, nil
}
