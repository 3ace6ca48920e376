package client

import (
	"math"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// Limit is one published rate limit that the client-side limiter keeps every API key
// under. It has the meaning of a profile's rate_limits entry (and of internal/ratelimit,
// the model the proxy enforces and the analysis checks): at most floor(Rate·Window)
// requests in any sliding Window, or floor(Burst·Window) while burst credit lasts, the
// credit allowing Burst for BurstDuration from rest.
type Limit struct {
	Method        string        // "" = any method
	Path          string        // prefix, or a glob when it holds * ? or [; "" = any path
	Rate          float64       // sustained requests per second
	Window        time.Duration // sliding window; 0 = 1s
	Burst         float64       // peak requests per second during a burst; <= Rate = no burst
	BurstDuration time.Duration // how long a burst at Burst may last; 0 = no bound
}

// LimiterMargin lengthens every window of the client-side limiter (and slows its
// sustained rate in proportion, and keeps this much burst credit unspent), so that requests
// sent exactly at the limit still arrive under it when some are delayed on the way more
// than others: a busy machine that deschedules the client or the server for tens of
// milliseconds. It costs about 9% of a 1 s window's sustained rate.
const LimiterMargin = 100 * time.Millisecond

// matches reports whether the limit applies to a request.
func (l Limit) matches(method, p string) bool {
	if l.Method != "" && !strings.EqualFold(l.Method, method) {
		return false
	}
	if l.Path == "" {
		return true
	}
	if strings.ContainsAny(l.Path, "*?[") {
		ok, err := path.Match(l.Path, p)
		return err == nil && ok
	}
	return strings.HasPrefix(p, l.Path)
}

// keyLimit is one API key under one Limit, in the client's conservative form: the window
// lengthened by LimiterMargin keeps the published request counts (so any window of the
// published length holds no more), and the credit bucket is smaller by LimiterMargin's
// worth of tokens and refills slower than the published one. Reservations are made in non-decreasing time order, so
// the ring of the last `peak` reserved instants is the whole window state.
type keyLimit struct {
	window   time.Duration
	peak     int
	ring     []time.Time
	next     int
	full     bool
	last     time.Time
	bucket   bool
	interval time.Duration // time to regain one token
	capacity time.Duration // bucket size as time (tokens · interval)
	base     time.Time     // tokens(t) = min(capacity, t-base) / interval
	started  bool
}

func newKeyLimit(l Limit) *keyLimit {
	w := l.Window
	if w <= 0 {
		w = time.Second
	}
	sec := w.Seconds()
	free := max(1, int(math.Floor(l.Rate*sec+1e-9)))
	k := &keyLimit{window: w + LimiterMargin, peak: free}
	if l.Burst > l.Rate {
		k.peak = max(free, int(math.Floor(l.Burst*sec+1e-9)))
		if l.BurstDuration > 0 && k.peak > free {
			scale := sec / k.window.Seconds()
			credit := int(math.Floor(scale * (l.Burst - l.Rate) * l.BurstDuration.Seconds()))
			k.bucket = true
			k.interval = time.Duration(math.Ceil(1e9 / (l.Rate * scale)))
			// Keep LimiterMargin's worth of tokens unspent: requests released together (at
			// the end of a 429 block, say) reach the server spread over a few ms, and the
			// server's bucket starts refilling only when the first arrives.
			slack := int(math.Ceil(float64(LimiterMargin) * l.Rate / 1e9))
			k.capacity = time.Duration(max(1, max(free, credit)-slack)) * k.interval
		}
	}
	k.ring = make([]time.Time, k.peak)
	return k
}

// earliest returns the first instant >= t at which a request may be admitted.
func (k *keyLimit) earliest(t time.Time) time.Time {
	if k.last.After(t) {
		t = k.last
	}
	if k.full {
		if w := k.ring[k.next].Add(k.window); w.After(t) {
			t = w
		}
	}
	if k.bucket && k.started {
		if b := k.base.Add(k.interval); b.After(t) {
			t = b
		}
	}
	return t
}

// admit records a request at t (t >= every earlier admission, and allowed by earliest).
func (k *keyLimit) admit(t time.Time) {
	if k.bucket {
		floor := t.Add(-k.capacity)
		if !k.started || k.base.Before(floor) {
			k.started, k.base = true, floor
		}
		k.base = k.base.Add(k.interval)
	}
	k.ring[k.next] = t
	k.next++
	if k.next == len(k.ring) {
		k.next, k.full = 0, true
	}
	k.last = t
}

// limiter holds a keyLimit per (limit, API key) and the 429 blocks per API key.
type limiter struct {
	mu      sync.Mutex
	limits  []Limit
	keys    map[limitKey]*keyLimit
	blocked map[string]time.Time
}

type limitKey struct {
	limit int
	key   string
}

func newLimiter(limits []Limit) *limiter {
	return &limiter{limits: limits, keys: map[limitKey]*keyLimit{}, blocked: map[string]time.Time{}}
}

// apiKey identifies the client a request is counted for: its Authorization header, else
// its X-Api-Key header.
func apiKey(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		return a
	}
	return r.Header.Get("X-Api-Key")
}

// reserve returns the earliest instant not before earliest at which the request may be
// sent, and reserves it. When deadline is not zero and the instant is after it, nothing is
// reserved and ok is false.
func (l *limiter) reserve(r *http.Request, earliest, deadline time.Time) (at time.Time, ok bool) {
	key := apiKey(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	at = earliest
	// A block is kept after it ends (one entry per API key): reservations are made ahead of
	// time, so the instant a block stops mattering is not known here.
	if b := l.blocked[key]; b.After(at) {
		at = b
	}
	var buf [8]*keyLimit
	ks := buf[:0]
	for i, lim := range l.limits {
		if lim.Rate <= 0 || !lim.matches(r.Method, r.URL.Path) {
			continue
		}
		lk := limitKey{i, key}
		k := l.keys[lk]
		if k == nil {
			k = newKeyLimit(lim)
			l.keys[lk] = k
		}
		ks = append(ks, k)
	}
	// Every limit must admit the same instant: move forward until none objects.
	for moved := true; moved; {
		moved = false
		for _, k := range ks {
			if e := k.earliest(at); e.After(at) {
				at, moved = e, true
			}
		}
	}
	if !deadline.IsZero() && at.After(deadline) {
		return at, false
	}
	for _, k := range ks {
		k.admit(at)
	}
	return at, true
}

// block holds every request of r's API key until until.
func (l *limiter) block(r *http.Request, until time.Time) {
	key := apiKey(r)
	l.mu.Lock()
	if until.After(l.blocked[key]) {
		l.blocked[key] = until
	}
	l.mu.Unlock()
}
