package client

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/profile"
	"github.com/retrylab/retrylab/internal/ratelimit"
)

// reply is one scripted answer: a status with headers, or a connection reset.
type reply struct {
	status int
	header map[string]string
	reset  bool          // close the connection without answering
	hang   time.Duration // wait this long before answering
	dateIn time.Duration // send Retry-After as the HTTP-date this long from now
}

// hit is one request as the scripted server saw it.
type hit struct {
	at     time.Time
	method string
	key    string
	op     string
	body   string
}

// scripted is a loopback server answering its n-th request with script[n] (the last entry
// repeats) and recording every request.
type scripted struct {
	*httptest.Server
	mu     sync.Mutex
	hits   []hit
	script []reply
}

func newScripted(t *testing.T, script ...reply) *scripted {
	t.Helper()
	s := &scripted{script: script}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *scripted) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.hits = append(s.hits, hit{at: time.Now(), method: r.Method, key: r.Header.Get(IdempotencyKeyHeader), op: r.Header.Get("X-Retrylab-Op"), body: string(b)})
	rep := s.script[min(len(s.hits), len(s.script))-1]
	s.mu.Unlock()
	if rep.hang > 0 {
		select {
		case <-time.After(rep.hang):
		case <-r.Context().Done():
			return
		}
	}
	if rep.reset {
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic("no hijacker")
		}
		c, _, err := hj.Hijack()
		if err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			c.Close()
		}
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.dateIn > 0 {
		w.Header().Set("Retry-After", time.Now().Add(rep.dateIn).UTC().Format(http.TimeFormat))
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, `{"ok":true}`)
}

func (s *scripted) got() []hit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.hits)
}

// gaps returns the time between consecutive requests.
func gaps(hs []hit) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(hs); i++ {
		out = append(out, hs[i].at.Sub(hs[i-1].at))
	}
	return out
}

// within reports whether got lies in [lo-slackLow, hi+slackHigh]: the tolerance helper
// for millisecond timings. A client never sends sooner than it should, so the low slack is
// only clock granularity; it can send later when the machine is busy (the race detector,
// other packages' tests on 2 cores), and a late gap also lengthens the next one (gaps
// never shrink), so the high slack is generous.
func within(got, lo, hi time.Duration) bool {
	const slackLow, slackHigh = 2 * time.Millisecond, 200 * time.Millisecond
	return got >= lo-slackLow && got <= hi+slackHigh
}

func st(code int) reply { return reply{status: code} }

func ra(code int, v string) reply {
	return reply{status: code, header: map[string]string{"Retry-After": v}}
}

// fast returns the reference policy name with millisecond delays, so tests stay fast.
func fast(t *testing.T, name string, base time.Duration) Policy {
	t.Helper()
	p, err := Reference(name)
	if err != nil {
		t.Fatal(err)
	}
	if p.BaseDelay > 0 {
		p.BaseDelay = base
	}
	return p
}

