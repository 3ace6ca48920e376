package chart

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// rpsFigure: requests per second stacked by outcome, first attempts in the upper panel and
// retries in the lower one on the same scale, so a retry storm reads at a glance.
func rpsFigure(a *aggregator, _ Input) (*figure, error) {
	tl := a.timeline()
	ylabel := "requests/s"
	if tl.group > 1 {
		ylabel = fmt.Sprintf("requests/s (mean over %s)", secondsLabel(tl.group))
	}
	top := newPanel("First attempts per second by outcome", "", ylabel)
	bottom := newPanel("Retries per second by outcome", tl.xLabel(), ylabel)
	f := newFigure(ChartRPS, top, bottom)
	if a.records == 0 {
		emptyPanel(top, "no attempts in the journal")
		emptyPanel(bottom, "no attempts in the journal")
		return f, nil
	}
	nb := tl.buckets()
	xs := make([]float64, nb)
	var first, retry [numOutcomes][]float64
	var totFirst, totRetry [numOutcomes]int64
	for oc := range numOutcomes {
		first[oc] = make([]float64, nb)
		retry[oc] = make([]float64, nb)
	}
	for b := range nb {
		xs[b] = tl.x(b)
		i0, i1 := tl.secRange(b)
		width := float64(i1 - i0)
		for i := i0; i < i1; i++ {
			for oc := range numOutcomes {
				first[oc][b] += float64(a.secs[i].first[oc])
				retry[oc][b] += float64(a.secs[i].retry[oc])
				totFirst[oc] += int64(a.secs[i].first[oc])
				totRetry[oc] += int64(a.secs[i].retry[oc])
			}
		}
		for oc := range numOutcomes {
			first[oc][b] /= width
			retry[oc][b] /= width
		}
	}
	var nFirst, nRetry int64
	for oc := range numOutcomes {
		nFirst += totFirst[oc]
		nRetry += totRetry[oc]
	}
	top.Title.Text = "First attempts per second by outcome (" + groupDigits(nFirst) + ")"
	bottom.Title.Text = "Retries per second by outcome (" + groupDigits(nRetry) + ")"

	thumbs := make([]plot.Thumbnailer, numOutcomes)
	ymax := 0.0
	for _, panel := range []struct {
		p      *plot.Plot
		series [numOutcomes][]float64
	}{{top, first}, {bottom, retry}} {
		// Cumulative sums, bottom layer first; draw the top layer first so lower ones paint over it.
		cum := make([][]float64, numOutcomes)
		acc := make([]float64, nb)
		for oc := range numOutcomes {
			for b := range nb {
				acc[b] += panel.series[oc][b]
			}
			cum[oc] = append([]float64(nil), acc...)
		}
		for b := range nb {
			ymax = max(ymax, acc[b])
		}
		for oc := numOutcomes - 1; ; oc-- {
			if totFirst[oc]+totRetry[oc] > 0 {
				xys := make(plotter.XYs, nb)
				for b := range nb {
					xys[b] = plotter.XY{X: xs[b], Y: cum[oc][b]}
				}
				l, err := plotter.NewLine(xys)
				if err != nil {
					return nil, fmt.Errorf("line: %w", err)
				}
				l.LineStyle = lineStyle(outcomeColors[oc], 0.8)
				l.FillColor = withAlpha(outcomeColors[oc], 0xc8)
				panel.p.Add(lean{l})
				thumbs[oc] = l
			}
			if oc == 0 {
				break
			}
		}
	}
	for _, p := range []*plot.Plot{top, bottom} {
		p.Y.Min, p.Y.Max = 0, ymax*1.08
		if ymax == 0 {
			p.Y.Max = 1
		}
	}
	if nRetry == 0 {
		bottom.Add(note{msg: "no retries"})
	}
	for oc := range numOutcomes {
		if thumbs[oc] != nil {
			f.add(countLabel(outcomeLabels[oc], totFirst[oc]+totRetry[oc]), thumbs[oc])
		}
	}
	return f, nil
}
