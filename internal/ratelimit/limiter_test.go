package ratelimit

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 6, 12, 0, 0, 0, time.UTC)

const ms = time.Millisecond

type step struct {
	at        time.Duration // offset from t0
	n         int           // requests at that instant (default 1)
	allowed   bool          // expected outcome of the last of them
	retryAt   time.Duration // expected RetryAt offset of the last of them; -1 = not checked
	remaining int           // expected Remaining of the last; -1 = not checked
}

func TestLimiterEdges(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{
			name: "window fills and the retry instant passes while one ns earlier fails",
			cfg:  Config{Limit: 3},
			steps: []step{
				{at: 0, n: 3, allowed: true, retryAt: 1000 * ms, remaining: 0},
				{at: 0, allowed: false, retryAt: 1000 * ms, remaining: 0},
				{at: 1000*ms - 1, allowed: false, retryAt: 1000 * ms, remaining: 0},
				{at: 1000 * ms, n: 3, allowed: true, retryAt: 2000 * ms, remaining: 0},
			},
		},
		{
			name: "sliding window frees the oldest slot first",
			cfg:  Config{Limit: 3},
			steps: []step{
				{at: 0, allowed: true, retryAt: 0, remaining: 2},
				{at: 100 * ms, allowed: true, retryAt: 100 * ms, remaining: 1},
				{at: 200 * ms, allowed: true, retryAt: 1000 * ms, remaining: 0},
				{at: 300 * ms, allowed: false, retryAt: 1000 * ms, remaining: 0},
				{at: 1000 * ms, allowed: true, retryAt: 1100 * ms, remaining: 0},
				{at: 1100*ms - 1, allowed: false, retryAt: 1100 * ms, remaining: 0},
				{at: 1100 * ms, allowed: true, retryAt: 1200 * ms, remaining: 0},
			},
		},
		{
			name: "rejected requests are not counted",
			cfg:  Config{Limit: 1},
			steps: []step{
				{at: 0, allowed: true, retryAt: 1000 * ms, remaining: 0},
				{at: 500 * ms, n: 5, allowed: false, retryAt: 1000 * ms, remaining: 0},
				{at: 1000 * ms, allowed: true, retryAt: 2000 * ms, remaining: 0},
			},
		},
		{
			name: "longer window",
			cfg:  Config{Limit: 2, Window: 2 * time.Second},
			steps: []step{
				{at: 0, n: 4, allowed: true, retryAt: 2000 * ms, remaining: 0},
				{at: 1999 * ms, allowed: false, retryAt: 2000 * ms, remaining: -1},
				{at: 2000 * ms, allowed: true, retryAt: 2000 * ms, remaining: 3},
			},
		},
		{
			name: "burst: B per window while tokens last",
			// L=2, B=4, K = max(2, (4-2)*2) = 4 tokens, one token per 500ms.
			cfg: Config{Limit: 2, Burst: 4, BurstDuration: 2 * time.Second},
			steps: []step{
				// the window is full (4 in [0,1s)) although a token comes back at 500ms
				{at: 0, n: 4, allowed: true, retryAt: 1000 * ms, remaining: 0},
				{at: 0, allowed: false, retryAt: 1000 * ms, remaining: 0},
				{at: 500 * ms, allowed: false, retryAt: 1000 * ms, remaining: 0},
				// at 1s the window is empty and the bucket has 2 tokens
				{at: 1000 * ms, n: 2, allowed: true, retryAt: 1500 * ms, remaining: 0},
				{at: 1500*ms - 1, allowed: false, retryAt: 1500 * ms, remaining: -1},
				{at: 1500 * ms, allowed: true, retryAt: 2000 * ms, remaining: 0},
			},
		},
		{
			name: "burst credit is regained by resting",
			cfg:  Config{Limit: 2, Burst: 4, BurstDuration: 2 * time.Second},
			steps: []step{
				{at: 0, n: 4, allowed: true, retryAt: 1000 * ms, remaining: 0},
				{at: 10 * time.Second, n: 4, allowed: true, retryAt: 11000 * ms, remaining: 0},
			},
		},
		{
			name: "burst without duration is a plain window of B",
			cfg:  Config{Limit: 2, Burst: 4},
			steps: []step{
				{at: 0, n: 4, allowed: true, retryAt: 1000 * ms, remaining: 0},
				{at: 999 * ms, allowed: false, retryAt: 1000 * ms, remaining: 0},
				{at: 1000 * ms, n: 4, allowed: true, retryAt: 2000 * ms, remaining: 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPolicy(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			l := NewLimiter(p)
			for i, s := range tt.steps {
				n := max(1, s.n)
				var d Decision
				for range n {
					d = l.Allow(t0.Add(s.at))
				}
				if d.Allowed != s.allowed {
					t.Fatalf("step %d at %v: allowed = %v, want %v", i, s.at, d.Allowed, s.allowed)
				}
				if s.retryAt >= 0 {
					if got := d.RetryAt.Sub(t0); got != s.retryAt {
						t.Errorf("step %d at %v: RetryAt = %v, want %v", i, s.at, got, s.retryAt)
					}
				}
				if s.remaining >= 0 && d.Remaining != s.remaining {
					t.Errorf("step %d at %v: Remaining = %d, want %d", i, s.at, d.Remaining, s.remaining)
				}
				if d.Limit != p.Limit() {
					t.Errorf("step %d: Limit = %d, want %d", i, d.Limit, p.Limit())
				}
			}
		})
	}
}

// TestBurstLastsBurstDuration drives the seeds' "100 RPS, bursts to 200 RPS for 10 s" with
// a client sending 200 RPS evenly: everything passes for 10 s, then only 100 per second.
func TestBurstLastsBurstDuration(t *testing.T) {
	p, err := NewPolicy(Config{Limit: 100, Burst: 200, BurstDuration: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLimiter(p)
	perSecond := make([]int, 15)
	firstReject := time.Duration(-1)
	for i := range 15 * 200 {
		at := time.Duration(i) * 5 * ms
		if l.Allow(t0.Add(at)).Allowed {
			perSecond[at/time.Second]++
		} else if firstReject < 0 {
			firstReject = at
		}
	}
	if firstReject < 9900*ms || firstReject > 10100*ms {
		t.Errorf("first rejection at %v, want about 10s", firstReject)
	}
	for s, n := range perSecond {
		want := 200
		if s >= 11 {
			want = 100
		}
		if (s < 9 || s > 10) && n != want { // seconds 9 and 10 hold the transition
			t.Errorf("second %d: %d admitted, want %d", s, n, want)
		}
	}
}

// TestNeverMoreThanPeakInAnyWindow checks the window invariant on an irregular stream.
func TestNeverMoreThanPeakInAnyWindow(t *testing.T) {
	p, err := NewPolicy(Config{Limit: 10, Burst: 20, BurstDuration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLimiter(p)
	var admitted []time.Duration
	at := time.Duration(0)
	for i := range 5000 {
		at += time.Duration((i*7919)%23) * ms
		if l.Allow(t0.Add(at)).Allowed {
			admitted = append(admitted, at)
		}
	}
	j := 0
	for i := range admitted {
		for admitted[i]-admitted[j] >= time.Second {
			j++
		}
		if n := i - j + 1; n > p.Peak() {
			t.Fatalf("%d requests in the window ending %v, peak %d", n, admitted[i], p.Peak())
		}
	}
	if len(admitted) == 0 {
		t.Fatal("nothing admitted")
	}
}

func TestNewPolicyErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"zero limit", Config{}},
		{"negative limit", Config{Limit: -1}},
		{"limit below one per window", Config{Limit: 0.5}},
		{"negative window", Config{Limit: 1, Window: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewPolicy(tt.cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
}

func TestSetAllLimitsMustAdmit(t *testing.T) {
	tight, _ := NewPolicy(Config{Limit: 1})
	loose, _ := NewPolicy(Config{Limit: 5})
	s, err := NewSet([]*Policy{loose, tight})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		client  string
		mask    uint64
		at      time.Duration
		allowed bool
		idx     int
		retryAt time.Duration
	}{
		{"loose only", "a", 0b01, 0, true, 0, 0},
		{"both admit", "a", 0b11, 0, true, 1, 1000 * ms},
		{"tight rejects", "a", 0b11, 10 * ms, false, 1, 1000 * ms},
		{"rejection consumed nothing from loose", "a", 0b01, 20 * ms, true, 0, 20 * ms},
		{"other client has its own state", "b", 0b11, 30 * ms, true, 1, 1030 * ms},
		{"no policy applies", "a", 0, 40 * ms, true, -1, 40 * ms},
		{"tight admits again at its retry instant", "a", 0b11, 1000 * ms, true, 1, 2000 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, d := s.Allow(tt.client, tt.mask, t0.Add(tt.at))
			if d.Allowed != tt.allowed || idx != tt.idx {
				t.Fatalf("got allowed=%v idx=%d, want %v %d", d.Allowed, idx, tt.allowed, tt.idx)
			}
			if got := d.RetryAt.Sub(t0); got != tt.retryAt {
				t.Errorf("RetryAt = %v, want %v", got, tt.retryAt)
			}
		})
	}
	s.Reset()
	if s.Clients() != 0 {
		t.Errorf("Clients after Reset = %d", s.Clients())
	}
}

func BenchmarkSetAllow(b *testing.B) {
	p, _ := NewPolicy(Config{Limit: 1e6, Burst: 2e6, BurstDuration: 10 * time.Second})
	s, _ := NewSet([]*Policy{p})
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		s.Allow("k_0123456789abcdef", 1, now)
	}
}

// TestAllowAtMatchesAllow replays the same request times through Allow and AllowAt on
// twin limiters: every decision and every RetryAt of a rejection must agree, for a plain
// window, a burst with credit and an unbounded burst.
func TestAllowAtMatchesAllow(t *testing.T) {
	cfgs := []Config{
		{Limit: 10, Window: time.Second},
		{Limit: 100, Window: time.Second, Burst: 200, BurstDuration: 10 * time.Second},
		{Limit: 5, Window: 2 * time.Second, Burst: 20},
	}
	for _, cfg := range cfgs {
		p, err := NewPolicy(cfg)
		if err != nil {
			t.Fatal(err)
		}
		a, b := NewLimiter(p), NewLimiter(p)
		rng := rand.New(rand.NewPCG(1, 2))
		now := int64(1_700_000_000_000_000_000)
		for i := range 20000 {
			// Bursts of back-to-back requests, then pauses, so both edges are crossed.
			if i%300 < 250 {
				now += rng.Int64N(int64(3 * time.Millisecond))
			} else {
				now += rng.Int64N(int64(200 * time.Millisecond))
			}
			d := a.Allow(time.Unix(0, now))
			ok, retryAt := b.AllowAt(now)
			if ok != d.Allowed {
				t.Fatalf("%+v: request %d: AllowAt %v, Allow %v", cfg, i, ok, d.Allowed)
			}
			if !ok && retryAt != d.RetryAt.UnixNano() {
				t.Fatalf("%+v: request %d: AllowAt retry at %d, Allow %d", cfg, i, retryAt, d.RetryAt.UnixNano())
			}
			if !ok && i%7 == 0 { // a retry exactly at the announced instant passes on both
				d2 := a.Allow(d.RetryAt)
				ok2, _ := b.AllowAt(retryAt)
				if !d2.Allowed || !ok2 {
					t.Fatalf("%+v: request %d: retry at RetryAt refused (Allow %v, AllowAt %v)", cfg, i, d2.Allowed, ok2)
				}
				now = retryAt
			}
		}
	}
}