func do(t *testing.T, c *http.Client, method, url, body string) (*http.Response, error) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Retrylab-Op", "op-1")
	req.Header.Set("Authorization", "Bearer k1")
	resp, err := c.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func TestReferenceTimelines(t *testing.T) {
	const base = 20 * time.Millisecond
	tests := []struct {
		name       string
		policy     string
		tweak      func(*Policy)
		method     string
		script     []reply
		wantStatus int // 0 = an error
		wantHits   int
		// gap i must lie in [gapLo[i], gapHi[i]]
		gapLo, gapHi []time.Duration
		keys         string // "same", "fresh", "none"
	}{
		{name: "compliant retries 503 with growing jittered backoff", policy: Compliant, method: "POST",
			script: []reply{st(503), st(502), st(500), st(201)}, wantStatus: 201, wantHits: 4,
			gapLo: []time.Duration{base, 2 * base, 4 * base}, gapHi: []time.Duration{2 * base, 4 * base, 8 * base}, keys: "same"},
		{name: "compliant honors Retry-After seconds", policy: Compliant, method: "POST",
			script: []reply{ra(429, "1"), st(200)}, wantStatus: 200, wantHits: 2,
			gapLo: []time.Duration{time.Second + DefaultRetryAfterMargin}, gapHi: []time.Duration{time.Second + DefaultRetryAfterMargin}, keys: "same"},
		{name: "compliant ignores malformed Retry-After and backs off", policy: Compliant, method: "POST",
			script: []reply{ra(503, "soon"), ra(503, "-3"), st(200)}, wantStatus: 200, wantHits: 3,
			gapLo: []time.Duration{base, 2 * base}, gapHi: []time.Duration{2 * base, 4 * base}, keys: "same"},
		{name: "compliant gives up on a Retry-After past its wait cap", policy: Compliant, method: "POST",
			script: []reply{ra(503, "3600"), st(200)}, wantStatus: 503, wantHits: 1, keys: "same"},
		{name: "compliant backs off after a Retry-After past any integer", policy: Compliant, method: "POST",
			script: []reply{ra(503, "99999999999999999999"), st(200)}, wantStatus: 200, wantHits: 2,
			gapLo: []time.Duration{base}, gapHi: []time.Duration{2 * base}, keys: "same"},
		{name: "compliant stops at 5 attempts", policy: Compliant, method: "GET",
			script: []reply{st(503)}, wantStatus: 503, wantHits: 5, keys: "none"},
		{name: "compliant does not retry 404", policy: Compliant, method: "GET",
			script: []reply{st(404), st(200)}, wantStatus: 404, wantHits: 1, keys: "none"},
		{name: "compliant does not retry 501", policy: Compliant, method: "GET",
			script: []reply{st(501), st(200)}, wantStatus: 501, wantHits: 1, keys: "none"},
		{name: "compliant retries 408", policy: Compliant, method: "GET",
			script: []reply{st(408), st(200)}, wantStatus: 200, wantHits: 2,
			gapLo: []time.Duration{base}, gapHi: []time.Duration{2 * base}, keys: "none"},
		{name: "compliant retries a reset connection", policy: Compliant, method: "POST",
			script: []reply{{reset: true}, st(201)}, wantStatus: 201, wantHits: 2,
			gapLo: []time.Duration{base}, gapHi: []time.Duration{2 * base}, keys: "same"},
		{name: "compliant retries an attempt timeout", policy: Compliant, method: "POST",
			script: []reply{{status: 200, hang: 2 * time.Second}, st(201)}, wantStatus: 201, wantHits: 2, keys: "same"},
		{name: "compliant max wait cuts the retries", policy: Compliant, method: "GET",
			tweak:  func(p *Policy) { p.MaxWait = 7*base + spanMargin },
			script: []reply{st(503)}, wantStatus: 503, wantHits: 3, keys: "none"},
		{name: "naive retries immediately without a key", policy: Naive, method: "POST",
			script: []reply{ra(429, "1"), st(502), st(503), st(503), st(503)}, wantStatus: 503, wantHits: 5,
			gapLo: []time.Duration{0, 0, 0, 0}, gapHi: []time.Duration{0, 0, 0, 0}, keys: "none"},
		{name: "naive does not retry 408", policy: Naive, method: "GET",
			script: []reply{st(408), st(200)}, wantStatus: 408, wantHits: 1, keys: "none"},
		{name: "no-jitter doubles exactly", policy: NoJitter, method: "POST",
			script: []reply{st(503), st(503), st(503), st(200)}, wantStatus: 200, wantHits: 4,
			gapLo: []time.Duration{base, 2 * base, 4 * base}, gapHi: []time.Duration{base, 2 * base, 4 * base}, keys: "same"},
		{name: "no-jitter honors Retry-After as HTTP-date", policy: NoJitter, method: "POST",
			// The date has a resolution of one second: the wait is between 1 and 2 s.
			script: []reply{{status: 503, dateIn: 2 * time.Second}, st(200)}, wantStatus: 200, wantHits: 2,
			gapLo: []time.Duration{time.Second}, gapHi: []time.Duration{2*time.Second + DefaultRetryAfterMargin}, keys: "same"},
		{name: "ignores-retry-after retries after its own backoff", policy: IgnoresRetryAfter, method: "POST",
			script: []reply{ra(429, "2"), st(200)}, wantStatus: 200, wantHits: 2,
			gapLo: []time.Duration{base}, gapHi: []time.Duration{2 * base}, keys: "same"},
		{name: "new-key-per-retry sends a fresh key each attempt", policy: NewKeyPerRetry, method: "POST",
			script: []reply{st(502), st(502), st(201)}, wantStatus: 201, wantHits: 3,
			gapLo: []time.Duration{base, 2 * base}, gapHi: []time.Duration{2 * base, 4 * base}, keys: "fresh"},
		{name: "retries-4xx retries 404 and 422", policy: Retries4xx, method: "POST",
			script: []reply{st(404), st(422), st(201)}, wantStatus: 201, wantHits: 3, keys: "same"},
		{name: "unbounded goes past 5 attempts", policy: Unbounded, method: "GET",
			tweak:  func(p *Policy) { p.BaseDelay, p.MaxDelay = 2*time.Millisecond, 4*time.Millisecond },
			script: []reply{st(503), st(503), st(503), st(503), st(503), st(503), st(503), st(200)}, wantStatus: 200, wantHits: 8, keys: "none"},
		{name: "no-retry makes one attempt", policy: NoRetry, method: "POST",
			script: []reply{st(503), st(200)}, wantStatus: 503, wantHits: 1, keys: "none"},
		{name: "no-retry surfaces a reset", policy: NoRetry, method: "GET",
			script: []reply{{reset: true}, st(200)}, wantStatus: 0, wantHits: 1, keys: "none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newScripted(t, tc.script...)
			p := fast(t, tc.policy, base)
			if tc.tweak != nil {
				tc.tweak(&p)
			}
			c := New(p, Options{Timeout: 500 * time.Millisecond, Seed: 7})
			body := ""
			if tc.method == "POST" {
				body = `{"to":"+15550100"}`
			}
			resp, err := do(t, c, tc.method, s.URL+"/v1/calls", body)
			switch {
			case tc.wantStatus == 0 && err == nil:
				t.Fatalf("got status %d, want an error", resp.StatusCode)
			case tc.wantStatus != 0 && err != nil:
				t.Fatalf("got error %v, want status %d", err, tc.wantStatus)
			case tc.wantStatus != 0 && resp.StatusCode != tc.wantStatus:
				t.Fatalf("got status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			hs := s.got()
			if len(hs) != tc.wantHits {
				t.Fatalf("server saw %d attempts, want %d", len(hs), tc.wantHits)
			}
			for i, g := range gaps(hs) {
				if i < len(tc.gapLo) && !within(g, tc.gapLo[i], tc.gapHi[i]) {
					t.Errorf("gap %d = %v, want in [%v, %v]", i+1, g, tc.gapLo[i], tc.gapHi[i])
				}
			}
			for i, h := range hs {
				if h.op != "op-1" {
					t.Errorf("attempt %d: op header %q, want op-1", i+1, h.op)
				}
				if h.method != tc.method || h.body != body {
					t.Errorf("attempt %d: %s %q, want %s %q", i+1, h.method, h.body, tc.method, body)
				}
			}
			keys := map[string]bool{}
			for _, h := range hs {
				keys[h.key] = true
			}
			switch tc.keys {
			case "none":
				if !keys[""] || len(keys) != 1 {
					t.Errorf("keys %v, want none", keys)
				}
			case "same":
				if keys[""] || len(keys) != 1 {
					t.Errorf("keys %v, want one key on every attempt", keys)
				}
			case "fresh":
				if keys[""] || len(keys) != len(hs) {
					t.Errorf("keys %v, want a different key on each of %d attempts", keys, len(hs))
				}
			}
		})
	}
}

// spanRecorder is an attempt transport that records, per operation, when each attempt
// left and when its response came back: the client's own view of its gaps.
type spanRecorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	ops  map[string][][2]time.Time
}

