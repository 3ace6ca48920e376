package analysis

import (
	"math"
	"math/bits"
)

// hist is a log-linear histogram of non-negative int64 values (nanoseconds): exact below
// 128, then 64 sub-buckets per power of two, so a quantile is within 1.6% of the true value
// (0.8% for the bucket midpoint it reports). Its size is fixed (about 30 KB) whatever the
// number of values, which keeps percentiles over huge journals in bounded memory.
type hist struct {
	counts   []uint64
	n        uint64
	sum      float64
	min, max int64
}

const (
	histSubBits = 7
	histExact   = 1 << histSubBits        // values below this have their own bucket
	histHalf    = histExact / 2           // sub-buckets per power of two above
	histBuckets = histExact + 57*histHalf // shifts 1..57 cover every int64
)

func newHist() *hist { return &hist{counts: make([]uint64, histBuckets)} }

func histIndex(v int64) int {
	if v < histExact {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - histSubBits
	top := int(v >> shift) // in [64, 128)
	return histExact + (shift-1)*histHalf + top - histHalf
}

// histValue is the midpoint of bucket i.
func histValue(i int) float64 {
	if i < histExact {
		return float64(i)
	}
	j := i - histExact
	shift := j/histHalf + 1
	top := int64(j%histHalf + histHalf)
	lo := top << shift
	return float64(lo) + float64(int64(1)<<shift)/2
}

// add records v (negative values count as 0).
func (h *hist) add(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[histIndex(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// quantile returns the q-quantile (0 < q <= 1) of the values, 0 when empty. The extreme
// quantiles are exact (min and max).
func (h *hist) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank <= 1 {
		return float64(h.min)
	}
	if rank >= h.n {
		return float64(h.max)
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := histValue(i)
			return math.Min(math.Max(v, float64(h.min)), float64(h.max))
		}
	}
	return float64(h.max)
}

func (h *hist) mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// latency summarises the histogram in milliseconds.
func (h *hist) latency() Latency {
	const ms = 1e6
	return Latency{
		Count: int64(h.n),
		Mean:  round3(h.mean() / ms),
		P50:   round3(h.quantile(0.50) / ms),
		P90:   round3(h.quantile(0.90) / ms),
		P95:   round3(h.quantile(0.95) / ms),
		P99:   round3(h.quantile(0.99) / ms),
		Max:   round3(float64(h.max) / ms),
	}
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
