package chart

import (
	"fmt"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/retrylab/retrylab/internal/profile"
)

// maxAttemptsShown is the widest attempts histogram drawn; larger counts share the last bar.
const maxAttemptsShown = 30

// attemptsFigure: how many attempts each operation took, against the allowed maximum.
func attemptsFigure(a *aggregator, in Input) (*figure, error) {
	allowed := profile.DefaultMaxAttempts
	if in.Profile != nil && in.Profile.Analysis.MaxAttempts > 0 {
		allowed = in.Profile.Analysis.MaxAttempts
	}
	p := newPanel("Attempts per operation", "attempts", "operations")
	f := newFigure(ChartAttempts, p)
	if a.opsFinal == 0 {
		emptyPanel(p, "no operations in the journal")
		return f, nil
	}
	top := 1
	for n := maxAttemptsBin; n >= 1; n-- {
		if a.attemptsHist[n] > 0 {
			top = n
			break
		}
	}
	top = max(top, allowed+1)
	last := min(top, maxAttemptsShown)
	within := make([]float64, last)
	over := make([]float64, last)
	var labels plotter.XYLabels
	names := make([]string, last)
	var nWithin, nOver int64
	for n := 1; n <= top; n++ {
		c := a.attemptsHist[n]
		i := min(n, last) - 1
		if n > allowed {
			over[i] += float64(c)
			nOver += c
		} else {
			within[i] += float64(c)
			nWithin += c
		}
	}
	for i := range last {
		names[i] = strconv.Itoa(i + 1)
		if i == last-1 && (top > last || top == maxAttemptsBin) {
			names[i] += "+"
		}
		if v := within[i] + over[i]; v > 0 {
			labels.XYs = append(labels.XYs, plotter.XY{X: float64(i), Y: v})
			labels.Labels = append(labels.Labels, groupDigits(int64(v)))
		}
	}
	bw := &bars{values: within, width: 0.6, color: colOp}
	bo := &bars{values: over, width: 0.6, color: colInjected}
	p.Add(bw, bo)
	hi := 0.0
	for i := range last {
		hi = max(hi, within[i]+over[i])
	}
	if len(labels.XYs) > 0 {
		l, err := plotter.NewLabels(labels)
		if err != nil {
			return nil, fmt.Errorf("labels: %w", err)
		}
		for i := range l.TextStyle {
			l.TextStyle[i] = textStyle(8, colMuted)
			l.TextStyle[i].XAlign = draw.XCenter
		}
		l.Offset = vg.Point{Y: 2}
		p.Add(l)
	}
	// A logarithmic count axis when the tail would otherwise be invisible next to the
	// single-attempt bar.
	lo := math.Inf(1)
	for i := range last {
		if v := within[i] + over[i]; v > 0 {
			lo = min(lo, v)
		}
	}
	if hi/lo > 20 {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
		p.Y.Min, p.Y.Max = 0.7, hi*2.5
		p.Y.Label.Text = "operations (log scale)"
	} else {
		p.Y.Min, p.Y.Max = 0, hi*1.12
	}
	ticks := make([]plot.Tick, last)
	for i := range last {
		ticks[i] = plot.Tick{Value: float64(i), Label: names[i]}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = -0.6, float64(last)-0.4
	f.add(countLabel(fmt.Sprintf("≤ %d attempts", allowed), nWithin), bw)
	f.add(countLabel(fmt.Sprintf("> %d attempts (max_attempts)", allowed), nOver), bo)
	return f, nil
}
