package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// TestObjstoreCorruptChunkIsAnErrorNamingTheObject: a chunk whose file on
// disk no longer holds what was stored is reported to the SDK as an
// internal error naming the store and the object, and none of its bytes
// (nor any after it) reach the reader; the object's intact chunks before it
// may, and other objects stay readable. The server reads every chunk from
// its blob file and checks it on each Get, so the corruption shows without
// a restart (a restart could even hide it: the raft log's replay rewrites
// the chunks it still holds).
func TestObjstoreCorruptChunkIsAnErrorNamingTheObject(t *testing.T) {
	const cs = 4 << 10
	srv, c := startEmbedded(t, withSessionMode(), waymakertest.WithTempDataDir())
	ctx := testCtx(t, time.Minute)
	s := newObjectStore(t, c, waymaker.ObjectStoreConfig{ChunkSize: cs})
	store := s.Name()

	objects := map[string][]byte{
		"first-chunk-bad": objRandBytes(5*cs+100, 1),
		"third-chunk-bad": objRandBytes(5*cs+100, 2),
		"intact":          objRandBytes(3*cs+7, 3),
	}
	for name, data := range objects {
		if _, err := s.Put(ctx, waymaker.ObjectMeta{Name: name}, bytes.NewReader(data)); err != nil {
			t.Fatalf("Put %s: %v", name, err)
		}
	}
	corrupt(t, srv.DataDir(), objects["first-chunk-bad"], 0*cs+17)
	corrupt(t, srv.DataDir(), objects["third-chunk-bad"], 2*cs+17)

	for _, tc := range []struct {
		name string
		bad  int // the corrupted chunk
	}{{"first-chunk-bad", 0}, {"third-chunk-bad", 2}} {
		name, bad, data := tc.name, tc.bad, objects[tc.name]
		named := func(how string, err error) {
			t.Helper()
			var werr *transport.Error
			if !errors.As(err, &werr) || werr.Code != transport.CodeInternal {
				t.Fatalf("%s of %s: %v, want an internal error", how, name, err)
			}
			for _, want := range []string{strconv.Quote(store), strconv.Quote(name), "chunk " + strconv.Itoa(bad), "checksum"} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("%s of %s: %q does not name %s", how, name, err, want)
				}
			}
		}

		// Streamed: what arrives before the error is the object's own data
		// from the start, and ends before the bad chunk.
		var read []byte
		r, err := s.Get(ctx, name)
		if err == nil {
			read, err = io.ReadAll(r)
			_ = r.Close()
		}
		if len(read) > bad*cs || !bytes.Equal(read, data[:len(read)]) {
			t.Fatalf("Get of %s delivered %d bytes (%v), want at most the %d before chunk %d, all as stored", name, len(read), err, bad*cs, bad)
		}
		named("Get", err)

		got, err := s.GetBytes(ctx, name)
		named("GetBytes", err)
		if got != nil {
			t.Fatalf("GetBytes of %s returned %d bytes with its error", name, len(got))
		}

		// A file is never left holding a part of it.
		path := filepath.Join(t.TempDir(), name)
		named("GetFile", s.GetFile(ctx, name, path))
		if entries, err := os.ReadDir(filepath.Dir(path)); err != nil || len(entries) != 0 {
			t.Fatalf("GetFile of %s left %d files behind (%v)", name, len(entries), err)
		}
	}

	got, err := s.GetBytes(ctx, "intact")
	if err != nil || !bytes.Equal(got, objects["intact"]) {
		t.Fatalf("GetBytes of the intact object: %d bytes, %v", len(got), err)
	}
}

// corrupt flips bytes at off in the blob file under dataDir that holds
// data, failing the test unless exactly one file does.
func corrupt(t *testing.T, dataDir string, data []byte, off int) {
	t.Helper()
	dir := filepath.Join(dataDir, "objstore", "blobs")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var path string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(b, data) {
			if path != "" {
				t.Fatalf("two blob files hold the same data: %s and %s", path, p)
			}
			path = p
		}
	}
	if path == "" {
		t.Fatalf("no blob file in %s holds the object's %d bytes (%d files)", dir, len(data), len(entries))
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	flipped := []byte{^data[off], ^data[off+1], ^data[off+2]}
	if _, err := f.WriteAt(flipped, int64(off)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
