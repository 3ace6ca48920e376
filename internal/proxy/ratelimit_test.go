package proxy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
)

func TestRateLimitRetryAfterEdges(t *testing.T) {
	clk := &fakeClock{t: epoch.Add(250 * time.Millisecond)}
	prof := &profile.Profile{
		RateLimits: []profile.RateLimit{{Name: "calls", Path: "/v1/calls", Limit: 2}},
		// A rule matching everything: a limited request must get the limiter's 429, not this.
		Faults: []profile.Fault{{Name: "always", Action: "respond", Status: 503, Match: profile.Match{Path: "/v1/calls/"}}},
	}
	h := newHarness(t, prof, nil, withClock(clk))
	key := hdr("Authorization", "Bearer k1")
	get := func(path string, at time.Duration) (int, map[string]string, string) {
		clk.Set(epoch.Add(at))
		resp, body := h.mustDo(req{path: path, headers: key})
		out := map[string]string{}
		for _, k := range []string{"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
			out[k] = resp.Header.Get(k)
		}
		return resp.StatusCode, out, body
	}
	type want struct {
		at        time.Duration
		path      string
		status    int
		remaining string
		retry     string
		reset     int64 // unix seconds
	}
	start := epoch.Unix()
	steps := []want{
		{250 * time.Millisecond, "/v1/calls", 200, "1", "", start + 2},
		{400 * time.Millisecond, "/v1/calls", 200, "0", "", start + 2},
		// limited: the first slot frees at 1.25s; Retry-After is rounded up to 1 s
		{500 * time.Millisecond, "/v1/calls/9", 429, "0", "1", start + 2},
		// another path is not under this limit and gets the rule's fault
		{500 * time.Millisecond, "/v1/agents", 200, "", "", 0},
		{1250*time.Millisecond - time.Nanosecond, "/v1/calls", 429, "0", "1", start + 2},
		{1250 * time.Millisecond, "/v1/calls", 200, "0", "", start + 2},
		{1400*time.Millisecond - time.Nanosecond, "/v1/calls", 429, "0", "1", start + 2},
		{1400 * time.Millisecond, "/v1/calls/9", 503, "0", "", start + 3},
	}
	for i, s := range steps {
		status, hd, body := get(s.path, s.at)
		if status != s.status {
			t.Fatalf("step %d %s at %v: status %d, want %d (%s)", i, s.path, s.at, status, s.status, body)
		}
		if s.remaining != "" && (hd["X-RateLimit-Remaining"] != s.remaining || hd["X-RateLimit-Limit"] != "2") {
			t.Errorf("step %d: limit headers %v", i, hd)
		}
		if hd["Retry-After"] != s.retry {
			t.Errorf("step %d: Retry-After %q, want %q", i, hd["Retry-After"], s.retry)
		}
		if s.reset != 0 && hd["X-RateLimit-Reset"] != strconv.FormatInt(s.reset, 10) {
			t.Errorf("step %d: X-RateLimit-Reset %s, want %d", i, hd["X-RateLimit-Reset"], s.reset)
		}
		if status == 429 {
			var b struct {
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &b); err != nil || b.Error.Code != "rate_limited" {
				t.Errorf("step %d: body %q", i, body)
			}
		}
	}
	recs := h.records()
	wantMs := map[int]int64{2: 750, 4: 1, 6: 1}
	for i, r := range recs {
		ms, limited := wantMs[i]
		if !limited {
			if r.Action == journal.ActionRateLimit {
				t.Errorf("record %d limited: %+v", i, r)
			}
			continue
		}
		if r.Action != journal.ActionRateLimit || r.Rule != "calls" || r.Status != 429 || r.RetryAfterMs != ms || r.UpstreamStatus != 0 {
			t.Errorf("record %d: %+v, want rate_limit with retry_after_ms %d", i, r, ms)
		}
	}
	if st := h.p.Stats(); st.RateLimited != 3 || st.Faults != 1 || st.Forwarded != 4 {
		t.Errorf("stats %+v", st)
	}
}

func TestRateLimitPerClientAndAllMustAdmit(t *testing.T) {
	clk := &fakeClock{t: epoch}
	prof := &profile.Profile{RateLimits: []profile.RateLimit{
		{Name: "global", Limit: 3},
		{Name: "posts", Method: "POST", Limit: 1},
	}}
	h := newHarness(t, prof, nil, withClock(clk))
	tests := []struct {
		name   string
		method string
		key    string
		status int
		rule   string
	}{
		{"a: post passes both", "POST", "a", 201, ""},
		{"a: second post hits posts", "POST", "a", 429, "posts"},
		{"a: get passes global", "GET", "a", 200, ""},
		{"b: has its own window", "POST", "b", 201, ""},
		{"a: get fills global", "GET", "a", 200, ""},
		{"a: global is full", "GET", "a", 429, "global"},
		{"anonymous is one client", "GET", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := map[string]string{}
			if tt.key != "" {
				headers["X-Api-Key"] = tt.key
			}
			resp, _ := h.mustDo(req{method: tt.method, path: "/", headers: headers})
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
	recs := h.records()
	for i, tt := range tests {
		if recs[i].Rule != tt.rule {
			t.Errorf("%s: rule %q, want %q", tt.name, recs[i].Rule, tt.rule)
		}
	}
}

func TestRateLimitHeaderModes(t *testing.T) {
	tests := []struct {
		mode    string
		present []string
		absent  []string
	}{
		{"", []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}, []string{"RateLimit", "RateLimit-Policy"}},
		{"ietf", []string{"RateLimit", "RateLimit-Policy"}, []string{"X-RateLimit-Limit"}},
		{"both", []string{"RateLimit", "RateLimit-Policy", "X-RateLimit-Limit"}, nil},
		{"none", nil, []string{"RateLimit", "X-RateLimit-Limit"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("mode %q", tt.mode), func(t *testing.T) {
			clk := &fakeClock{t: epoch}
			prof := &profile.Profile{Proxy: profile.Proxy{RateLimitHeaders: tt.mode},
				RateLimits: []profile.RateLimit{{Name: "ingest", Limit: 100, Burst: 200, BurstDuration: profile.Duration(10 * time.Second)}}}
			h := newHarness(t, prof, nil, withClock(clk))
			resp, _ := h.mustDo(req{path: "/", headers: hdr("X-Api-Key", "k")})
			for _, k := range tt.present {
				if resp.Header.Get(k) == "" {
					t.Errorf("%s missing", k)
				}
			}
			for _, k := range tt.absent {
				if v := resp.Header.Get(k); v != "" {
					t.Errorf("%s = %q, want absent", k, v)
				}
			}
			if tt.mode == "ietf" {
				if got := resp.Header.Get("RateLimit-Policy"); got != `"ingest";q=100;w=1` {
					t.Errorf("RateLimit-Policy %q", got)
				}
				if got := resp.Header.Get("RateLimit"); got != `"ingest";r=199;t=1` {
					t.Errorf("RateLimit %q", got)
				}
			}
		})
	}
}
