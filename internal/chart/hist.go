package chart

import (
	"math"
	"math/bits"
)

// Latency histogram layout: a value in nanoseconds falls in the bin of its most significant
// bit and the histSub bits below it, so every bin is at most 1/16 (6.25%) wide relative to
// its value. Values below 2^histMinExp ns (≈1 µs) go to the first bin, values above
// 2^histMaxExp ns (≈137 s) to the last.
const (
	histSubBits = 4
	histSub     = 1 << histSubBits
	histMinExp  = 10
	histMaxExp  = 37
	histBins    = (histMaxExp - histMinExp + 1) * histSub
)

// logHist counts latencies in logarithmic bins: enough for per-second percentiles of a
// million-record journal in a few kilobytes per second of run time.
type logHist struct {
	n    uint64
	bins [histBins]uint32
}

func histBin(ns int64) int {
	if ns < 1<<histMinExp {
		return 0
	}
	u := uint64(ns)
	exp := bits.Len64(u) - 1
	if exp > histMaxExp {
		return histBins - 1
	}
	sub := int(u>>(uint(exp)-histSubBits)) & (histSub - 1)
	return (exp-histMinExp)*histSub + sub
}

// binValueMs returns the middle of bin i in milliseconds.
func binValueMs(i int) float64 {
	exp := i/histSub + histMinExp
	sub := i % histSub
	lo := math.Ldexp(1+float64(sub)/histSub, exp)
	hi := math.Ldexp(1+float64(sub+1)/histSub, exp)
	return (lo + hi) / 2 / 1e6
}

func (h *logHist) add(ns int64) {
	h.n++
	h.bins[histBin(ns)]++
}

func (h *logHist) merge(o *logHist) {
	if o == nil {
		return
	}
	h.n += o.n
	for i, c := range o.bins {
		h.bins[i] += c
	}
}

// quantile returns the q-quantile (0 < q <= 1) in milliseconds, or NaN when h is empty.
func (h *logHist) quantile(q float64) float64 {
	if h == nil || h.n == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.bins {
		seen += uint64(c)
		if seen >= rank {
			return binValueMs(i)
		}
	}
	return binValueMs(histBins - 1)
}
