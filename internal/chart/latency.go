package chart

import (
	"math"

	"gonum.org/v1/plot/vg/draw"
)

// latencyFigure: latency over time per attempt, colored by outcome, with each operation's
// end-to-end latency, the client-observed latency from vegeta when present, fault windows
// shaded and limiter rejections marked with a cross.
func latencyFigure(a *aggregator, _ Input) (*figure, error) {
	tl := a.timeline()
	p := newPanel("Latency per attempt over time", tl.xLabel(), "latency (ms)")
	f := newFigure(ChartLatency, p)
	if a.records == 0 && !a.vegetaSeen {
		emptyPanel(p, "no attempts in the journal")
		return f, nil
	}

	fb := faultBands(a, tl)
	if len(fb.spans) > 0 {
		p.Add(fb)
		f.add("fault window (darker: more faults)", fb)
	}

	// Per outcome: the random sample plus each bucket's maximum, so spikes always show.
	var pts [numOutcomes][]point
	var counts [numOutcomes]int64
	lo, hi := math.Inf(1), 0.0
	note := func(y float64) {
		if y > 0 && y < lo {
			lo = y
		}
		if y > hi {
			hi = y
		}
	}
	// The shared sample keeps the outcomes in proportion; an outcome too rare to have
	// sampleRare points there is drawn from its own, larger sample, so it never vanishes.
	for _, s := range a.attAll.pts {
		pts[s.k] = append(pts[s.k], point{x: a.xOf(s.x), y: s.y})
		note(s.y)
	}
	for oc := range numOutcomes {
		counts[oc] = a.attCount[oc]
		if len(pts[oc]) >= sampleRare {
			continue
		}
		pts[oc] = pts[oc][:0]
		for _, s := range a.attSamples[oc].pts {
			pts[oc] = append(pts[oc], point{x: a.xOf(s.x), y: s.y})
			note(s.y)
		}
	}
	for b := range tl.buckets() {
		i0, i1 := tl.secRange(b)
		for oc := range numOutcomes {
			var m float32
			for i := i0; i < i1; i++ {
				m = max(m, a.secs[i].maxMs[oc])
			}
			if m > 0 {
				pts[oc] = append(pts[oc], point{x: tl.x(b), y: float64(m)})
				note(float64(m))
			}
		}
	}
	var ops, veg []point
	for _, s := range a.e2eSamples.pts {
		ops = append(ops, point{x: a.xOf(s.x), y: s.y})
		note(s.y)
	}
	for _, s := range a.vegeta.pts {
		veg = append(veg, point{x: a.xOf(s.x), y: s.y})
		note(s.y)
	}
	clamp := latencyAxis(p, lo, hi)

	if len(ops) > 0 {
		s, err := newScatter(ops, identity, clamp, glyph(withAlpha(colOp, 0x90), 2, draw.RingGlyph{}))
		if err != nil {
			return nil, err
		}
		p.Add(lean{s})
		f.add(countLabel("operation end-to-end", a.e2eSamples.seen), s)
	}
	if len(veg) > 0 {
		s, err := newScatter(veg, identity, clamp, glyph(withAlpha(colVegeta, 0x90), 1.6, draw.SquareGlyph{}))
		if err != nil {
			return nil, err
		}
		p.Add(lean{s})
		f.add(countLabel("client-observed (vegeta)", a.vegeta.seen), s)
	}
	// 2xx first so failures draw on top of it; limiter rejections last, as crosses.
	for _, oc := range []outcome{outOK, outOther, outLost, outInjected, outLimited} {
		if counts[oc] == 0 {
			continue
		}
		gs := glyph(withAlpha(outcomeColors[oc], 0xb0), 1.5, draw.CircleGlyph{})
		if oc == outLimited {
			gs = glyph(outcomeColors[oc], 2.4, draw.CrossGlyph{})
		}
		s, err := newScatter(pts[oc], identity, clamp, gs)
		if err != nil {
			return nil, err
		}
		p.Add(lean{s})
		f.add(countLabel(outcomeLabels[oc], counts[oc]), s)
	}
	return f, nil
}

// faultBands returns the fault windows: the seconds (or buckets) in which fault rules
// fired, shaded by the share of attempts they answered, so a sparse random fault does not
// paint the whole run.
func faultBands(a *aggregator, tl timeline) *bands {
	fb := &bands{color: colFault}
	for b := range tl.buckets() {
		i0, i1 := tl.secRange(b)
		var faults, total int64
		for i := i0; i < i1; i++ {
			s := &a.secs[i]
			faults += int64(s.faults)
			for oc := range numOutcomes {
				total += int64(s.first[oc] + s.retry[oc])
			}
		}
		if faults == 0 {
			continue
		}
		x0, x1 := tl.xAt(i0), tl.xAt(i1)
		share := float64(faults) / float64(max(total, 1))
		fb.add(x0, x1, faultAlpha(share))
	}
	return fb
}
