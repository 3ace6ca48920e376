package chart

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot/plotter"
)

var percentileQs = []struct {
	label string
	q     float64
}{{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}}

// percentilesFigure: p50, p90 and p99 latency per second (or per bucket of seconds), per
// attempt (solid) and per operation end to end, by the second the operation started (dashed).
func percentilesFigure(a *aggregator, _ Input) (*figure, error) {
	tl := a.timeline()
	ylabel := "latency (ms)"
	p := newPanel("Latency percentiles per second", tl.xLabel(), ylabel)
	f := newFigure(ChartPercentiles, p)
	if a.records == 0 {
		emptyPanel(p, "no attempts in the journal")
		return f, nil
	}
	// The histograms' slots (histW seconds each), grouped further when there are more of
	// them than maxBuckets.
	nslots := max(len(a.attH), len(a.e2eH))
	g := max(1, (nslots+maxBuckets-1)/maxBuckets)
	nb := (nslots + g - 1) / g
	xs := make([]float64, nb)
	att := make([][]float64, len(percentileQs))
	ops := make([][]float64, len(percentileQs))
	for i := range percentileQs {
		att[i] = make([]float64, nb)
		ops[i] = make([]float64, nb)
	}
	if width := a.histW * g; width > 1 {
		p.Title.Text = "Latency percentiles per " + secondsLabel(width)
		p.X.Label.Text = fmt.Sprintf("seconds since start (%s buckets)", secondsLabel(width))
	}
	lo, hi := math.Inf(1), 0.0
	var ha, ho logHist
	for b := range nb {
		s0, s1 := b*g, min((b+1)*g, nslots)
		// x: the middle of the bucket's seconds, clipped to the seconds with data.
		i0 := max(s0*a.histW, tl.start)
		i1 := min(s1*a.histW, tl.start+tl.n)
		xs[b] = tl.xAt(i0) + float64(max(i1-i0, 1))/2
		ha, ho = logHist{}, logHist{}
		for s := s0; s < s1; s++ {
			if s < len(a.attH) {
				ha.merge(a.attH[s])
			}
			if s < len(a.e2eH) {
				ho.merge(a.e2eH[s])
			}
		}
		for i, pq := range percentileQs {
			att[i][b] = ha.quantile(pq.q)
			ops[i][b] = ho.quantile(pq.q)
			for _, v := range []float64{att[i][b], ops[i][b]} {
				if !math.IsNaN(v) {
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
		}
	}
	clamp := latencyAxis(p, lo, hi)
	colors := []color.Color{seriesColors[0], seriesColors[1], colInjected}
	for _, kind := range []struct {
		label  string
		series [][]float64
		dashed bool
	}{{"attempt", att, false}, {"operation", ops, true}} {
		for i, pq := range percentileQs {
			ys := make([]float64, nb)
			for b, v := range kind.series[i] {
				ys[b] = v
				if !math.IsNaN(v) {
					ys[b] = clamp(v)
				}
			}
			c := colors[i]
			lines, thumb, err := segments(xs, ys, func(l *plotter.Line) {
				l.LineStyle = lineStyle(c, 1.4)
				if kind.dashed {
					l.LineStyle = lineStyle(c, 1.2, 5, 3)
				}
			})
			if err != nil {
				return nil, err
			}
			if thumb == nil {
				continue
			}
			p.Add(lines...)
			f.add(kind.label+" "+pq.label, thumb)
		}
	}
	return f, nil
}
