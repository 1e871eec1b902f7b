package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// chart draws the scaling curves of one case at one payload size: throughput
// and p50 latency against concurrency, one line per side, side by side in
// one PNG. It returns the file name (relative to dir), or "" when the case
// has a single concurrency level.
func chart(dir string, r *Result, payload int) (name string, err error) {
	defer func() {
		// A chart is an illustration: a plotting failure must not cost the
		// report its tables.
		if p := recover(); p != nil {
			name, err = "", fmt.Errorf("plotting %s: %v", r.Case.ID(), p)
		}
	}()
	var concs []int
	for _, pt := range r.Points {
		if pt.Payload == payload {
			concs = append(concs, pt.Conc)
		}
	}
	if len(concs) < 2 {
		return "", nil
	}
	title := r.Case.ID()
	if len(r.Case.Payloads) > 0 {
		title += ", " + fmtBytes(payload)
	}
	xlabel := "concurrency (workers)"
	if r.Case.FanOut != "" {
		xlabel = r.Case.FanOut
	}
	tp := plot.New()
	tp.Title.Text = title + ": throughput"
	tp.X.Label.Text = xlabel
	tp.Y.Label.Text = "ops/s (median of rounds)"
	lp := plot.New()
	lp.Title.Text = title + ": p50 latency"
	lp.X.Label.Text = xlabel
	lp.Y.Label.Text = "p50 latency (µs)"
	var ticks []plot.Tick
	for _, c := range concs {
		ticks = append(ticks, plot.Tick{Value: float64(c), Label: fmt.Sprint(c)})
	}
	for _, p := range []*plot.Plot{tp, lp} {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		p.Legend.Top = true
		p.Legend.Left = true
		p.Add(plotter.NewGrid())
	}
	var tArgs, lArgs []any
	for _, sd := range r.Case.Sides {
		var txy, lxy plotter.XYs
		for _, c := range concs {
			s := r.Samples[Point{Conc: c, Payload: payload}][sd.Label]
			if s == nil || s.Err != "" || s.Skipped != "" || len(s.Rates) == 0 {
				continue
			}
			txy = append(txy, plotter.XY{X: float64(c), Y: s.Rate()})
			lxy = append(lxy, plotter.XY{X: float64(c), Y: float64(s.P50.Nanoseconds()) / 1e3})
		}
		if len(txy) == 0 {
			continue
		}
		tArgs = append(tArgs, sd.Label, txy)
		lArgs = append(lArgs, sd.Label, lxy)
	}
	if len(tArgs) == 0 {
		return "", nil
	}
	if err := plotutil.AddLinePoints(tp, tArgs...); err != nil {
		return "", err
	}
	if err := plotutil.AddLinePoints(lp, lArgs...); err != nil {
		return "", err
	}
	// Sides differ by orders of magnitude (durable vs in-memory): a log
	// axis keeps every line readable when they do.
	for _, pl := range []struct {
		p   *plot.Plot
		xys []any
	}{{tp, tArgs}, {lp, lArgs}} {
		lo, hi := math.Inf(1), 0.0
		for _, a := range pl.xys {
			if xys, ok := a.(plotter.XYs); ok {
				for _, xy := range xys {
					lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
				}
			}
		}
		if lo > 0 && hi/lo > 20 {
			pl.p.Y.Min, pl.p.Y.Max = lo/1.2, hi*1.2
			pl.p.Y.Scale = plot.LogScale{}
			pl.p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
			pl.p.Y.Label.Text += " (log)"
		} else {
			pl.p.Y.Min = 0
		}
	}

	img := vgimg.New(vg.Points(1000), vg.Points(380))
	dc := draw.New(img)
	canvases := plot.Align([][]*plot.Plot{{tp, lp}}, draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Points(12), PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}, dc)
	tp.Draw(canvases[0][0])
	lp.Draw(canvases[0][1])

	name = strings.ReplaceAll(r.Case.ID(), ".", "-")
	if len(r.Case.Payloads) > 0 {
		name += "-" + strings.ReplaceAll(fmtBytes(payload), " ", "")
	}
	name += ".png"
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return "", err
	}
	return name, f.Close()
}
