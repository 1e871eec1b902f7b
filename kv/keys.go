package kv

import (
	"context"
	"errors"
	"io"
	"iter"
	"sync"

	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Keys lists the bucket's live keys in lexicographic order. The server
// streams them in batches, never the whole key set in one message, and a
// dropped stream resumes after the last key received.
func (b *Bucket) Keys(ctx context.Context) *KeyLister { return b.KeysMatching(ctx, ">") }

// KeysMatching lists the live keys matching pattern, where "*" matches
// exactly one dot-separated token and a final ">" one or more.
func (b *Bucket) KeysMatching(ctx context.Context, pattern string) *KeyLister {
	return &KeyLister{start: func() (*transport.Pump[string], error) { return b.keys(ctx, pattern) }}
}

func (b *Bucket) keys(ctx context.Context, pattern string) (*transport.Pump[string], error) {
	if err := checkPattern(pattern); err != nil {
		return nil, err
	}
	var last string
	open := func(ctx context.Context) (transport.Receiver[kvpb.KVServiceKeysResponse], error) {
		return b.c.rpc.Keys(ctx, &kvpb.KVServiceKeysRequest{Bucket: b.name, Pattern: pattern, StartAfter: last})
	}
	return transport.StartPump(ctx, b.c.conn, transport.PumpConfig{Buffer: 256}, open, func(m *kvpb.KVServiceKeysResponse, emit func(string) error) error {
		if err := transport.ServerError(m.GetResult()); err != nil {
			return err
		}
		for _, k := range m.GetKeys() {
			if err := emit(k); err != nil {
				return err
			}
			last = k
		}
		if m.GetDone() {
			return transport.ErrStreamDone
		}
		return nil
	})
}

// KeyLister iterates over keys. It opens its stream at the first Next or
// All, and ends as every SDK iterator does (see the transport package doc,
// # Iterators): after the last key Next returns "" and io.EOF. Call Stop
// when abandoning it before the end.
type KeyLister struct {
	start func() (*transport.Pump[string], error)
	once  sync.Once
	p     *transport.Pump[string]
	err   error // why the pump did not start (or io.EOF: stopped first)
}

func (l *KeyLister) pump() (*transport.Pump[string], error) {
	l.once.Do(func() { l.p, l.err = l.start() })
	return l.p, l.err
}

// Next returns the next key, or ("", io.EOF) after the last one, or
// ("", err) after a failure.
func (l *KeyLister) Next() (string, error) {
	p, err := l.pump()
	if p == nil {
		return "", err
	}
	return p.Next()
}

// Stop ends the listing early and releases its stream.
func (l *KeyLister) Stop() {
	l.once.Do(func() { l.err = io.EOF }) // stopped before it started: it never starts
	if l.p != nil {
		l.p.Stop()
	}
}

// All ranges over the keys Next has not returned yet; breaking out of the
// loop stops the listing, and an error that ended it (other than io.EOF) is
// yielded once, last.
func (l *KeyLister) All() iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		p, err := l.pump()
		if p == nil {
			if !errors.Is(err, io.EOF) {
				yield("", err)
			}
			return
		}
		p.All()(yield)
	}
}
