package chart

import (
	"fmt"
	"math"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg/draw"
)

// retryAfterFigure: for every retry that followed a Retry-After, the delay actually waited
// against the delay announced, with the y = x line; points below it (beyond the tolerance)
// are retries sent too early and drawn in red.
func retryAfterFigure(a *aggregator, _ Input) (*figure, error) {
	p := newPanel("Retry delay against the Retry-After given", "Retry-After announced (s)", "delay before the retry (s)")
	f := newFigure(ChartRetryAfter, p)
	if a.raHonored.seen+a.raEarly.seen == 0 {
		emptyPanel(p, "no retry followed a Retry-After")
		return f, nil
	}
	lo, hi := 0.0, 0.0
	for _, r := range []*reservoir{a.raHonored, a.raEarly} {
		for _, pt := range r.pts {
			hi = math.Max(hi, math.Max(pt.x, pt.y))
			lo = math.Min(lo, pt.y) // a retry sent while the previous attempt was still open
		}
	}
	hi = math.Max(hi*1.05, 1)
	diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: hi, Y: hi}})
	if err != nil {
		return nil, fmt.Errorf("line: %w", err)
	}
	diag.LineStyle = lineStyle(colMuted, 1, 4, 3)
	p.Add(diag)
	f.add("y = x (Retry-After)", diag)
	if a.raHonored.seen > 0 {
		s, err := newScatter(a.raHonored.pts, identity, identity, glyph(withAlpha(colOK, 0xa0), 2, draw.CircleGlyph{}))
		if err != nil {
			return nil, err
		}
		p.Add(lean{s})
		f.add(countLabel("honored", a.raHonored.seen), s)
	}
	if a.raEarly.seen > 0 {
		s, err := newScatter(a.raEarly.pts, identity, identity, glyph(colInjected, 2.2, draw.CircleGlyph{}))
		if err != nil {
			return nil, err
		}
		p.Add(lean{s})
		f.add(countLabel("too early", a.raEarly.seen), s)
	}
	p.X.Min, p.Y.Min = 0, lo
	p.X.Max, p.Y.Max = hi, hi
	return f, nil
}
