// Package objstore is the waymaker object store client: chunked,
// digest-checked objects streamed in bounded memory.
//
// A Store holds named objects of any size. Put streams an io.Reader to the
// server in chunks of the store's chunk size (128 KiB by default) while
// both sides compute its SHA-256; the new version becomes visible only when
// all of it arrived and every check passed, so a Put that fails, is
// cancelled or is cut off leaves any earlier version intact and stores
// nothing. Get returns a Reader (an io.ReadCloser with Info) that verifies
// the digest before it reports io.EOF, and that resumes a dropped download
// at the next byte it needs, pinned to the version it started reading.
// Memory on either side stays at a few chunks whatever the object's size.
//
//	store, err := client.GetOrCreateStore(ctx, objstore.Config{Name: "reports", MaxBytes: 10 << 30})
//	info, err := store.Put(ctx, objstore.ObjectMeta{Name: "q3.csv"}, file)
//	r, err := store.Get(ctx, "q3.csv")
//	defer r.Close()
//	_, err = io.Copy(dst, r)
//
// List and Watch stream object infos (Next, or All for range loops), and
// end as every SDK iterator does (see the transport package doc,
// # Iterators); Watch delivers the current objects, a marker, then every
// change, and resumes from the last revision after a drop. MaxBytes bounds a store's live data
// (ErrLimitExceeded) and TTL expires objects after their last Put.
//
// # Fenced writes
//
// Put (PutBytes, PutFile), Delete and UpdateMeta take
// objstore.WithFence(l.Fence()), the fence of a held lock
// (transport.Fence): the server applies the write only if, at its place in
// the log, that lock is held exclusively with that token by a live lease;
// a Put is checked when it commits, so a writer that lost the lock while
// its data streamed in stores nothing. Otherwise the call fails with
// ErrFenced (result code "fenced", the message giving the current token).
//
// It can be used alone, without the root package:
//
//	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
//	c := objstore.New(conn)
//
// # Runnable examples
//
// This package's Examples compile but do not run: they dial a server at
// localhost:8818. ExampleObjectStore in server/e2e/objstore_test.go (the
// server module) starts a server in its own process and checks its output.
// Run it with:
//
//	cd server && go test -run Example ./e2e/
package objstore
