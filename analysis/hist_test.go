package analysis

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestHistQuantiles(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand) int64
		n    int
	}{
		{name: "small exact values", gen: func(r *rand.Rand) int64 { return r.Int64N(100) }, n: 1000},
		{name: "latencies in ns", gen: func(r *rand.Rand) int64 { return int64(r.ExpFloat64() * 5e6) }, n: 20000},
		{name: "wide range", gen: func(r *rand.Rand) int64 { return int64(math.Exp(r.Float64() * 40)) }, n: 20000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 4))
			h := newHist()
			vals := make([]int64, tc.n)
			for i := range vals {
				vals[i] = tc.gen(r)
				h.add(vals[i])
			}
			slices.Sort(vals)
			for _, q := range []float64{0.01, 0.1, 0.5, 0.9, 0.99, 1} {
				want := float64(vals[int(math.Ceil(q*float64(tc.n)))-1])
				got := h.quantile(q)
				if math.Abs(got-want) > want*0.016+0.5 {
					t.Errorf("q%.2f = %v, want %v within 1.6%%", q, got, want)
				}
			}
			if h.quantile(1) != float64(vals[tc.n-1]) {
				t.Errorf("max = %v, want %v", h.quantile(1), vals[tc.n-1])
			}
		})
	}
	if got := newHist().quantile(0.5); got != 0 {
		t.Errorf("empty quantile = %v", got)
	}
}
