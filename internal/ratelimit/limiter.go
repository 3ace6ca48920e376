// Package ratelimit is retrylab's per-client rate limiter: a sliding window with burst
// credit, the model the seeds' APIs publish ("100 RPS, bursts to 200 RPS for 10 s").
//
// # The model
//
// For one client under one limit, with W the window, L = floor(limit·W) the requests the
// window holds at the sustained rate, B = floor(burst·W) the requests it holds during a burst
// (B = L without a burst), and C = floor((burst-limit)·burst_duration) the burst credit:
//
//   - Every admitted request occupies the window for [t, t+W). n(t) is the number of admitted
//     requests occupying the window at t. Rejected requests are not counted anywhere.
//   - Every admitted request also spends one token from a bucket that holds K = max(L, C)
//     tokens, starts full and is refilled continuously at `limit` tokens per second.
//   - A request at t is admitted when n(t) < B and the bucket holds at least one whole token.
//
// So a client never has more than B requests in any window, and never more than L once its
// credit is spent; a client at exactly its limit neither gains nor loses tokens; a client at
// rate r > limit loses (r-limit) tokens per second, so 200 RPS against "100 RPS, bursts to
// 200 RPS for 10 s" lasts 10 s (K = C = 1000) and is then held to 100 per window until it
// rests below its limit. Without a burst the bucket never binds before the window does: the
// limit is a plain sliding window of L requests. A burst with burst_duration 0 has no credit
// bound: the limit is a plain sliding window of B requests.
//
// The bucket is kept GCRA-style as one integer instant (tokens(t) = min(K, (t-base)/T) with
// T = 1s/limit), so every comparison is exact in nanoseconds. Because n(t) only falls and
// the bucket only fills while no request is admitted, the set of instants at which the next
// request would pass is [RetryAt, ∞): Decision.RetryAt is exact, a request at RetryAt passes
// and one a nanosecond earlier fails. Several limits on one request compose by taking the
// latest RetryAt.
//
// The types here are pure: no goroutines, no clock of their own; the caller passes the time.
package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Config is one limit as a profile states it.
type Config struct {
	Limit         float64       // sustained requests per second, > 0
	Window        time.Duration // sliding window; 0 = 1s
	Burst         float64       // peak requests per second during a burst; <= Limit = no burst
	BurstDuration time.Duration // how long a burst at Burst may last from full credit; 0 = unbounded
}

// ErrConfig is wrapped by the errors New returns for an unusable Config.
var ErrConfig = errors.New("invalid rate limit")

// Policy is a validated Config in the integer form the limiter computes with.
type Policy struct {
	cfg      Config
	window   int64 // ns
	free     int   // L: requests per window at the sustained rate
	peak     int   // B: requests per window at most (>= free)
	interval int64 // T: ns to regain one token
	capNs    int64 // K·T in ns; -1 = no bucket
}

// NewPolicy validates cfg and returns its Policy.
func NewPolicy(cfg Config) (*Policy, error) {
	if cfg.Window == 0 {
		cfg.Window = time.Second
	}
	if cfg.Window < 0 {
		return nil, fmt.Errorf("%w: window %v is negative", ErrConfig, cfg.Window)
	}
	if !(cfg.Limit > 0) || math.IsInf(cfg.Limit, 0) {
		return nil, fmt.Errorf("%w: limit %v must be a positive rate", ErrConfig, cfg.Limit)
	}
	if math.IsNaN(cfg.Burst) || math.IsInf(cfg.Burst, 0) {
		return nil, fmt.Errorf("%w: burst %v is not a rate", ErrConfig, cfg.Burst)
	}
	sec := cfg.Window.Seconds()
	free := int(math.Floor(cfg.Limit*sec + 1e-9))
	if free < 1 {
		return nil, fmt.Errorf("%w: limit %v/s allows no request in a %v window (use a longer window)", ErrConfig, cfg.Limit, cfg.Window)
	}
	p := &Policy{cfg: cfg, window: int64(cfg.Window), free: free, peak: free, capNs: -1}
	p.interval = max(1, int64(math.Round(1e9/cfg.Limit)))
	if cfg.Burst > cfg.Limit {
		p.peak = max(free, int(math.Floor(cfg.Burst*sec+1e-9)))
		if cfg.BurstDuration > 0 && p.peak > free {
			credit := int64(math.Floor((cfg.Burst - cfg.Limit) * cfg.BurstDuration.Seconds()))
			p.capNs = max(int64(free), credit) * p.interval
		}
	}
	return p, nil
}

// Limit returns L, the requests the window allows at the sustained rate (X-RateLimit-Limit).
func (p *Policy) Limit() int { return p.free }

// Peak returns B, the requests the window allows while burst credit lasts.
func (p *Policy) Peak() int { return p.peak }

// Window returns the sliding window.
func (p *Policy) Window() time.Duration { return time.Duration(p.window) }

// Tokens returns K, the bucket's size in requests, and false when there is no bucket.
func (p *Policy) Tokens() (int64, bool) {
	if p.capNs < 0 {
		return 0, false
	}
	return p.capNs / p.interval, true
}

