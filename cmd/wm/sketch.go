package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"git.awesomike.com/pub/waymaker-client/go/sketch"
)

type sketchJSON struct {
	Name      string     `json:"name"`
	Kind      string     `json:"kind"`
	SizeBytes int64      `json:"size_bytes"`
	Created   *time.Time `json:"created,omitempty"`
}

var sketchKinds = map[string]sketch.Kind{"": sketch.KindAny, "bloom": sketch.KindBloom, "hll": sketch.KindHLL,
	"cms": sketch.KindCMS, "topk": sketch.KindTopK, "tdigest": sketch.KindTDigest}

func items(args []string) [][]byte {
	out := make([][]byte, len(args))
	for i, s := range args {
		out[i] = []byte(s)
	}
	return out
}

func floats(field string, args []string) ([]float64, error) {
	out := make([]float64, len(args))
	for i, s := range args {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, usagef("%s %q: want a number", field, s)
		}
		out[i] = f
	}
	return out, nil
}

func (a *app) sketchCmd() *cobra.Command {
	var kind string
	ls := &cobra.Command{
		Use: "ls", Short: "list sketches (--kind bloom|hll|cms|topk|tdigest)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, ok := sketchKinds[kind]
			if !ok {
				return usagef("--kind %q: want bloom, hll, cms, topk or tdigest", kind)
			}
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				out := []sketchJSON{}
				for i, err := range c.Sketches().List(ctx, k) {
					if err != nil {
						return err
					}
					out = append(out, sketchJSON{i.Name, i.Kind.String(), i.SizeBytes, tsJSON(i.CreatedAt)})
				}
				return a.emit(out, func(w io.Writer) {
					row(w, "SKETCH", "KIND", "SIZE", "CREATED")
					for _, s := range out {
						row(w, s.Name, s.Kind, bytesText(s.SizeBytes), tsPtr(s.Created))
					}
				})
			})
		},
	}
	ls.Flags().StringVar(&kind, "kind", "", "only sketches of this kind")
	info := &cobra.Command{
		Use: "info NAME", Short: "a sketch's kind and size", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				i, err := c.Sketches().Info(ctx, args[0])
				if err != nil {
					return err
				}
				j := sketchJSON{i.Name, i.Kind.String(), i.SizeBytes, tsJSON(i.CreatedAt)}
				return a.emit(j, func(w io.Writer) {
					kvTable(w, "sketch", j.Name, "kind", j.Kind, "size", bytesText(j.SizeBytes), "created", tsPtr(j.Created))
				})
			})
		},
	}
	rm := &cobra.Command{
		Use: "rm NAME", Short: "delete a sketch", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.simple(cmd, func(c clientT) error { return c.Sketches().Delete(cmd.Context(), args[0]) },
				map[string]any{"sketch": args[0], "deleted": true}, "deleted sketch "+args[0])
		},
	}

	// create
	var capacity uint64
	var errRate float64
	var precision uint8
	var width, depth, k uint32
	var compression float64
	create := &cobra.Command{
		Use: "create bloom|hll|cms|topk|tdigest NAME", Short: "create a sketch", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[1]
			var mk func(ctx context.Context, c clientT) error
			switch args[0] {
			case "bloom":
				mk = func(ctx context.Context, c clientT) error {
					_, err := c.Sketches().CreateBloom(ctx, sketch.BloomConfig{Name: name, Capacity: capacity, ErrorRate: errRate})
					return err
				}
			case "hll":
				mk = func(ctx context.Context, c clientT) error {
					_, err := c.Sketches().CreateHLL(ctx, sketch.HLLConfig{Name: name, Precision: precision})
					return err
				}
			case "cms":
				mk = func(ctx context.Context, c clientT) error {
					_, err := c.Sketches().CreateCMS(ctx, sketch.CMSConfig{Name: name, Width: width, Depth: depth})
					return err
				}
			case "topk":
				mk = func(ctx context.Context, c clientT) error {
					_, err := c.Sketches().CreateTopK(ctx, sketch.TopKConfig{Name: name, K: k, Width: width, Depth: depth})
					return err
				}
			case "tdigest":
				mk = func(ctx context.Context, c clientT) error {
					_, err := c.Sketches().CreateTDigest(ctx, sketch.TDigestConfig{Name: name, Compression: compression})
					return err
				}
			default:
				return usagef("sketch kind %q: want bloom, hll, cms, topk or tdigest", args[0])
			}
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				if err := mk(ctx, c); err != nil {
					return err
				}
				return a.emit(map[string]any{"sketch": name, "kind": args[0], "created": true},
					func(w io.Writer) { fmt.Fprintf(w, "created %s %s\n", args[0], name) })
			})
		},
	}
	cf := create.Flags()
	cf.Uint64Var(&capacity, "capacity", 0, "bloom: expected items (default the server's)")
	cf.Float64Var(&errRate, "error-rate", 0, "bloom: false-positive rate (default the server's)")
	cf.Uint8Var(&precision, "precision", 0, "hll: precision bits (default the server's)")
	cf.Uint32Var(&width, "width", 0, "cms, topk: counters per row")
	cf.Uint32Var(&depth, "depth", 0, "cms, topk: rows")
	cf.Uint32Var(&k, "k", 0, "topk: how many top items are kept")
	cf.Float64Var(&compression, "compression", 0, "tdigest: compression (default the server's)")

	add := &cobra.Command{
		Use: "add NAME ITEM...", Short: "add items: to a bloom, hll or topk by item, to a tdigest by number; to a cms by one", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				i, err := c.Sketches().Info(ctx, args[0])
				if err != nil {
					return err
				}
				s := c.Sketches()
				var res any
				switch i.Kind {
				case sketch.KindBloom:
					res, err = s.Bloom(args[0]).MAdd(ctx, items(args[1:])...)
				case sketch.KindHLL:
					res, err = s.HLL(args[0]).Add(ctx, items(args[1:])...)
				case sketch.KindTopK:
					var dropped [][]byte
					dropped, err = s.TopK(args[0]).Add(ctx, items(args[1:])...)
					res = len(dropped)
				case sketch.KindCMS:
					incs := make([]sketch.Increment, len(args)-1)
					for j, it := range args[1:] {
						incs[j] = sketch.Increment{Item: []byte(it), N: 1}
					}
					res, err = s.CMS(args[0]).MIncrBy(ctx, incs...)
				case sketch.KindTDigest:
					var vs []float64
					if vs, err = floats("value", args[1:]); err == nil {
						err = s.TDigest(args[0]).Add(ctx, vs...)
						res = len(vs)
					}
				}
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"sketch": args[0], "kind": i.Kind.String(), "result": res},
					func(w io.Writer) { fmt.Fprintf(w, "%s %s: %v\n", i.Kind, args[0], res) })
			})
		},
	}
	query := &cobra.Command{
		Use:   "query NAME [ITEM|QUANTILE...]",
		Short: "ask a sketch: bloom exists, hll count, cms counts, topk list, tdigest quantiles",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				i, err := c.Sketches().Info(ctx, args[0])
				if err != nil {
					return err
				}
				s := c.Sketches()
				var res any
				switch i.Kind {
				case sketch.KindBloom:
					if len(args) < 2 {
						return usagef("bloom %s: name the items to test", args[0])
					}
					var ok []bool
					ok, err = s.Bloom(args[0]).MExists(ctx, items(args[1:])...)
					m := map[string]bool{}
					for j, b := range ok {
						m[args[j+1]] = b
					}
					res = m
				case sketch.KindHLL:
					res, err = s.HLL(args[0]).Count(ctx)
				case sketch.KindCMS:
					if len(args) < 2 {
						return usagef("cms %s: name the items to count", args[0])
					}
					var ns []int64
					ns, err = s.CMS(args[0]).Query(ctx, items(args[1:])...)
					m := map[string]int64{}
					for j, n := range ns {
						m[args[j+1]] = n
					}
					res = m
				case sketch.KindTopK:
					var top []sketch.TopKItem
					top, err = s.TopK(args[0]).List(ctx)
					type ic struct {
						Item  string `json:"item"`
						Count int64  `json:"count"`
					}
					l := []ic{}
					for _, t := range top {
						l = append(l, ic{string(t.Item), t.Count})
					}
					res = l
				case sketch.KindTDigest:
					var qs, vs []float64
					if qs, err = floats("quantile", args[1:]); err != nil {
						return err
					}
					if len(qs) == 0 {
						qs = []float64{0.5, 0.9, 0.99}
					}
					vs, err = s.TDigest(args[0]).Quantile(ctx, qs...)
					m := map[string]float64{}
					for j, v := range vs {
						m[strconv.FormatFloat(qs[j], 'g', -1, 64)] = v
					}
					res = m
				}
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"sketch": args[0], "kind": i.Kind.String(), "result": res},
					func(w io.Writer) { fmt.Fprintf(w, "%s %s: %v\n", i.Kind, args[0], res) })
			})
		},
	}
	return group("sketch", "probabilistic sketches: bloom, hll, cms, topk, tdigest", ls, info, create, rm, add, query)
}