func (s *spanRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	var start time.Time
	r = r.WithContext(httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{
		WroteHeaders: func() { start = time.Now() },
	}))
	resp, err := s.base.RoundTrip(r)
	end := time.Now()
	s.mu.Lock()
	op := r.Header.Get("X-Retrylab-Op")
	s.ops[op] = append(s.ops[op], [2]time.Time{start, end})
	s.mu.Unlock()
	return resp, err
}

// TestGapsNeverShrink runs many operations at once and checks that the compliant client's
// backoff gaps (from a response to the next attempt, as the analysis measures them) never
// go under the base delay, never shrink, and spread with jitter. The gaps are taken at the
// client's transport, so the test does not depend on how fast the machine schedules the
// server.
func TestGapsNeverShrink(t *testing.T) {
	const base = 5 * time.Millisecond
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("X-Retrylab-Op")]++
		n := seen[r.Header.Get("X-Retrylab-Op")]
		mu.Unlock()
		if n < 5 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(200)
	}))
	defer srv.Close()
	rec := &spanRecorder{base: NewHTTPTransport(), ops: map[string][][2]time.Time{}}
	p := fast(t, Compliant, base)
	p.RetryBudget = 0 // every operation makes its 5 attempts
	c := New(p, Options{Seed: 1, Transport: rec})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", srv.URL, nil)
			req.Header.Set("X-Retrylab-Op", strconv.Itoa(i))
			resp, err := c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	firstGaps := map[time.Duration]bool{}
	for op, spans := range rec.ops {
		if len(spans) != 5 {
			t.Fatalf("op %s: %d attempts, want 5", op, len(spans))
		}
		prev := time.Duration(0)
		for i := 1; i < len(spans); i++ {
			g := spans[i][0].Sub(spans[i-1][1])
			if g < base {
				t.Errorf("op %s gap %d = %v, under the base %v", op, i, g, base)
			}
			if i > 1 && g < prev-profile.DefaultBackoffTolerance {
				t.Errorf("op %s gap %d = %v shrank from %v (more than the analysis' tolerance)", op, i, g, prev)
			}
			prev = g
			if i == 1 {
				firstGaps[g.Round(time.Millisecond/4)] = true
			}
		}
	}
	if len(firstGaps) < 10 {
		t.Errorf("first retry delays of 40 operations take %d distinct values, want jitter", len(firstGaps))
	}
}

// TestNoHiddenReplay checks that a request carrying an Idempotency-Key (or a GET) is not
// re-sent by net/http on a keep-alive connection the server closes: the server must see
// exactly the attempts the client made.
func TestNoHiddenReplay(t *testing.T) {
	tests := []struct {
		name   string
		method string
		policy string
	}{
		{name: "POST with key, no-retry", method: "POST", policy: NoRetry},
		{name: "GET, no-retry", method: "GET", policy: NoRetry},
		{name: "POST with key, compliant", method: "POST", policy: Compliant},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			seen := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen++
				n := seen
				mu.Unlock()
				if n == 1 {
					w.WriteHeader(200) // keep-alive: the connection goes back to the pool
					return
				}
				// Every later request: read it, then drop the reused connection unanswered.
				c, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					c.Close()
				}
			}))
			defer srv.Close()
			p := fast(t, tc.policy, time.Millisecond)
			var counter AttemptCounter
			c := New(p, Options{Seed: 3})
			for i := range 2 {
				var body io.Reader
				if tc.method == "POST" {
					body = strings.NewReader("x")
				}
				req, _ := http.NewRequestWithContext(WithAttemptCounter(context.Background(), &counter), tc.method, srv.URL, body)
				req.Header.Set(IdempotencyKeyHeader, "fixed-key")
				resp, err := c.Do(req)
				if i == 0 && err != nil {
					t.Fatal(err)
				}
				if err == nil {
					resp.Body.Close()
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if int64(seen) != counter.Load() {
				t.Errorf("server saw %d requests, client counted %d attempts", seen, counter.Load())
			}
		})
	}
}

// TestBlockOn429 checks that a 429 with Retry-After holds the other operations of the same
// API key only when BlockOn429 is set.
func TestBlockOn429(t *testing.T) {
	tests := []struct {
		name    string
		block   bool
		wantMin time.Duration // the second operation's first attempt, after the 429
	}{
		{name: "operation scope", block: false, wantMin: 0},
		{name: "client scope", block: true, wantMin: time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newScripted(t, ra(429, "1"), st(200))
			p := fast(t, Compliant, time.Millisecond)
			p.BlockOn429 = tc.block
			c := New(p, Options{Seed: 1})
			errc := make(chan error, 1)
			go func() {
				_, err := do(t, c, "GET", s.URL, "")
				errc <- err
			}()
			for len(s.got()) == 0 {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond) // the 429 has been answered
			if _, err := do(t, c, "GET", s.URL, ""); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			hs := s.got()
			if len(hs) != 3 {
				t.Fatalf("%d requests, want 3", len(hs))
			}
			if g := hs[1].at.Sub(hs[0].at); g < tc.wantMin || !tc.block && g > 500*time.Millisecond {
				t.Fatalf("second operation sent %v after the 429, want at least %v (block %v)", g, tc.wantMin, tc.block)
			}
		})
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	s := newScripted(t, ra(503, "5"))
	c := New(fast(t, Compliant, time.Millisecond), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL, nil)
	start := time.Now()
	_, err := c.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("returned after %v", el)
	}
	if n := len(s.got()); n != 1 {
		t.Fatalf("server saw %d attempts, want 1", n)
	}
}

