package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"git.awesomike.com/pub/waymaker-client/go/kv"
)

type bucketJSON struct {
	Name         string     `json:"name"`
	Description  string     `json:"description,omitempty"`
	History      int        `json:"history"`
	TTLMs        int64      `json:"ttl_ms"`
	MaxValueSize int64      `json:"max_value_size"`
	MaxBytes     int64      `json:"max_bytes"`
	Values       int64      `json:"values"`
	Entries      int64      `json:"entries"`
	Bytes        int64      `json:"bytes"`
	Revision     uint64     `json:"revision"`
	Created      *time.Time `json:"created,omitempty"`
}

func bucketOf(s *kv.Status) bucketJSON {
	return bucketJSON{Name: s.Config.Name, Description: s.Config.Description, History: s.Config.History,
		TTLMs: s.Config.TTL.Milliseconds(), MaxValueSize: s.Config.MaxValueSize, MaxBytes: s.Config.MaxBytes,
		Values: s.Values, Entries: s.Entries, Bytes: s.Bytes, Revision: s.Revision, Created: tsJSON(s.Created)}
}

type entryJSON struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Revision  uint64 `json:"revision"`
	Operation string `json:"operation"`
	value
	Created *time.Time `json:"created,omitempty"`
}

func entryOf(e *kv.Entry) entryJSON {
	j := entryJSON{Bucket: e.Bucket, Key: e.Key, Revision: e.Revision, Operation: strings.ToLower(e.Operation.String()), Created: tsJSON(e.Created)}
	if e.Operation == kv.OpPut {
		j.value = valueOf(e.Value)
	}
	return j
}

type revJSON struct {
	Bucket   string `json:"bucket"`
	Key      string `json:"key"`
	Revision uint64 `json:"revision"`
}

