package chart

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// maxBuckets caps the points of a time series: longer runs are grouped into buckets of
// several seconds, so drawing cost does not grow with the run's length.
const maxBuckets = 1200

// timeline maps the aggregator's seconds to the charts' time axis.
type timeline struct {
	start int     // index in aggregator.secs of the first second drawn
	n     int     // seconds drawn
	group int     // seconds per bucket
	off   float64 // x (seconds since t0) of the start of secs[start]
}

func (a *aggregator) timeline() timeline {
	start, off := a.firstSec()
	n := len(a.secs) - start
	if n < 0 {
		n = 0
	}
	g := 1
	if n > maxBuckets {
		g = (n + maxBuckets - 1) / maxBuckets
	}
	return timeline{start: start, n: n, group: g, off: off}
}

// buckets returns the number of buckets.
func (t timeline) buckets() int { return (t.n + t.group - 1) / t.group }

// secRange returns the secs indexes [lo, hi) of bucket b.
func (t timeline) secRange(b int) (int, int) {
	lo := t.start + b*t.group
	return lo, min(lo+t.group, t.start+t.n)
}

// x returns the x of the middle of bucket b.
func (t timeline) x(b int) float64 {
	lo, hi := t.secRange(b)
	return t.off + float64(lo-t.start) + float64(hi-lo)/2
}

// xAt returns the x of the start of secs index i.
func (t timeline) xAt(i int) float64 { return t.off + float64(i-t.start) }

// xLabel is the time axis label.
func (t timeline) xLabel() string {
	if t.group == 1 {
		return "seconds since start"
	}
	return fmt.Sprintf("seconds since start (%s buckets)", secondsLabel(t.group))
}

// segments turns a series with NaN gaps into one line per unbroken run, so a missing
// second is not drawn as a slope. Each line gets style sty; the first is returned as the
// legend thumbnail (nil when the series is empty).
func segments(xs, ys []float64, style func(*plotter.Line)) ([]plot.Plotter, plot.Thumbnailer, error) {
	var out []plot.Plotter
	var first plot.Thumbnailer
	var cur plotter.XYs
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		l, err := plotter.NewLine(cur)
		if err != nil {
			return fmt.Errorf("line: %w", err)
		}
		style(l)
		out = append(out, lean{l})
		if first == nil {
			first = l
		}
		cur = nil
		return nil
	}
	for i := range xs {
		if math.IsNaN(ys[i]) {
			if err := flush(); err != nil {
				return nil, nil, err
			}
			continue
		}
		cur = append(cur, plotter.XY{X: xs[i], Y: ys[i]})
	}
	if err := flush(); err != nil {
		return nil, nil, err
	}
	return out, first, nil
}

// buildFigures builds every chart from the aggregates, in ChartNames order.
func buildFigures(a *aggregator, in Input) ([]*figure, error) {
	builders := []func(*aggregator, Input) (*figure, error){
		latencyFigure, percentilesFigure, rpsFigure, attemptsFigure, retryAfterFigure, clientsFigure,
	}
	figs := make([]*figure, 0, len(builders))
	for i, b := range builders {
		f, err := b(a, in)
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", ChartNames[i], err)
		}
		figs = append(figs, f)
	}
	return figs, nil
}

// latencyAxis sets a logarithmic y axis when the values span more than a decade and a half,
// else a linear one from 0; lo and hi are the smallest positive and the largest value.
func latencyAxis(p *plot.Plot, lo, hi float64) (clamp func(float64) float64) {
	if hi <= 0 || math.IsInf(lo, 1) {
		return identity
	}
	if lo > 0 && hi/lo > 30 {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
		p.Y.Min = lo / 1.3
		p.Y.Max = hi * 1.3
		floor := p.Y.Min
		return func(v float64) float64 { return math.Max(v, floor) }
	}
	p.Y.Min = 0
	return identity
}

// countLabel formats a legend label with a count: "2xx (1,234)".
func countLabel(label string, n int64) string {
	return label + " (" + groupDigits(n) + ")"
}

// groupDigits formats n with thousands separators.
func groupDigits(n int64) string {
	s := fmt.Sprint(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