// TestLimiterKeepsUnderLimit sends a burst of operations for two API keys through the
// compliant client with a 20 per 200 ms limit. A request never leaves before its
// reservation, so the n-th arrival of a key is no earlier than the start plus n/20 windows
// (window plus LimiterMargin): lower bounds that hold however late the machine runs.
func TestLimiterKeepsUnderLimit(t *testing.T) {
	var mu sync.Mutex
	byKey := map[string][]time.Time{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		byKey[r.Header.Get("Authorization")] = append(byKey[r.Header.Get("Authorization")], time.Now())
		mu.Unlock()
	}))
	defer srv.Close()
	const window, perWindow = 200 * time.Millisecond, 20
	lim := []Limit{{Method: "POST", Path: "/v1/", Rate: perWindow / window.Seconds(), Window: window}}
	c := New(fast(t, Compliant, time.Millisecond), Options{Limits: lim, Seed: 1})
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 120 {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", srv.URL+"/v1/calls", strings.NewReader("{}"))
			req.Header.Set("Authorization", "Bearer k"+strconv.Itoa(i%2))
			resp, err := c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	if len(byKey) != 2 {
		t.Fatalf("%d keys, want 2", len(byKey))
	}
	for key, ts := range byKey {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		if len(ts) != 60 {
			t.Errorf("%s: %d requests, want 60", key, len(ts))
		}
		for i, at := range ts {
			if min := time.Duration(i/perWindow) * (window + LimiterMargin); at.Sub(start) < min {
				t.Errorf("%s: request %d after %v, want no sooner than %v", key, i, at.Sub(start), min)
			}
		}
	}
	// The other path is not limited.
	req, _ := http.NewRequest("GET", srv.URL+"/v1/calls", nil)
	req.Header.Set("Authorization", "Bearer k0")
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if el := time.Since(t0); el > 100*time.Millisecond {
		t.Errorf("an unlimited GET waited %v", el)
	}
}

func TestLimiterReserve(t *testing.T) {
	t0 := time.Unix(1000, 0)
	req := func(method, path, key string) *http.Request {
		r, _ := http.NewRequest(method, "http://127.0.0.1"+path, nil)
		r.Header.Set("Authorization", key)
		return r
	}
	w := time.Second + LimiterMargin
	tests := []struct {
		name    string
		limits  []Limit
		reqs    []*http.Request
		at      []time.Time // earliest of each request
		want    []time.Duration
		blockAt int // index after which the key is blocked until t0+5s; -1 none
	}{
		{name: "three per second", limits: []Limit{{Rate: 3}},
			reqs: []*http.Request{req("GET", "/a", "k"), req("GET", "/a", "k"), req("GET", "/a", "k"), req("GET", "/a", "k"), req("GET", "/a", "k")},
			at:   []time.Time{t0, t0, t0, t0, t0}, want: []time.Duration{0, 0, 0, w, w}, blockAt: -1},
		{name: "keys are independent", limits: []Limit{{Rate: 1}},
			reqs: []*http.Request{req("GET", "/a", "k1"), req("GET", "/a", "k2"), req("GET", "/a", "k1")},
			at:   []time.Time{t0, t0, t0}, want: []time.Duration{0, 0, w}, blockAt: -1},
		{name: "limit matches method and path", limits: []Limit{{Method: "POST", Path: "/v1/*", Rate: 1}},
			reqs: []*http.Request{req("POST", "/v1/calls", "k"), req("GET", "/v1/calls", "k"), req("POST", "/v2/x", "k"), req("POST", "/v1/x", "k")},
			at:   []time.Time{t0, t0, t0, t0}, want: []time.Duration{0, 0, 0, w}, blockAt: -1},
		{name: "burst credit spends then refills", limits: []Limit{{Rate: 2, Burst: 4, BurstDuration: 2 * time.Second}},
			// window 1.1s holds 4; credit floor(2·2/1.1) = 3 tokens less ceil(100ms·2/s) = 1
			// kept as slack, one more every 550ms
			reqs: []*http.Request{req("GET", "/", "k"), req("GET", "/", "k"), req("GET", "/", "k"), req("GET", "/", "k"), req("GET", "/", "k")},
			at:   []time.Time{t0, t0, t0, t0, t0}, want: []time.Duration{0, 0, 550 * time.Millisecond, 1100 * time.Millisecond, 1650 * time.Millisecond}, blockAt: -1},
		{name: "burst without a duration is a wider window", limits: []Limit{{Rate: 2, Burst: 4}},
			reqs: []*http.Request{req("GET", "/", "k"), req("GET", "/", "k"), req("GET", "/", "k"), req("GET", "/", "k"), req("GET", "/", "k")},
			at:   []time.Time{t0, t0, t0, t0, t0}, want: []time.Duration{0, 0, 0, 0, w}, blockAt: -1},
		{name: "a 429 block holds the key", limits: nil,
			reqs: []*http.Request{req("GET", "/", "k"), req("GET", "/", "k"), req("GET", "/", "other")},
			at:   []time.Time{t0, t0, t0}, want: []time.Duration{0, 5 * time.Second, 0}, blockAt: 0},
		{name: "reservations never go back in time", limits: []Limit{{Rate: 2}},
			reqs: []*http.Request{req("GET", "/", "k"), req("GET", "/", "k"), req("GET", "/", "k")},
			at:   []time.Time{t0.Add(3 * time.Second), t0, t0}, want: []time.Duration{3 * time.Second, 3 * time.Second, 3*time.Second + w}, blockAt: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(tc.limits)
			for i, r := range tc.reqs {
				got, ok := l.reserve(r, tc.at[i], time.Time{})
				if !ok {
					t.Fatalf("request %d refused without a deadline", i)
				}
				if got.Sub(t0) != tc.want[i] {
					t.Errorf("request %d at %v, want %v", i, got.Sub(t0), tc.want[i])
				}
				if i == tc.blockAt {
					l.block(r, t0.Add(5*time.Second))
				}
			}
		})
	}
	t.Run("deadline refuses without reserving", func(t *testing.T) {
		l := newLimiter([]Limit{{Rate: 1}})
		r := req("GET", "/", "k")
		l.reserve(r, t0, time.Time{})
		if _, ok := l.reserve(r, t0, t0.Add(time.Second)); ok {
			t.Fatal("reserved past the deadline")
		}
		if got, _ := l.reserve(r, t0, time.Time{}); got.Sub(t0) != w {
			t.Fatalf("got %v, want %v: the refused reservation was kept", got.Sub(t0), w)
		}
	})
}