func (a *app) kvCmd() *cobra.Command {
	var history int
	var ttl time.Duration
	var maxValue, maxBytes int64
	var desc string
	add := &cobra.Command{
		Use: "add BUCKET", Short: "create a bucket", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			b, err := c.KeyValue().Create(ctx, kv.Config{Name: args[0], Description: desc, History: history, TTL: ttl, MaxValueSize: maxValue, MaxBytes: maxBytes})
			if err != nil {
				return err
			}
			st, err := b.Status(ctx)
			if err != nil {
				return err
			}
			return a.printBucket(st)
		},
	}
	add.Flags().IntVar(&history, "history", 0, "values kept per key (default the server's, 1)")
	add.Flags().DurationVar(&ttl, "ttl", 0, "how long a value lives (default forever)")
	add.Flags().Int64Var(&maxValue, "max-value-size", 0, "largest value in bytes (default the server's)")
	add.Flags().Int64Var(&maxBytes, "max-bytes", 0, "bound on the bucket's size (default none)")
	add.Flags().StringVar(&desc, "description", "", "what the bucket is for")

	ls := &cobra.Command{
		Use: "ls", Short: "list buckets", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			out := []bucketJSON{}
			for st, err := range c.KeyValue().List(ctx) {
				if err != nil {
					return err
				}
				out = append(out, bucketOf(st))
			}
			return a.emit(out, func(w io.Writer) {
				row(w, "BUCKET", "VALUES", "BYTES", "REVISION", "HISTORY", "TTL", "CREATED")
				for _, b := range out {
					row(w, b.Name, b.Values, bytesText(b.Bytes), b.Revision, b.History, dur(time.Duration(b.TTLMs)*time.Millisecond), tsPtr(b.Created))
				}
			})
		},
	}
	info := &cobra.Command{
		Use: "info BUCKET", Short: "a bucket's configuration and size", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			st, err := c.KeyValue().Bucket(args[0]).Status(ctx)
			if err != nil {
				return err
			}
			return a.printBucket(st)
		},
	}
	rm := &cobra.Command{
		Use: "rm BUCKET", Short: "delete a bucket and everything in it", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.simple(cmd, func(c clientT) error { return c.KeyValue().Delete(cmd.Context(), args[0]) },
				map[string]any{"bucket": args[0], "deleted": true}, "deleted bucket "+args[0])
		},
	}
	var raw bool
	get := &cobra.Command{
		Use: "get BUCKET KEY", Short: "a key's latest value", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			e, err := c.KeyValue().Bucket(args[0]).Get(ctx, args[1])
			if err != nil {
				return err
			}
			if raw {
				_, err := a.stdout.Write(e.Value)
				return err
			}
			j := entryOf(e)
			return a.emit(j, func(w io.Writer) {
				kvTable(w, "key", j.Key, "revision", j.Revision, "created", tsPtr(j.Created), "value", j.value)
			})
		},
	}
	get.Flags().BoolVar(&raw, "raw", false, "print the value's bytes alone, as stored")
	write := func(use, short string, nargs int, op func(b *kv.Bucket, cmd *cobra.Command, key string, v []byte) (uint64, error)) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.RangeArgs(nargs-1, nargs),
			RunE: func(cmd *cobra.Command, args []string) error {
				v, err := a.payload(args, nargs-1)
				if err != nil {
					return err
				}
				ctx, cancel := a.oneShot(cmd)
				defer cancel()
				c, err := a.connect(ctx)
				if err != nil {
					return err
				}
				cmd.SetContext(ctx)
				rev, err := op(c.KeyValue().Bucket(args[0]), cmd, args[1], v)
				if err != nil {
					return err
				}
				return a.printRev(args[0], args[1], rev)
			},
		}
	}
	put := write("put BUCKET KEY [VALUE|-]", "store a value (from stdin when VALUE is - or missing)", 3,
		func(b *kv.Bucket, cmd *cobra.Command, k string, v []byte) (uint64, error) {
			return b.Put(cmd.Context(), k, v)
		})
	create := write("create BUCKET KEY [VALUE|-]", "store a value only if the key has none (else: exists)", 3,
		func(b *kv.Bucket, cmd *cobra.Command, k string, v []byte) (uint64, error) {
			return b.Create(cmd.Context(), k, v)
		})
	var rev uint64
	update := write("update BUCKET KEY [VALUE|-] --rev N", "store a value only if the key's revision is N (else: wrong_revision)", 3,
		func(b *kv.Bucket, cmd *cobra.Command, k string, v []byte) (uint64, error) {
			return b.Update(cmd.Context(), k, v, rev)
		})
	update.Flags().Uint64Var(&rev, "rev", 0, "the revision the key must be at")
	_ = update.MarkFlagRequired("rev")

	var purge bool
	var delRev uint64
	del := &cobra.Command{
		Use: "del BUCKET KEY", Short: "delete a key (a delete marker; --purge drops its history too)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			var opts []kv.DeleteOption
			if cmd.Flags().Changed("rev") {
				opts = append(opts, kv.LastRevision(delRev))
			}
			b := c.KeyValue().Bucket(args[0])
			var r uint64
			if purge {
				r, err = b.Purge(ctx, args[1], opts...)
			} else {
				r, err = b.Delete(ctx, args[1], opts...)
			}
			if err != nil {
				return err
			}
			return a.printRev(args[0], args[1], r)
		},
	}
	del.Flags().BoolVar(&purge, "purge", false, "drop the key's history as well")
	del.Flags().Uint64Var(&delRev, "rev", 0, "delete only if the key's revision is this")

	hist := &cobra.Command{
		Use: "history BUCKET KEY", Short: "a key's kept values, oldest first", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			es, err := c.KeyValue().Bucket(args[0]).History(ctx, args[1])
			if err != nil {
				return err
			}
			out := make([]entryJSON, len(es))
			for i, e := range es {
				out[i] = entryOf(e)
			}
			return a.emit(out, func(w io.Writer) {
				row(w, "REVISION", "OPERATION", "CREATED", "VALUE")
				for _, e := range out {
					row(w, e.Revision, e.Operation, tsPtr(e.Created), e.value)
				}
			})
		},
	}
	var match string
	keys := &cobra.Command{
		Use: "keys BUCKET", Short: "a bucket's live keys (--match a subject pattern: a.*, a.>)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			b := c.KeyValue().Bucket(args[0])
			l := b.Keys(ctx)
			if match != "" {
				l = b.KeysMatching(ctx, match)
			}
			out := []string{}
			for k, err := range l.All() {
				if err != nil {
					return err
				}
				out = append(out, k)
			}
			return a.emit(out, func(w io.Writer) {
				for _, k := range out {
					row(w, k)
				}
			})
		},
	}
	keys.Flags().StringVar(&match, "match", "", "only keys matching this pattern")

	var updatesOnly bool
	watch := &cobra.Command{
		Use: "watch BUCKET [KEY-PATTERN]", Short: "print the current values, then every change, until Ctrl-C", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			pattern := ">"
			if len(args) == 2 {
				pattern = args[1]
			}
			var opts []kv.WatchOption
			if updatesOnly {
				opts = append(opts, kv.UpdatesOnly())
			}
			w, err := c.KeyValue().Bucket(args[0]).Watch(ctx, pattern, opts...)
			if err != nil {
				return err
			}
			defer w.Stop()
			for ev, err := range w.All() {
				if err != nil {
					return stopped(ctx, err)
				}
				if ev.InitialDone {
					if !a.json {
						fmt.Fprintln(a.stderr, "-- current values done; watching for changes")
					}
					continue
				}
				j := entryOf(ev.Entry())
				if err := a.line(j, fmt.Sprintf("%s rev=%d %s %s", j.Operation, j.Revision, j.Key, j.value)); err != nil {
					return err
				}
			}
			return nil
		},
	}
	watch.Flags().BoolVar(&updatesOnly, "updates-only", false, "skip the current values")

	return group("kv", "KV buckets: revisions, compare-and-set, history, watch", ls, info, add, rm, get, put, create, update, del, hist, keys, watch)
}

func (a *app) printBucket(st *kv.Status) error {
	b := bucketOf(st)
	return a.emit(b, func(w io.Writer) {
		kvTable(w, "bucket", b.Name, "description", b.Description, "values", b.Values, "entries", b.Entries,
			"bytes", bytesText(b.Bytes), "revision", b.Revision, "history", b.History,
			"ttl", dur(time.Duration(b.TTLMs)*time.Millisecond), "max value size", b.MaxValueSize,
			"max bytes", b.MaxBytes, "created", tsPtr(b.Created))
	})
}

func (a *app) printRev(bucket, key string, rev uint64) error {
	j := revJSON{Bucket: bucket, Key: key, Revision: rev}
	return a.emit(j, func(w io.Writer) { row(w, fmt.Sprintf("%s %s revision %d", bucket, key, rev)) })
}
