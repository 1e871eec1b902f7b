package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server"
)

// retention is the part of server.Config the retention flags set.
type retention struct {
	snapshotThreshold, trailingLogs       uint64
	snapshotInterval                      time.Duration
	snapshotThresholdBytes, trailingBytes int64
}

func retentionOf(c server.Config) retention {
	return retention{c.SnapshotThreshold, c.TrailingLogs, c.SnapshotInterval, c.SnapshotThresholdBytes, c.TrailingBytes}
}

// Each retention flag reaches server.Config, counts as counts and sizes in
// bytes or with a unit; unset and 0 leave the field zero (the server's
// default) and off makes a byte setting negative (off).
func TestRetentionFlagsReachConfig(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want retention
	}{
		{nil, retention{}},
		{[]string{"--snapshot-threshold", "64", "--trailing-logs", "128", "--snapshot-interval", "250ms",
			"--snapshot-threshold-bytes", "256MiB", "--trailing-bytes", "4096"},
			retention{64, 128, 250 * time.Millisecond, 256 << 20, 4096}},
		{[]string{"--snapshot-threshold-bytes", "2GiB", "--trailing-bytes", "512KiB"},
			retention{snapshotThresholdBytes: 2 << 30, trailingBytes: 512 << 10}},
		{[]string{"--snapshot-threshold-bytes", "100B", "--trailing-bytes", "1MiB"},
			retention{snapshotThresholdBytes: 100, trailingBytes: 1 << 20}},
		{[]string{"--snapshot-threshold-bytes", "off", "--trailing-bytes", "off"},
			retention{snapshotThresholdBytes: -1, trailingBytes: -1}},
		{[]string{"--snapshot-threshold", "0", "--trailing-logs", "0", "--snapshot-interval", "0",
			"--snapshot-threshold-bytes", "0", "--trailing-bytes", "0MiB"},
			retention{}},
	} {
		o, err := parse(tc.args, io.Discard)
		if err != nil {
			t.Errorf("parse(%q): %v", tc.args, err)
			continue
		}
		if got := retentionOf(o.config(nil, "")); got != tc.want {
			t.Errorf("parse(%q): server.Config retention %+v, want %+v", tc.args, got, tc.want)
		}
	}
}

// A negative, malformed or out-of-range retention value fails before
// anything is opened or started, with an error naming the flag.
func TestRetentionFlagsRejected(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--snapshot-threshold", "-1"}, "--snapshot-threshold"},
		{[]string{"--snapshot-threshold", "many"}, "--snapshot-threshold"},
		{[]string{"--snapshot-threshold", "64MiB"}, "--snapshot-threshold"},
		{[]string{"--trailing-logs", "-64"}, "--trailing-logs"},
		{[]string{"--trailing-logs", "1.5"}, "--trailing-logs"},
		{[]string{"--snapshot-interval", "-1s"}, "--snapshot-interval"},
		{[]string{"--snapshot-interval", "1ms"}, "--snapshot-interval"},
		{[]string{"--snapshot-interval", "soon"}, "snapshot-interval"},
		{[]string{"--snapshot-threshold-bytes", "-1"}, "--snapshot-threshold-bytes"},
		{[]string{"--snapshot-threshold-bytes", "-1MiB"}, "--snapshot-threshold-bytes"},
		{[]string{"--snapshot-threshold-bytes", "12MB"}, "--snapshot-threshold-bytes"},
		{[]string{"--snapshot-threshold-bytes", "MiB"}, "--snapshot-threshold-bytes"},
		{[]string{"--snapshot-threshold-bytes", "9000000000GiB"}, "--snapshot-threshold-bytes"},
		{[]string{"--trailing-bytes", "-5"}, "--trailing-bytes"},
		{[]string{"--trailing-bytes", "lots"}, "--trailing-bytes"},
		{[]string{"--trailing-bytes", "1.5GiB"}, "--trailing-bytes"},
	} {
		dir := filepath.Join(t.TempDir(), "wm")
		var stderr bytes.Buffer
		// A value wrongly accepted starts a daemon: the bound stops it.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := run(ctx, append(tc.args, "--listen", "127.0.0.1:0", "--data-dir", dir), io.Discard, &stderr, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error naming %q", tc.args, err, tc.want)
		}
		cancel()
		if stderr.Len() > 0 {
			t.Errorf("run(%q) logged before failing:\n%s", tc.args, stderr.String())
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("run(%q) touched the data dir: %v", tc.args, err)
		}
	}
}

// --help lists every retention flag with its default.
func TestRetentionFlagsHelp(t *testing.T) {
	var out bytes.Buffer
	if _, err := parse([]string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("parse(--help) = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{
		"-snapshot-threshold entries", "0 or unset: 8192",
		"-snapshot-threshold-bytes size", "0 or unset: 1GiB",
		"-snapshot-interval duration", "0: 2m",
		"-trailing-logs entries", "0 or unset: 10240",
		"-trailing-bytes size", "0 or unset: 256MiB",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, out.String())
		}
	}
}

// A daemon on a data dir with a small --snapshot-threshold and
// --trailing-logs (and a short --snapshot-interval, so that raft looks
// within the test's bounds) snapshots after a few hundred writes and trims
// its log to the trailing entries: a snapshot is on disk, and the raft log
// no longer starts at index 1. With the server's defaults (8192 entries,
// checked every 2 minutes, 10240 kept) none of this happens.
func TestRetentionFlagsSnapshotAndTrim(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Raft logs the compaction after the snapshot is complete, at debug.
	logs := &lockedWriter{w: io.Discard, seen: make(chan struct{}), want: []byte(`"msg":"compacting logs"`)}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--data-dir", dir, "--log-level", "debug",
			"--snapshot-threshold", "64", "--trailing-logs", "64", "--snapshot-interval", "10ms"}, io.Discard, logs, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	waitServing(t, addr)

	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	c, err := waymaker.Connect(wctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.KeyValue().Create(wctx, kv.Config{Name: "retention"})
	if err != nil {
		t.Fatal(err)
	}
	// 256 puts, four times the threshold, from 8 writers so that the
	// fsyncs batch.
	const writers, each = 8, 32
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				k := fmt.Sprintf("w%d-%d", w, i)
				if _, err := b.Put(wctx, k, []byte(k)); err != nil {
					errs <- fmt.Errorf("put %s: %w", k, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := c.Close(); err != nil {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	select {
	case <-logs.seen:
	case <-time.After(5 * time.Second):
		t.Fatalf("no snapshot and compaction within 5s of %d writes with --snapshot-threshold 64 --trailing-logs 64:\n%s", writers*each, logs.String())
	}
	metas, err := filepath.Glob(filepath.Join(dir, "snapshots", "*", "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) == 0 {
		t.Errorf("raft logged a compaction but no snapshot is under %s", dir)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}

	// The daemon is stopped and its log closed: read where it starts.
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"), BoltOptions: &bbolt.Options{Timeout: time.Second, ReadOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	first, err := store.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := store.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	if first <= 1 || last-first+1 >= writers*each {
		t.Errorf("raft log holds entries %d to %d after %d writes: not trimmed to the trailing 64", first, last, writers*each)
	}
}
