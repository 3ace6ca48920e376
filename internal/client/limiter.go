package client

import (
	"math"
	"net/http"
	"path"
	"slices"
	"sort"
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
//
// A delay longer than the margin (a connection dialed while the machine is starved of CPU
// takes hundreds of milliseconds) is caught when the request is about to go: see
// limiter.confirm.
const LimiterMargin = 100 * time.Millisecond

// confirmPoll is how long a request waits before it asks again when the requests of its
// key in flight alone fill the window, so no instant can be computed.
const confirmPoll = 10 * time.Millisecond

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

	// What went out (see limiter.confirm): the published window, the requests sent and not
	// yet answered, and the instants the others were answered, ascending, kept while they
	// can still count.
	published time.Duration
	inflight  int
	answered  []time.Time
}

func newKeyLimit(l Limit) *keyLimit {
	w := l.Window
	if w <= 0 {
		w = time.Second
	}
	sec := w.Seconds()
	free := max(1, int(math.Floor(l.Rate*sec+1e-9)))
	k := &keyLimit{window: w + LimiterMargin, peak: free, published: w}
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

// The server counts a request in its window from the instant the request reached it, which
// the client cannot see: the request may wait for a connection, or in a socket while the
// server is descheduled, for longer than LimiterMargin. But it reached the server after the
// client let it go and before the client got its answer. So the server's window at the
// arrival of a request sent at t holds only requests the client let go before t or after
// it; of those before t, only the ones still in flight at t or answered after t-window; of
// those after, the same holds from the last one sent. A request that goes only when fewer
// than peak requests of its key are in flight or were answered after t-window is therefore
// admitted by the server, whatever the delays on the way (see limiter.confirm).

// sentEarliest returns the first instant >= t at which the requests gone out leave room
// for one more, as far as it is known at the moment: requests still in flight may be
// answered later and keep their place longer.
func (k *keyLimit) sentEarliest(t time.Time) time.Time {
	room := k.peak - 1 - k.inflight // answers after t-window that may still count
	if room < 0 {
		return t.Add(confirmPoll)
	}
	after := k.answeredAfter(t.Add(-k.published))
	if after <= room {
		return t
	}
	// Wait for the oldest answers to leave the window until only room of them count.
	return k.answered[len(k.answered)-room-1].Add(k.published)
}

// answeredAfter counts the answers strictly after t.
func (k *keyLimit) answeredAfter(t time.Time) int {
	i := sort.Search(len(k.answered), func(i int) bool { return k.answered[i].After(t) })
	return len(k.answered) - i
}

// answer records that a request that went out at some instant was answered (or given up
// on) at t, and forgets the answers that can no longer count.
func (k *keyLimit) answer(t time.Time) {
	k.inflight--
	i := len(k.answered)
	k.answered = append(k.answered, t)
	for ; i > 0 && k.answered[i-1].After(t); i-- {
		k.answered[i] = k.answered[i-1]
	}
	k.answered[i] = t
	// Two windows back: the instants confirm is called with are not exactly ordered.
	old := sort.Search(len(k.answered), func(i int) bool {
		return k.answered[i].After(t.Add(-2 * k.published))
	})
	if old > 0 {
		k.answered = append(k.answered[:0], k.answered[old:]...)
	}
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
	ks := l.keyLimits(buf[:0], r, key)
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

// keyLimits appends the keyLimits of the limits that apply to r, sent with API key key.
func (l *limiter) keyLimits(ks []*keyLimit, r *http.Request, key string) []*keyLimit {
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
	return ks
}

// confirm decides, at now, the moment a request with a reserved slot is about to go,
// whether it may go: under every limit that applies to it, fewer than peak requests of its
// key are in flight or were answered after now minus the published window. The reserved
// slots plan with the request's departure; this is the guarantee on its arrival (see
// sentEarliest). When it may, the request counts as in flight until answered is called
// with the instant its answer came back, or the client gave up on it. When it may not, ok
// is false and retry is the first instant it could, as far as is known: the request then
// takes a new slot from there.
func (l *limiter) confirm(r *http.Request, now time.Time) (s *sentRequest, retry time.Time, ok bool) {
	key := apiKey(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	var buf [8]*keyLimit
	ks := l.keyLimits(buf[:0], r, key)
	retry = now
	for _, k := range ks {
		if e := k.sentEarliest(now); e.After(retry) {
			retry = e
		}
	}
	if retry.After(now) {
		return nil, retry, false
	}
	if len(ks) == 0 {
		return nil, now, true
	}
	for _, k := range ks {
		k.inflight++
	}
	return &sentRequest{l: l, ks: slices.Clone(ks)}, now, true
}

// sentRequest is a request confirm let go, in flight until answered.
type sentRequest struct {
	l  *limiter
	ks []*keyLimit
}

// answered records when the request's answer came back, or the client gave up on it: the
// server cannot have received it later, unless the request still sat unread when the
// client's per-attempt timeout ended it (a server stalled for the whole timeout). A nil
// sentRequest (no limit applies) does nothing.
func (s *sentRequest) answered(at time.Time) {
	if s == nil {
		return
	}
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	for _, k := range s.ks {
		k.answer(at)
	}
	s.ks = nil
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
