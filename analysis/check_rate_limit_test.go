package analysis

import (
	"fmt"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
)

// paced returns n single-attempt operations of client, one every stepMs from startMs,
// named prefix0, prefix1, ...
func paced(client, prefix string, n int, startMs, stepMs float64, opts ...recOpt) []journal.Record {
	out := make([]journal.Record, n)
	for i := range out {
		out[i] = rec(client, fmt.Sprintf("%s%02d", prefix, i), startMs+float64(i)*stepMs, 200, opts...)
	}
	return out
}

// limits sets the published limits and judges exact arrival times (no transit jitter).
func limits(l ...profile.RateLimit) func(*Config) {
	return func(c *Config) { c.RateLimits, c.RateLimitTransit = l, time.Nanosecond }
}

// limitsTransit sets the published limits with the given transit tolerance.
func limitsTransit(transit time.Duration, l ...profile.RateLimit) func(*Config) {
	return func(c *Config) { c.RateLimits, c.RateLimitTransit = l, transit }
}

// jittered shifts every record's arrival by the next of offsets (ms), cyclically.
func jittered(recs []journal.Record, offsets ...float64) []journal.Record {
	for i := range recs {
		recs[i].Time += int64(offsets[i%len(offsets)] * float64(time.Millisecond))
	}
	return recs
}

func rl(limit, burst float64, burstFor time.Duration) profile.RateLimit {
	return profile.RateLimit{Limit: profile.Rate(limit), Burst: profile.Rate(burst), Window: profile.Duration(time.Second),
		BurstDuration: profile.Duration(burstFor)}
}

func merge(parts ...[]journal.Record) []journal.Record {
	var out []journal.Record
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestRateLimitCheck(t *testing.T) {
	runCheckCases(t, CheckRateLimit, []checkCase{
		{name: "at the limit", cfg: limits(rl(10, 10, 0)), recs: paced("k1", "a", 30, 0, 100), want: 0},
		{name: "over the limit without burst", cfg: limits(rl(10, 10, 0)),
			recs: merge(paced("k1", "a", 15, 0, 50), paced("k2", "b", 10, 0, 100)),
			want: 5, wantOps: []string{"a10", "a11", "a12", "a13", "a14"}},
		{name: "tolerance", cfg: func(c *Config) { limits(rl(10, 10, 0))(c); c.RateLimitTolerance = 0.5 },
			recs: paced("k1", "a", 16, 0, 50), want: 1, wantOps: []string{"a15"}},
		{name: "over the burst rate", cfg: limits(rl(10, 20, 10*time.Second)),
			recs: paced("k1", "a", 25, 0, 10), want: 5, wantOps: []string{"a20", "a21", "a22", "a23", "a24"}},
		{name: "burst credit used up", cfg: limits(rl(10, 20, time.Second)),
			// 20/s against a bucket of 10 tokens refilled at 10/s: the 20th attempt (at
			// 950ms) finds it empty; from then on one attempt in two is over the limit
			recs: paced("k1", "a", 30, 0, 50), want: 6, wantOps: []string{"a19", "a21", "a23", "a25", "a27", "a29"}},
		{name: "paced at the limit, arrivals jittered, judged exactly", cfg: limits(rl(10, 10, 0)),
			recs: jittered(paced("k1", "a", 30, 0, 100), 0, 20, -20), want: 2,
			wantOps: []string{"a11", "a23"}}, // 40ms early: a11 vs a1, then a23 vs a13
		{name: "paced at the limit, arrivals jittered within transit", cfg: limitsTransit(50*time.Millisecond, rl(10, 10, 0)),
			recs: jittered(paced("k1", "a", 30, 0, 100), 0, 20, -20), want: 0},
		{name: "jitter beyond transit is a violation", cfg: limitsTransit(20*time.Millisecond, rl(10, 10, 0)),
			recs: jittered(paced("k1", "a", 30, 0, 100), 0, 20, -20), want: 2, wantOps: []string{"a11", "a23"}},
		{name: "twice the limit is caught despite transit", cfg: limitsTransit(50*time.Millisecond, rl(10, 10, 0)),
			recs: paced("k1", "a", 40, 0, 50), want: 19},
		{name: "seed limits: 150/s for 5s is a burst", recs: paced("k1", "a", 750, 0, 1000.0/150), want: 0},
		{name: "below the limit though the proxy answered 429", cfg: limits(rl(10, 10, 0)),
			recs: paced("k1", "a", 8, 0, 100, func(r *journal.Record) {
				r.Status, r.Action, r.RetryAfterMs = 429, journal.ActionRateLimit, 1000
			}), want: 0},
		{name: "limit scoped by method and path", cfg: limits(profile.RateLimit{Method: "POST", Path: "/v1/calls",
			Limit: 5, Burst: 5, Window: profile.Duration(time.Second)}),
			recs: merge(paced("k1", "a", 5, 0, 100), paced("k1", "g", 20, 0, 10, withMethod("GET")),
				paced("k1", "p", 5, 0, 10, onPath("/v1/agents"))), want: 0},
		{name: "clients are limited separately", cfg: limits(rl(5, 5, 0)),
			recs: merge(paced("k1", "a", 5, 0, 10), paced("k2", "b", 6, 0, 10)), want: 1, wantOps: []string{"b05"}},
	})
}

func TestRateLimitClientStats(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateLimits = []profile.RateLimit{rl(10, 20, 2*time.Second)}
	cfg.ClientNames = map[string]string{"k1": "alice"}
	rep := analyzeRecs(t, cfg, merge(paced("k1", "a", 30, 0, 50), paced("k2", "b", 3, 0, 100))...)
	want := []ClientStats{
		{Client: "k1", Name: "alice", Operations: 30, Attempts: 30, PeakRate: 20, Limit: 10, Burst: 20},
		{Client: "k2", Operations: 3, Attempts: 3, PeakRate: 3, Limit: 10, Burst: 20},
	}
	if len(rep.Clients) != len(want) {
		t.Fatalf("clients = %+v, want %+v", rep.Clients, want)
	}
	for i := range want {
		if rep.Clients[i] != want[i] {
			t.Errorf("client %d = %+v, want %+v", i, rep.Clients[i], want[i])
		}
	}
	if got := rep.Metrics["rate_limit.peak_ratio"]; got != 2 {
		t.Errorf("rate_limit.peak_ratio = %v, want 2", got)
	}
}