// Decision is the outcome of one request against a limiter.
type Decision struct {
	Allowed   bool
	Limit     int       // L
	Remaining int       // requests still admitted now (after this one, when allowed)
	Reset     time.Time // when Remaining next grows; RetryAt when Remaining is 0
	// RetryAt is the earliest instant at which the client's next request would be
	// admitted (the exact Retry-After of a rejection). It equals the request's time
	// when another request could pass immediately.
	RetryAt time.Time
}

// Limiter is the state of one client under one Policy. It is not safe for concurrent
// use; callers serialise access (see Set).
type Limiter struct {
	p        *Policy
	origin   time.Time
	originNs int64   // origin in Unix ns, for AllowAt
	ring     []int64 // admission instants (ns since origin) of the requests in the window, oldest first
	head     int
	n        int
	base     int64 // tokens(t) = min(K, (t-base)/T)
	inited   bool
}

// NewLimiter returns a Limiter with an empty window and a full bucket.
func NewLimiter(p *Policy) *Limiter {
	return &Limiter{p: p, ring: make([]int64, p.peak)}
}

func (l *Limiter) ns(now time.Time) int64 {
	if !l.inited {
		l.inited = true
		l.origin = now
		l.originNs = now.UnixNano()
		l.base = -max(0, l.p.capNs)
	}
	return int64(now.Sub(l.origin))
}

func (l *Limiter) at(ns int64) time.Time { return l.origin.Add(time.Duration(ns)) }

// expire drops the requests whose window ended at or before t, and caps the bucket.
func (l *Limiter) expire(t int64) {
	for l.n > 0 && l.ring[l.head]+l.p.window <= t {
		l.head++
		if l.head == len(l.ring) {
			l.head = 0
		}
		l.n--
	}
	if l.p.capNs >= 0 && l.base < t-l.p.capNs {
		l.base = t - l.p.capNs
	}
}

// kth returns the admission instant of the k-th oldest request in the window (k from 1).
func (l *Limiter) kth(k int) int64 {
	i := l.head + k - 1
	if i >= len(l.ring) {
		i -= len(l.ring)
	}
	return l.ring[i]
}

// retryAt returns the earliest instant >= t at which a request would be admitted.
func (l *Limiter) retryAt(t int64) int64 {
	next := t
	if l.n >= l.p.peak {
		next = max(next, l.kth(l.n-l.p.peak+1)+l.p.window)
	}
	if l.p.capNs >= 0 {
		next = max(next, l.base+l.p.interval)
	}
	return next
}

func (l *Limiter) remaining(t int64) int {
	rem := l.p.peak - l.n
	if l.p.capNs >= 0 {
		rem = int(min(int64(rem), (t-l.base)/l.p.interval))
	}
	return max(0, rem)
}

func (l *Limiter) decide(t int64, allowed bool) Decision {
	d := Decision{Allowed: allowed, Limit: l.p.free, Remaining: l.remaining(t)}
	d.RetryAt = l.at(l.retryAt(t))
	switch {
	case d.Remaining == 0:
		d.Reset = d.RetryAt
	case l.n > 0:
		d.Reset = l.at(l.ring[l.head] + l.p.window)
	default:
		d.Reset = l.at(t)
	}
	return d
}

// Check reports whether a request at now would be admitted, without admitting it.
func (l *Limiter) Check(now time.Time) Decision {
	t := l.ns(now)
	l.expire(t)
	return l.decide(t, l.retryAt(t) <= t)
}

// Admit records a request at now as admitted (use after Check said Allowed) and returns
// the state after it. Admitting against a rejection keeps the B newest requests.
func (l *Limiter) Admit(now time.Time) Decision {
	t := l.ns(now)
	l.expire(t)
	l.admit(t)
	return l.decide(t, true)
}

// admit records a request at t (ns since origin), after expire(t).
func (l *Limiter) admit(t int64) {
	if l.p.capNs >= 0 {
		l.base += l.p.interval
	}
	if l.n == len(l.ring) {
		l.head++
		if l.head == len(l.ring) {
			l.head = 0
		}
		l.n--
	}
	i := l.head + l.n
	if i >= len(l.ring) {
		i -= len(l.ring)
	}
	l.ring[i] = t
	l.n++
}

// Allow admits the request at now if the limit allows it and returns the decision.
func (l *Limiter) Allow(now time.Time) Decision {
	d := l.Check(now)
	if !d.Allowed {
		return d
	}
	return l.Admit(now)
}

// AllowAt is Allow for an instant in Unix nanoseconds, without the Decision: it admits
// the request at t if the limit allows it and reports whether it did, and, when it did
// not, the instant (Unix ns) from which a request would be admitted (Decision.RetryAt).
// It is what a replay of millions of recorded requests calls. On one Limiter, AllowAt
// agrees with Allow given time.Unix(0, t).
func (l *Limiter) AllowAt(t int64) (bool, int64) {
	if !l.inited {
		l.inited = true
		l.origin = time.Unix(0, t)
		l.originNs = t
		l.base = -max(0, l.p.capNs)
	}
	x := t - l.originNs
	l.expire(x)
	if r := l.retryAt(x); r > x {
		return false, r + l.originNs
	}
	l.admit(x)
	return true, t
}
