package chart

import (
	"math"
	"math/rand/v2"
)

// point is one sampled chart point; k tags its series where one sample mixes several.
type point struct {
	x, y float64
	k    outcome
}

// reservoir keeps a uniform random sample of at most max points out of a stream of any
// length. It uses Li's algorithm L: after the reservoir fills, it draws how many points to
// skip before the next replacement, so the per-point cost is a counter increment and the
// random source is consulted O(max·log(n/max)) times, not n times.
type reservoir struct {
	max  int
	seen int64
	pts  []point
	rng  *rand.Rand
	w    float64
	next int64 // value of seen at which the next point replaces one in the sample
}

func newReservoir(max int, rng *rand.Rand) *reservoir {
	return &reservoir{max: max, rng: rng}
}

// unit returns a uniform number in (0, 1].
func (r *reservoir) unit() float64 { return 1 - r.rng.Float64() }

func (r *reservoir) skip() int64 {
	return int64(math.Floor(math.Log(r.unit())/math.Log1p(-r.w))) + 1
}

func (r *reservoir) add(p point) {
	r.seen++
	if len(r.pts) < r.max {
		r.pts = append(r.pts, p)
		if len(r.pts) == r.max {
			r.w = math.Exp(math.Log(r.unit()) / float64(r.max))
			r.next = r.seen + r.skip()
		}
		return
	}
	if r.seen != r.next {
		return
	}
	r.pts[r.rng.IntN(r.max)] = p
	r.w *= math.Exp(math.Log(r.unit()) / float64(r.max))
	r.next += r.skip()
}