// TestLimiterWithinPublishedModel reserves random request streams and replays the
// reserved instants through internal/ratelimit with the published limit, the model the
// proxy enforces and the analysis checks: every one must be admitted.
func TestLimiterWithinPublishedModel(t *testing.T) {
	tests := []struct {
		name string
		lim  Limit
	}{
		{"sustained only", Limit{Rate: 100}},
		{"seeds/002 ingest", Limit{Rate: 100, Burst: 200, BurstDuration: 10 * time.Second}},
		{"short burst", Limit{Rate: 10, Burst: 20, BurstDuration: 5 * time.Second, Window: 500 * time.Millisecond}},
		{"burst without bound", Limit{Rate: 50, Burst: 80}},
		{"quickstart per-key", Limit{Rate: 30, Burst: 40, BurstDuration: 2 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pol, err := ratelimit.NewPolicy(ratelimit.Config{Limit: tc.lim.Rate, Window: tc.lim.Window, Burst: tc.lim.Burst, BurstDuration: tc.lim.BurstDuration})
			if err != nil {
				t.Fatal(err)
			}
			model, delayed := ratelimit.NewLimiter(pol), ratelimit.NewLimiter(pol)
			var arrivals []time.Time
			l := newLimiter([]Limit{tc.lim})
			rnd := rand.New(rand.NewPCG(9, 9))
			r, _ := http.NewRequest("GET", "http://127.0.0.1/", nil)
			now := time.Unix(5000, 0)
			var last time.Time
			for i := range 5000 {
				// Offered load: groups of simultaneous requests, mostly more than the limit
				// allows, with idle gaps that let the window empty and the credit refill.
				if rnd.IntN(50) == 0 {
					now = now.Add(time.Duration(rnd.IntN(100)) * time.Millisecond)
				}
				if rnd.IntN(400) == 0 {
					now = now.Add(time.Duration(rnd.IntN(15000)) * time.Millisecond)
				}
				at, ok := l.reserve(r, now, time.Time{})
				if !ok || at.Before(last) || at.Before(now) {
					t.Fatalf("request %d: reserved %v (ok %v), previous %v, earliest %v", i, at, ok, last, now)
				}
				last = at
				if d := model.Allow(at); !d.Allowed {
					t.Fatalf("request %d at %v: the published model rejects it (retry at %v)", i, at.Sub(time.Unix(5000, 0)), d.RetryAt.Sub(at))
				}
				arrivals = append(arrivals, at)
			}
			// The same requests delayed on the way, adversarially: every request released
			// together with another arrives 80ms late (under LimiterMargin), the others on time.
			reserved := slices.Clone(arrivals)
			for i := range arrivals {
				if i > 0 && reserved[i].Equal(reserved[i-1]) || i+1 < len(reserved) && reserved[i].Equal(reserved[i+1]) {
					arrivals[i] = reserved[i].Add(80 * time.Millisecond)
				}
			}
			slices.SortFunc(arrivals, func(a, b time.Time) int { return a.Compare(b) })
			for i, at := range arrivals {
				if d := delayed.Allow(at); !d.Allowed {
					t.Fatalf("delayed request %d at %v: the published model rejects it (retry at %v)", i, at.Sub(time.Unix(5000, 0)), d.RetryAt.Sub(at))
				}
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 6, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"seconds", "12", 12 * time.Second, true},
		{"zero", "0", 0, true},
		{"spaces", " 3 ", 3 * time.Second, true},
		{"http-date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"rfc850 date", now.Add(2 * time.Second).Format(time.RFC850), 2 * time.Second, true},
		{"past date", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"large saturates", "99999999999", maxRetryAfterSeconds * time.Second, true},
		{"past int64 is malformed", "99999999999999999999", 0, false},
		{"empty", "", 0, false},
		{"negative", "-5", 0, false},
		{"fraction", "1.5", 0, false},
		{"garbage", "soon", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseRetryAfter(tc.in, now)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"12", "", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "1e3"} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseRetryAfter(s, now)
		if d < 0 {
			t.Fatalf("negative delay %v for %q", d, s)
		}
		if !ok && d != 0 {
			t.Fatalf("delay %v for an invalid %q", d, s)
		}
	})
}

func TestBackoffs(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	const base, maxd = 100 * time.Millisecond, 10 * time.Second
	tests := []struct {
		name    string
		b       Backoff
		attempt int
		lo, hi  time.Duration // want in [lo, hi)
	}{
		{"default first", DefaultBackoff, 1, base, 2 * base},
		{"default third", DefaultBackoff, 3, 4 * base, 8 * base},
		{"default capped", DefaultBackoff, 20, maxd, maxd + 1},
		{"exponential first", ExponentialBackoff, 1, base, base + 1},
		{"exponential fourth", ExponentialBackoff, 4, 8 * base, 8*base + 1},
		{"exponential capped", ExponentialBackoff, 70, maxd, maxd + 1},
		{"immediate", ImmediateBackoff, 3, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 200 {
				if got := tc.b(tc.attempt, base, maxd, rnd); got < tc.lo || got >= tc.hi {
					t.Fatalf("attempt %d: %v, want in [%v, %v)", tc.attempt, got, tc.lo, tc.hi)
				}
			}
		})
	}
}

func TestReferenceNames(t *testing.T) {
	got := Names()
	want := slices.Clone(profile.ReferencePolicies)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want the profile's %v", got, want)
	}
	for _, n := range got {
		p, err := Reference(n)
		if err != nil || p.Name != n {
			t.Errorf("Reference(%q) = %q, %v", n, p.Name, err)
		}
	}
	_, err := Reference("nope")
	if err == nil || !strings.Contains(err.Error(), "compliant, ignores-retry-after") {
		t.Fatalf("Reference(nope) error %v, want the list of names", err)
	}
}

