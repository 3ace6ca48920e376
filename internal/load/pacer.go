package load

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/retrylab/retrylab/internal/profile"
)

// DefaultMaxLate is how late a hit may be before the pacer skips it (see Pacer).
const DefaultMaxLate = 100 * time.Millisecond

// shape is a load shape: its instantaneous rate and its integral, both in hits and
// seconds since the start of the load.
type shape interface {
	rate(t float64) float64
	hits(t float64) float64
}

// Pacer is a vegeta.Pacer for one load shape over a fixed duration. Hit k (from 0) is due
// at the instant the shape's integral reaches k, so the first hit goes at once and hits
// follow the shape exactly; the pacer stops once the next hit would be due at or after
// the duration, so a run sends exactly Planned hits when it keeps up.
//
// It fixes vegeta's catch-up burst: vegeta's own pacers answer "now" for every hit that is
// behind schedule, so after a stall (a blocked worker pool, a GC pause, a descheduled
// process) all missed hits go out at once. This pacer skips every hit more than MaxLate
// behind its due time instead and counts it in Dropped, as k6 reports dropped iterations.
//
// Pace must be called from one goroutine (vegeta's attack loop does); Dropped, Planned and
// Rate may be called from any.
type Pacer struct {
	shape shape
	d     time.Duration
	// MaxLate is the lateness past which a hit is dropped (DefaultMaxLate; negative = never
	// drop). Set it before the attack starts.
	MaxLate time.Duration

	dropped atomic.Int64
	done    atomic.Bool
	lastK   uint64
	lastT   time.Duration
}

var _ vegeta.Pacer = (*Pacer)(nil)

// NewPacer returns the pacer for load spec l over duration d: constant, ramp (linear from
// From to To over d), step (each step's rate for its duration; the last rate holds until
// d), sine (Rate ± Amplitude over Period, starting at the mean and rising) or burst (Rate,
// with BurstRate for BurstDuration at the start of every BurstEvery, the first at 0).
func NewPacer(l profile.LoadSpec, d time.Duration) (*Pacer, error) {
	if d <= 0 {
		return nil, fmt.Errorf("load duration %v: want a positive duration", d)
	}
	var s shape
	switch l.Shape {
	case profile.ShapeConstant, "":
		if l.Rate <= 0 {
			return nil, errors.New("constant load needs a positive rate")
		}
		s = constant{r: l.Rate.PerSecond()}
	case profile.ShapeRamp:
		if l.From < 0 || l.To < 0 || l.From == 0 && l.To == 0 {
			return nil, errors.New("ramp load needs from and to, not both zero")
		}
		s = ramp{from: l.From.PerSecond(), to: l.To.PerSecond(), d: d.Seconds()}
	case profile.ShapeStep:
		if len(l.Steps) == 0 {
			return nil, errors.New("step load needs at least one step")
		}
		st := step{}
		for i, x := range l.Steps {
			if x.Duration <= 0 || x.Rate < 0 {
				return nil, fmt.Errorf("step %d: want a positive duration and a rate >= 0", i)
			}
			st.rates = append(st.rates, x.Rate.PerSecond())
			st.durs = append(st.durs, x.Duration.D().Seconds())
		}
		s = st
	case profile.ShapeSine:
		if l.Rate <= 0 || l.Amplitude <= 0 || l.Amplitude > l.Rate || l.Period <= 0 {
			return nil, errors.New("sine load needs rate > 0, amplitude in (0, rate] and a period")
		}
		s = sine{mean: l.Rate.PerSecond(), amp: l.Amplitude.PerSecond(), period: l.Period.D().Seconds()}
	case profile.ShapeBurst:
		if l.Rate < 0 || l.BurstRate <= 0 || l.BurstDuration <= 0 || l.BurstEvery <= l.BurstDuration {
			return nil, errors.New("burst load needs burst_rate > 0, burst_duration > 0 and burst_every > burst_duration")
		}
		s = burst{base: l.Rate.PerSecond(), peak: l.BurstRate.PerSecond(), on: l.BurstDuration.D().Seconds(), every: l.BurstEvery.D().Seconds()}
	default:
		return nil, fmt.Errorf("unknown load shape %q (constant, ramp, step, sine or burst)", l.Shape)
	}
	return &Pacer{shape: s, d: d, MaxLate: DefaultMaxLate}, nil
}

// Duration returns the length of the load.
func (p *Pacer) Duration() time.Duration { return p.d }

