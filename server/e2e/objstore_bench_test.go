package e2e

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// Object store throughput: the SDK against an embedded server (one
// process), in memory and with a data dir, for a 1 MiB and a 256 MiB
// object. MB/s is the object size over the time of one Put or Get.
//
//	cd server && go test -run '^$' -bench Objstore -benchtime 3x ./e2e/

var objBenchSizes = []struct {
	name string
	size int
}{{"1MiB", 1 << 20}, {"256MiB", 256 << 20}}

func objBenchStore(b *testing.B, disk bool) *waymaker.ObjectStore {
	var opts []waymakertest.Option
	if disk {
		opts = append(opts, waymakertest.WithTempDataDir())
	}
	c := start(b, opts...)
	return newObjectStore(b, c, waymaker.ObjectStoreConfig{})
}

func BenchmarkObjstorePut(b *testing.B) {
	for _, mode := range []string{"mem", "disk"} {
		for _, sz := range objBenchSizes {
			b.Run(mode+"/"+sz.name, func(b *testing.B) {
				s := objBenchStore(b, mode == "disk")
				ctx := testCtx(b, 10*time.Minute)
				data := objRandBytes(sz.size, 1)
				b.SetBytes(int64(sz.size))
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if _, err := s.Put(ctx, waymaker.ObjectMeta{Name: fmt.Sprintf("o%d", i%4)}, bytes.NewReader(data)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkObjstoreGet(b *testing.B) {
	for _, mode := range []string{"mem", "disk"} {
		for _, sz := range objBenchSizes {
			b.Run(mode+"/"+sz.name, func(b *testing.B) {
				s := objBenchStore(b, mode == "disk")
				ctx := testCtx(b, 10*time.Minute)
				if _, err := s.Put(ctx, waymaker.ObjectMeta{Name: "o"}, bytes.NewReader(objRandBytes(sz.size, 1))); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(sz.size))
				b.ResetTimer()
				for b.Loop() {
					r, err := s.Get(ctx, "o")
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, r)
					r.Close()
					if err != nil || n != int64(sz.size) {
						b.Fatalf("Get: %d bytes, %v", n, err)
					}
				}
			})
		}
	}
}