func TestPolicyFor(t *testing.T) {
	tests := []struct {
		name string
		in   profile.ClientUnderTest
		want func(*Policy) bool
	}{
		{"default is compliant", profile.ClientUnderTest{}, func(p *Policy) bool { return p.Name == Compliant && p.MaxAttempts == 5 }},
		{"overrides", profile.ClientUnderTest{Policy: NoJitter, MaxAttempts: 3, MaxWait: profile.Duration(time.Second), BaseDelay: profile.Duration(time.Millisecond), MaxDelay: profile.Duration(time.Second)},
			func(p *Policy) bool {
				return p.Name == NoJitter && p.MaxAttempts == 3 && p.MaxWait == time.Second && p.BaseDelay == time.Millisecond && p.MaxDelay == time.Second
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PolicyFor(tc.in)
			if err != nil || !tc.want(&p) {
				t.Fatalf("PolicyFor = %+v, %v", p, err)
			}
		})
	}
	if _, err := PolicyFor(profile.ClientUnderTest{Policy: "x"}); err == nil {
		t.Fatal("PolicyFor accepted an unknown policy")
	}
}

func TestCountAttempts(t *testing.T) {
	s := newScripted(t, st(200))
	var c AttemptCounter
	hc := &http.Client{Transport: CountAttempts(nil)}
	for range 3 {
		req, _ := http.NewRequestWithContext(WithAttemptCounter(context.Background(), &c), "GET", s.URL, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if c.Load() != 3 {
		t.Fatalf("counted %d, want 3", c.Load())
	}
}

func TestCheckRetry(t *testing.T) {
	netErr := errors.New("connection reset by peer")
	tests := []struct {
		name                  string
		status                int
		err                   error
		def, naive, retries4x bool
	}{
		{"network error", 0, netErr, true, true, true},
		{"200", 200, nil, false, false, false},
		{"400", 400, nil, false, false, true},
		{"404", 404, nil, false, false, true},
		{"408", 408, nil, true, false, true},
		{"409", 409, nil, false, false, true},
		{"422", 422, nil, false, false, true},
		{"429", 429, nil, true, true, true},
		{"402", 402, nil, false, false, false},
		{"500", 500, nil, true, true, true},
		{"501", 501, nil, false, true, false},
		{"503", 503, nil, true, true, true},
		{"599", 599, nil, true, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			if tc.err == nil {
				resp = &http.Response{StatusCode: tc.status}
			}
			got := []bool{DefaultCheckRetry(resp, tc.err), NaiveCheckRetry(resp, tc.err), Retries4xxCheckRetry(resp, tc.err)}
			want := []bool{tc.def, tc.naive, tc.retries4x}
			if !slices.Equal(got, want) {
				t.Fatalf("default, naive, retries-4xx = %v, want %v", got, want)
			}
		})
	}
}

// fakeClock is a virtual clock: Sleep runs onSleep (once), then advances the clock by the
// duration plus the next stall queued.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	stalls  []time.Duration
	onSleep func()
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if f := c.onSleep; f != nil {
		c.onSleep = nil
		f()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	if len(c.stalls) > 0 {
		c.now = c.now.Add(c.stalls[0])
		c.stalls = c.stalls[1:]
	}
	return ctx.Err()
}

// TestLateWakeReReserves stalls an attempt's sleep: woken late, it must take a new slot
// instead of going out together with every other attempt released by the stall.
func TestLateWakeReReserves(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := time.Second + LimiterMargin
	tests := []struct {
		name  string
		stall time.Duration
		want  time.Duration // when the attempt may go, from t0
	}{
		{"on time", 0, w},
		{"a little late", lateWake, w + lateWake},
		{"stalled", 300 * time.Millisecond, 2 * w},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{now: t0, stalls: []time.Duration{tc.stall}}
			tr := NewTransport(Policy{RateLimit: true, MaxAttempts: 1}, Options{Limits: []Limit{{Rate: 10}}, Now: clk.Now, Sleep: clk.Sleep})
			req, _ := http.NewRequest("GET", "http://127.0.0.1/", nil)
			// 10 requests went at t0; ours gets the first slot of the next window, and
			// while it sleeps 9 other operations take the rest of that window.
			for range 10 {
				tr.limiter.reserve(req, t0, time.Time{})
			}
			clk.onSleep = func() {
				for range 9 {
					tr.limiter.reserve(req, t0, time.Time{})
				}
			}
			if _, err := tr.limit(context.Background(), req, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if got := clk.Now().Sub(t0); got != tc.want {
				t.Fatalf("sent at %v, want %v", got, tc.want)
			}
		})
	}
}

