package objstore_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"git.awesomike.com/pub/waymaker-client/go/objstore"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Put and Get an object. (Runnable examples against a server live in
// server/e2e.)
func Example() {
	ctx := context.Background()
	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	store, err := objstore.New(conn).GetOrCreateStore(ctx, objstore.Config{Name: "reports"})
	if err != nil {
		panic(err)
	}
	info, err := store.Put(ctx, objstore.ObjectMeta{Name: "q3.csv"}, strings.NewReader("a,b\n1,2\n"))
	if err != nil {
		panic(err)
	}
	fmt.Println(info.Size, info.Digest())
	r, err := store.Get(ctx, "q3.csv", objstore.WithProgress(func(done, total int64) {
		fmt.Printf("%d/%d\n", done, total)
	}))
	if err != nil {
		panic(err)
	}
	defer r.Close()
	_, err = io.Copy(os.Stdout, r) // io.EOF only after the digest matched
	if err != nil {
		panic(err)
	}
}
