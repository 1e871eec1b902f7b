package kv

import (
	"context"
	"iter"

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
	return &KeyLister{seq: b.keys(ctx, pattern)}
}

func (b *Bucket) keys(ctx context.Context, pattern string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if err := checkPattern(pattern); err != nil {
			yield("", err)
			return
		}
		var last string
		stopped := false
		err := transport.Follow(ctx, b.c.conn, func(ctx context.Context) (transport.Receiver[kvpb.KVServiceKeysResponse], error) {
			return b.c.rpc.Keys(ctx, &kvpb.KVServiceKeysRequest{Bucket: b.name, Pattern: pattern, StartAfter: last})
		}, func(m *kvpb.KVServiceKeysResponse) error {
			if err := transport.ServerError(m.GetResult()); err != nil {
				return err
			}
			for _, k := range m.GetKeys() {
				last = k
				if !yield(k, nil) {
					stopped = true
					return transport.ErrStreamDone
				}
			}
			if m.GetDone() {
				return transport.ErrStreamDone
			}
			return nil
		})
		if err != nil && !stopped {
			yield("", err)
		}
	}
}

// KeyLister iterates over keys. Use Next or All from one goroutine, and
// call Stop when abandoning Next before the end.
type KeyLister struct {
	seq  iter.Seq2[string, error]
	next func() (string, error, bool)
	stop func()
}

// Next returns the next key, or ("", nil) after the last one.
func (l *KeyLister) Next() (string, error) {
	if l.next == nil {
		l.next, l.stop = iter.Pull2(l.seq)
	}
	k, err, ok := l.next()
	if !ok {
		return "", nil
	}
	if err != nil {
		l.stop() // an error ends the listing; release it now
	}
	return k, err
}

// Stop ends the listing early and releases its stream.
func (l *KeyLister) Stop() {
	if l.stop != nil {
		l.stop()
	}
}

// All ranges over the keys Next has not returned yet; an error ends it.
func (l *KeyLister) All() iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		defer l.Stop()
		for {
			k, err := l.Next()
			if err != nil {
				yield("", err)
				return
			}
			if k == "" || !yield(k, nil) {
				return
			}
		}
	}
}
