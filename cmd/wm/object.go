package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"git.awesomike.com/pub/waymaker-client/go/objstore"
)

type objectJSON struct {
	Store       string     `json:"store"`
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Size        int64      `json:"size"`
	Chunks      int64      `json:"chunks"`
	SHA256      string     `json:"digest"`
	Revision    uint64     `json:"revision"`
	ModTime     *time.Time `json:"mod_time,omitempty"`
}

func objectOf(i objstore.ObjectInfo) objectJSON {
	return objectJSON{Store: i.Store, Name: i.Name, Description: i.Description, Size: i.Size, Chunks: i.Chunks,
		SHA256: i.Digest(), Revision: i.Revision, ModTime: tsJSON(i.ModTime)}
}

type objStoreJSON struct {
	Name     string     `json:"name"`
	Objects  int64      `json:"objects"`
	Bytes    int64      `json:"bytes"`
	MaxBytes int64      `json:"max_bytes"`
	Revision uint64     `json:"revision"`
	Created  *time.Time `json:"created,omitempty"`
}

func objStoreOf(s objstore.Status) objStoreJSON {
	return objStoreJSON{Name: s.Config.Name, Objects: s.Objects, Bytes: s.Bytes, MaxBytes: s.Config.MaxBytes, Revision: s.Revision, Created: tsJSON(s.Created)}
}

// bar is a byte progress bar on stderr when stderr is a terminal (or
// --progress=always), else nil.
func (a *app) bar(size int64, desc string) *progressbar.ProgressBar {
	switch a.progress {
	case "never":
		return nil
	case "always":
	default:
		if !isTerminal(a.stderr) {
			return nil
		}
	}
	return progressbar.NewOptions64(size,
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(a.stderr) }),
	)
}

