package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/objstore"
)

func init() { register(60, "object store: chunked, digest-checked objects", tourObjects) }

func tourObjects(ctx context.Context, c *waymaker.Client) error {
	store, err := c.GetOrCreateObjectStore(ctx, waymaker.ObjectStoreConfig{Name: "tour-objects", Description: "tour", MaxBytes: 64 << 20})
	if err != nil {
		return err
	}
	data := make([]byte, 1<<20+123)
	_, _ = rand.Read(data)
	info, err := store.Put(ctx, waymaker.ObjectMeta{Name: "blob.bin", Metadata: map[string]string{"kind": "random"}}, bytes.NewReader(data))
	if err != nil {
		return err
	}
	fmt.Printf("Put blob.bin: %d bytes in %d chunks of %d, sha256 %s…\n", info.Size, info.Chunks, info.ChunkSize, info.Digest()[:16])

	r, err := store.Get(ctx, "blob.bin", objstore.WithProgress(func(done, total int64) {
		if done == total {
			fmt.Printf("Get progress: %d/%d bytes\n", done, total)
		}
	}))
	if err != nil {
		return err
	}
	got, err := io.ReadAll(r) // io.EOF only once the digest matched
	r.Close()
	if err != nil {
		return err
	}
	fmt.Printf("Get blob.bin: %d bytes, identical: %v\n", len(got), bytes.Equal(got, data))

	_, err = store.PutBytes(ctx, "blob.bin", []byte("tampered"), objstore.WithSHA256(info.SHA256))
	fmt.Printf("Put with a digest that does not match -> digest mismatch: %v\n", errors.Is(err, waymaker.ErrDigestMismatch))
	if cur, err := store.GetInfo(ctx, "blob.bin"); err == nil {
		fmt.Printf("the earlier version is intact: revision %d, %d bytes\n", cur.Revision, cur.Size)
	}

	_, err = store.PutBytes(ctx, "huge.bin", make([]byte, 65<<20))
	fmt.Printf("Put over MaxBytes -> limit exceeded: %v\n", errors.Is(err, waymaker.ErrLimitExceeded))

	objs, err := store.Objects(ctx)
	if err != nil {
		return err
	}
	for _, o := range objs {
		fmt.Printf("List: %s (%d bytes, metadata %v)\n", o.Name, o.Size, o.Metadata)
	}
	if err := store.Delete(ctx, "blob.bin"); err != nil {
		return err
	}
	_, err = store.GetInfo(ctx, "blob.bin")
	fmt.Printf("after Delete, GetInfo -> not found: %v\n", errors.Is(err, waymaker.ErrNotFound))
	return c.DeleteObjectStore(ctx, "tour-objects")
}