// Pace implements vegeta.Pacer.
func (p *Pacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	k := hits + uint64(p.dropped.Load())
	due := p.due(k)
	if due >= p.d {
		p.done.Store(true)
		return 0, true
	}
	if p.MaxLate >= 0 && elapsed-due > p.maxLate() {
		// Skip to the first hit that is not too late.
		if k2 := uint64(p.Planned(elapsed - p.maxLate())); k2 > k {
			p.dropped.Add(int64(k2 - k))
			k = k2
			if due = p.due(k); due >= p.d {
				p.done.Store(true)
				return 0, true
			}
		}
	}
	return due - elapsed, false
}

func (p *Pacer) maxLate() time.Duration {
	if p.MaxLate == 0 {
		return DefaultMaxLate
	}
	return p.MaxLate
}

// Rate implements vegeta.Pacer: the shape's rate at elapsed, in hits per second.
func (p *Pacer) Rate(elapsed time.Duration) float64 {
	if elapsed >= p.d {
		return 0
	}
	return p.shape.rate(elapsed.Seconds())
}

// Planned returns the hits due before elapsed (never past the duration).
func (p *Pacer) Planned(elapsed time.Duration) int64 {
	if elapsed <= 0 {
		return 0
	}
	elapsed = min(elapsed, p.d)
	return int64(math.Ceil(p.shape.hits(elapsed.Seconds()) - 1e-9))
}

// Dropped returns the hits skipped so far for being more than MaxLate behind.
func (p *Pacer) Dropped() int64 { return p.dropped.Load() }

// Done reports whether the pacer has told the attack to stop: every hit is sent or dropped.
func (p *Pacer) Done() bool { return p.done.Load() }

// due returns when hit k is due: the first instant the integral reaches k. Beyond the
// duration it returns the duration.
func (p *Pacer) due(k uint64) time.Duration {
	if k == 0 {
		return 0
	}
	if k == p.lastK && p.lastT > 0 {
		return p.lastT
	}
	target := float64(k)
	end := p.d.Seconds()
	if p.shape.hits(end) < target-1e-9 {
		return p.d
	}
	lo := 0.0
	if k > p.lastK {
		lo = p.lastT.Seconds()
	}
	hi := end
	// Bisect to a nanosecond: the integral is continuous and non-decreasing.
	for i := 0; i < 80 && hi-lo > 1e-9; i++ {
		mid := (lo + hi) / 2
		if p.shape.hits(mid) >= target-1e-9 {
			hi = mid
		} else {
			lo = mid
		}
	}
	t := time.Duration(math.Ceil(hi * 1e9))
	if t > p.d {
		t = p.d
	}
	p.lastK, p.lastT = k, t
	return t
}

type constant struct{ r float64 }

func (c constant) rate(float64) float64   { return c.r }
func (c constant) hits(t float64) float64 { return c.r * t }

// ramp goes linearly from `from` to `to` over d seconds, then stays at `to`.
type ramp struct{ from, to, d float64 }

func (r ramp) rate(t float64) float64 {
	if t >= r.d {
		return r.to
	}
	return r.from + (r.to-r.from)*t/r.d
}

func (r ramp) hits(t float64) float64 {
	if t <= r.d {
		return r.from*t + (r.to-r.from)*t*t/(2*r.d)
	}
	return r.hits(r.d) + r.to*(t-r.d)
}

// step holds each rate for its duration; the last rate holds after the last step.
type step struct{ rates, durs []float64 }

func (s step) rate(t float64) float64 {
	for i, d := range s.durs {
		if t < d {
			return s.rates[i]
		}
		t -= d
	}
	return s.rates[len(s.rates)-1]
}

func (s step) hits(t float64) float64 {
	h := 0.0
	for i, d := range s.durs {
		if t <= d {
			return h + s.rates[i]*t
		}
		h += s.rates[i] * d
		t -= d
	}
	return h + s.rates[len(s.rates)-1]*t
}

// sine is mean + amp·sin(2πt/period).
type sine struct{ mean, amp, period float64 }

func (s sine) rate(t float64) float64 { return s.mean + s.amp*math.Sin(2*math.Pi*t/s.period) }

func (s sine) hits(t float64) float64 {
	return s.mean*t + s.amp*s.period/(2*math.Pi)*(1-math.Cos(2*math.Pi*t/s.period))
}

// burst is base, with peak during the first `on` seconds of every `every` seconds.
type burst struct{ base, peak, on, every float64 }

func (b burst) rate(t float64) float64 {
	if math.Mod(t, b.every) < b.on {
		return b.peak
	}
	return b.base
}

func (b burst) hits(t float64) float64 {
	n := math.Floor(t / b.every)
	r := t - n*b.every
	per := b.peak*b.on + b.base*(b.every-b.on)
	return n*per + b.peak*math.Min(r, b.on) + b.base*math.Max(0, r-b.on)
}