func (a *app) objectCmd() *cobra.Command {
	ls := &cobra.Command{
		Use: "ls [STORE]", Short: "list object stores, or a store's objects", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				if len(args) == 0 {
					out := []objStoreJSON{}
					for s, err := range c.Objects().List(ctx) {
						if err != nil {
							return err
						}
						out = append(out, objStoreOf(s))
					}
					return a.emit(out, func(w io.Writer) {
						row(w, "STORE", "OBJECTS", "BYTES", "CREATED")
						for _, s := range out {
							row(w, s.Name, s.Objects, bytesText(s.Bytes), tsPtr(s.Created))
						}
					})
				}
				s, err := c.Objects().Store(ctx, args[0])
				if err != nil {
					return err
				}
				objs, err := s.Objects(ctx)
				if err != nil {
					return err
				}
				out := []objectJSON{}
				for _, o := range objs {
					out = append(out, objectOf(o))
				}
				return a.emit(out, func(w io.Writer) {
					row(w, "NAME", "SIZE", "REVISION", "MODIFIED", "DIGEST")
					for _, o := range out {
						row(w, o.Name, bytesText(o.Size), o.Revision, tsPtr(o.ModTime), o.SHA256)
					}
				})
			})
		},
	}
	var maxBytes int64
	var ttl time.Duration
	add := &cobra.Command{
		Use: "add STORE", Short: "create an object store", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				s, err := c.Objects().CreateStore(ctx, objstore.Config{Name: args[0], MaxBytes: maxBytes, TTL: ttl})
				if err != nil {
					return err
				}
				st, err := s.Status(ctx)
				if err != nil {
					return err
				}
				j := objStoreOf(st)
				return a.emit(j, func(w io.Writer) { fmt.Fprintln(w, "created object store", j.Name) })
			})
		},
	}
	add.Flags().Int64Var(&maxBytes, "max-bytes", 0, "bound on the store's size (default none)")
	add.Flags().DurationVar(&ttl, "ttl", 0, "how long an object lives (default forever)")
	info := &cobra.Command{
		Use: "info STORE [NAME]", Short: "a store's size, or an object's", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				s, err := c.Objects().Store(ctx, args[0])
				if err != nil {
					return err
				}
				if len(args) == 1 {
					st, err := s.Status(ctx)
					if err != nil {
						return err
					}
					j := objStoreOf(st)
					return a.emit(j, func(w io.Writer) {
						kvTable(w, "store", j.Name, "objects", j.Objects, "bytes", bytesText(j.Bytes), "max bytes", j.MaxBytes, "revision", j.Revision, "created", tsPtr(j.Created))
					})
				}
				o, err := s.GetInfo(ctx, args[1])
				if err != nil {
					return err
				}
				return a.printObject(objectOf(o))
			})
		},
	}
	put := &cobra.Command{
		Use: "put STORE NAME FILE|-", Short: "upload a file (- reads stdin)", Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = a.stdin
			size := int64(-1)
			if args[2] != "-" {
				f, err := os.Open(args[2])
				if err != nil {
					return usagef("FILE: %v", err)
				}
				defer f.Close()
				if st, err := f.Stat(); err == nil {
					size = st.Size()
				}
				r = f
			}
			// An upload takes what its size needs: --timeout bounds each
			// chunk's call, not the whole transfer.
			ctx := cmd.Context()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			s, err := c.Objects().Store(ctx, args[0])
			if err != nil {
				return err
			}
			if b := a.bar(size, "put "+args[1]); b != nil {
				pr := progressbar.NewReader(r, b)
				r = &pr
				defer b.Close()
			}
			o, err := s.Put(ctx, objstore.ObjectMeta{Name: args[1]}, r)
			if err != nil {
				return err
			}
			return a.printObject(objectOf(o))
		},
	}
	get := &cobra.Command{
		Use: "get STORE NAME [FILE|-]", Short: "download an object to FILE (stdout when - or missing)", Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			s, err := c.Objects().Store(ctx, args[0])
			if err != nil {
				return err
			}
			rd, err := s.Get(ctx, args[1])
			if err != nil {
				return err
			}
			defer rd.Close()
			var w io.Writer = a.stdout
			toFile := len(args) == 3 && args[2] != "-"
			var f *os.File
			if toFile {
				if f, err = os.Create(args[2]); err != nil {
					return usagef("FILE: %v", err)
				}
				w = f
			}
			var src io.Reader = rd
			if b := a.bar(rd.Info().Size, "get "+args[1]); b != nil {
				pr := progressbar.NewReader(rd, b)
				src = &pr
				defer b.Close()
			}
			_, err = io.Copy(w, src)
			if f != nil {
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				return err
			}
			if toFile {
				return a.printObject(objectOf(rd.Info()))
			}
			return nil
		},
	}
	rm := &cobra.Command{
		Use: "rm STORE [NAME]", Short: "delete an object, or (without NAME) the whole store", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return a.simple(cmd, func(c clientT) error { return c.Objects().DeleteStore(cmd.Context(), args[0]) },
					map[string]any{"store": args[0], "deleted": true}, "deleted object store "+args[0])
			}
			return a.simple(cmd, func(c clientT) error {
				s, err := c.Objects().Store(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return s.Delete(cmd.Context(), args[1])
			}, map[string]any{"store": args[0], "name": args[1], "deleted": true}, "deleted "+args[0]+"/"+args[1])
		},
	}
	cmd := group("object", "object stores: chunked files with digests", ls, add, info, put, get, rm)
	cmd.PersistentFlags().StringVar(&a.progress, "progress", "auto", "progress bar on stderr for put and get: auto (when stderr is a terminal), always or never")
	return cmd
}

func (a *app) printObject(o objectJSON) error {
	return a.emit(o, func(w io.Writer) {
		kvTable(w, "store", o.Store, "name", o.Name, "size", bytesText(o.Size), "chunks", o.Chunks,
			"revision", o.Revision, "modified", tsPtr(o.ModTime), "digest", o.SHA256)
	})
}