// TestConfirmWaitsForSlowArrivals: three requests went at t0 and were answered at t0+answer.
// The fourth's slot is one lengthened window later; it may go only once the published
// window has passed since the last of those answers, as a server that received them as
// late as that counts them until then.
func TestConfirmWaitsForSlowArrivals(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := time.Second + LimiterMargin
	tests := []struct {
		name   string
		answer time.Duration
		want   time.Duration // when the fourth may go, from t0
	}{
		{"answered at once", 0, w},
		{"answered within the margin", LimiterMargin, w},
		{"answered late", 300 * time.Millisecond, 1300 * time.Millisecond},
		{"answered very late", 2 * time.Second, 3 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{now: t0}
			tr := NewTransport(Policy{RateLimit: true, MaxAttempts: 1}, Options{Limits: []Limit{{Rate: 3}}, Now: clk.Now, Sleep: clk.Sleep})
			req, _ := http.NewRequest("GET", "http://127.0.0.1/", nil)
			var gone []*sentRequest
			for range 3 {
				s, err := tr.limit(context.Background(), req, time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				gone = append(gone, s)
			}
			if got := clk.Now(); !got.Equal(t0) {
				t.Fatalf("the first three went at %v, want t0", got.Sub(t0))
			}
			for _, s := range gone {
				s.answered(t0.Add(tc.answer))
			}
			s, err := tr.limit(context.Background(), req, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			s.answered(clk.Now())
			if got := clk.Now().Sub(t0); got != tc.want {
				t.Fatalf("the fourth went at %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("requests in flight fill the window", func(t *testing.T) {
		l := newLimiter([]Limit{{Rate: 2}})
		req, _ := http.NewRequest("GET", "http://127.0.0.1/", nil)
		a, _, ok1 := l.confirm(req, t0)
		_, _, ok2 := l.confirm(req, t0)
		if !ok1 || !ok2 {
			t.Fatal("the first two refused")
		}
		if _, retry, ok := l.confirm(req, t0.Add(5*time.Second)); ok || !retry.After(t0.Add(5*time.Second)) {
			t.Fatalf("a third went with two in flight (retry %v)", retry.Sub(t0))
		}
		a.answered(t0.Add(6 * time.Second))
		if _, retry, ok := l.confirm(req, t0.Add(6*time.Second)); ok || !retry.Equal(t0.Add(7*time.Second)) {
			t.Fatalf("third: ok %v, retry %v, want refused until 7s", ok, retry.Sub(t0))
		}
		if _, _, ok := l.confirm(req, t0.Add(7*time.Second)); !ok {
			t.Fatal("refused once the answer left the window")
		}
	})
}

// TestLimiterSlowFirstArrivals: the first window's requests of a burst each need a new
// connection, which a machine starved of CPU dials in hundreds of milliseconds, while the
// next window's requests go out on warm connections at once. Here the first 20 requests
// reach the server 150 ms (more than LimiterMargin) after they went; a server enforcing the
// published limit with the model of internal/ratelimit must admit every request anyway.
func TestLimiterSlowFirstArrivals(t *testing.T) {
	const window, perWindow = 200 * time.Millisecond, 20
	pol, err := ratelimit.NewPolicy(ratelimit.Config{Limit: perWindow / window.Seconds(), Window: window})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		model    = ratelimit.NewLimiter(pol)
		rejected []time.Duration
		start    time.Time
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		// Stamped under the lock: between the client sending and the client's answer.
		now := time.Now()
		if d := model.Allow(now); !d.Allowed {
			rejected = append(rejected, now.Sub(start))
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	var sent atomic.Int64
	slowFirst := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if sent.Add(1) <= perWindow {
			time.Sleep(150 * time.Millisecond)
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	lim := []Limit{{Rate: perWindow / window.Seconds(), Window: window}}
	c := New(Policy{RateLimit: true, MaxAttempts: 1}, Options{Limits: lim, Transport: slowFirst})
	start = time.Now()
	var wg sync.WaitGroup
	for range 3 * perWindow {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", srv.URL+"/", nil)
			req.Header.Set("Authorization", "Bearer k")
			resp, err := c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	if len(rejected) > 0 {
		t.Errorf("the server rejected %d requests, at %v", len(rejected), rejected)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestLimiterUnderDelayedArrivals runs random request streams through reserve and confirm
// on a simulated clock, each request reaching the server any time up to 600 ms after it
// went (six times LimiterMargin) and answered 1 ms after it arrived, and replays the
// arrivals through internal/ratelimit with the published limit: every one must be
// admitted. The limits have no credit bound, whose margin is LimiterMargin's alone.
func TestLimiterUnderDelayedArrivals(t *testing.T) {
	tests := []struct {
		name string
		lim  Limit
	}{
		{"sustained only", Limit{Rate: 100}},
		{"burst without bound", Limit{Rate: 50, Burst: 80}},
		{"short window", Limit{Rate: 10, Window: 500 * time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pol, err := ratelimit.NewPolicy(ratelimit.Config{Limit: tc.lim.Rate, Window: tc.lim.Window, Burst: tc.lim.Burst, BurstDuration: tc.lim.BurstDuration})
			if err != nil {
				t.Fatal(err)
			}
			l := newLimiter([]Limit{tc.lim})
			r, _ := http.NewRequest("GET", "http://127.0.0.1/", nil)
			rnd := rand.New(rand.NewPCG(3, 7))
			start := time.Unix(5000, 0)
			// Events on the simulated clock: a request ready to take a slot, waking at its
			// slot, or answered.
			const (
				ready = iota
				wake
				answer
			)
			type event struct {
				at   time.Time
				kind int
				slot time.Time
				s    *sentRequest
			}
			var events []event
			now := start
			for range 3000 {
				if rnd.IntN(50) == 0 {
					now = now.Add(time.Duration(rnd.IntN(100)) * time.Millisecond)
				}
				if rnd.IntN(400) == 0 {
					now = now.Add(time.Duration(rnd.IntN(5000)) * time.Millisecond)
				}
				events = append(events, event{at: now, kind: ready})
			}
			var arrivals []time.Time
			refused := 0
			for len(events) > 0 {
				i := 0
				for j := range events {
					if events[j].at.Before(events[i].at) || events[j].at.Equal(events[i].at) && events[j].kind > events[i].kind {
						i = j
					}
				}
				e := events[i]
				events = slices.Delete(events, i, i+1)
				switch e.kind {
				case ready:
					at, _ := l.reserve(r, e.at, time.Time{})
					events = append(events, event{at: at, kind: wake})
				case wake:
					s, retry, ok := l.confirm(r, e.at)
					if !ok {
						refused++
						at, _ := l.reserve(r, retry, time.Time{})
						events = append(events, event{at: at, kind: wake})
						continue
					}
					// Mostly on time; some late, many of them together.
					var d time.Duration
					if rnd.IntN(4) == 0 {
						d = time.Duration(rnd.IntN(600)) * time.Millisecond
					}
					arrivals = append(arrivals, e.at.Add(d))
					events = append(events, event{at: e.at.Add(d + time.Millisecond), kind: answer, s: s})
				case answer:
					e.s.answered(e.at)
				}
			}
			if refused == 0 {
				t.Error("no request was refused: the delays did not test confirm")
			}
			slices.SortFunc(arrivals, func(a, b time.Time) int { return a.Compare(b) })
			model := ratelimit.NewLimiter(pol)
			for i, at := range arrivals {
				if d := model.Allow(at); !d.Allowed {
					t.Fatalf("request %d arriving at %v: the published model rejects it (retry at %v); %d refused by confirm",
						i, at.Sub(start), d.RetryAt.Sub(at), refused)
				}
			}
			t.Logf("%d requests, %d refused at their slot", len(arrivals), refused)
		})
	}
}

// TestRetryBudget runs operations sequentially: in a total outage the budget cuts retries to
// its rate, in a brownout where every first attempt fails it never refuses one.
func TestRetryBudget(t *testing.T) {
	tests := []struct {
		name           string
		failFirst      bool // only each operation's first attempt fails (else every attempt)
		budget         float64
		minAtt, maxAtt int
		wantOK         int
	}{
		// 30 first attempts, at most 10 + 1.2·30 retries; deposits while the budget is full
		// are lost, so at least 1.2·30 - 10.
		{name: "outage with budget", budget: 1.2, minAtt: 30 + 26, maxAtt: 30 + 46, wantOK: 0},
		{name: "outage without budget", budget: 0, minAtt: 30 * 5, maxAtt: 30 * 5, wantOK: 0},
		{name: "brownout with budget", failFirst: true, budget: 1.2, minAtt: 60, maxAtt: 60, wantOK: 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			seen := map[string]int{}
			total := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				total++
				seen[r.Header.Get("X-Retrylab-Op")]++
				n := seen[r.Header.Get("X-Retrylab-Op")]
				mu.Unlock()
				if !tc.failFirst || n == 1 {
					w.WriteHeader(503)
				}
			}))
			defer srv.Close()
			p := fast(t, Compliant, 100*time.Microsecond)
			p.GrowGaps, p.RetryBudget = false, tc.budget
			c := New(p, Options{Seed: 1})
			ok := 0
			for i := range 30 {
				req, _ := http.NewRequest("GET", srv.URL, nil)
				req.Header.Set("X-Retrylab-Op", strconv.Itoa(i))
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if total < tc.minAtt || total > tc.maxAtt || ok != tc.wantOK {
				t.Fatalf("%d attempts, %d succeeded; want %d..%d attempts, %d succeeded", total, ok, tc.minAtt, tc.maxAtt, tc.wantOK)
			}
		})
	}
}

// TestTruncatedBodyRetried: a 2xx whose body is cut short (the server closes the connection
// mid-body) is a network error to a client that reads bodies whole, so compliant retries it
// and hands the caller the whole body; no-retry hands back the broken body.
func TestTruncatedBodyRetried(t *testing.T) {
	tests := []struct {
		policy   string
		attempts int
		wantErr  bool
	}{
		{Compliant, 2, false},
		{NoRetry, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.policy, func(t *testing.T) {
			var mu sync.Mutex
			seen := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen++
				n := seen
				mu.Unlock()
				if n == 1 {
					c, buf, err := w.(http.Hijacker).Hijack()
					if err != nil {
						return
					}
					buf.WriteString("HTTP/1.1 201 Created\r\nContent-Length: 20\r\n\r\n{\"id\":")
					buf.Flush()
					c.Close()
					return
				}
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, `{"id":"call_1"}`)
			}))
			defer srv.Close()
			c := New(fast(t, tc.policy, time.Millisecond), Options{Seed: 1})
			req, _ := http.NewRequest("POST", srv.URL, strings.NewReader("{}"))
			resp, err := c.Do(req)
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && string(body) != `{"id":"call_1"}` {
				t.Errorf("body %q", body)
			}
			mu.Lock()
			defer mu.Unlock()
			if seen != tc.attempts {
				t.Errorf("server saw %d attempts, want %d", seen, tc.attempts)
			}
		})
	}
}
