package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/profile"
)

func withoutJournal() harnessOpt { return func(cfg *Config) { cfg.Journal = nil } }

// TestJournalOffKeepsCounters runs the same requests through a proxy with a journal and one
// without: the stats and the metrics must be the same, as the journal-off path skips only
// what the journal reads.
func TestJournalOffKeepsCounters(t *testing.T) {
	prof := &profile.Profile{
		Proxy:      profile.Proxy{MaxHeaderBytes: 4096},
		RateLimits: []profile.RateLimit{{Name: "one", Limit: 1, Path: "/limited"}},
		Faults: []profile.Fault{
			{Name: "boom", Action: "respond", Status: 503, RetryAfter: profile.Duration(2e9), Match: profile.Match{Path: "/boom"}},
			{Name: "lost", Action: "lose_response", Match: profile.Match{Path: "/lose"}},
			{Name: "cut", Action: "truncate", Bytes: 2, Match: profile.Match{Path: "/cut"}},
			{Name: "rst", Action: "reset", Match: profile.Match{Path: "/reset"}},
		},
	}
	run := func(opts ...harnessOpt) (Stats, []string) {
		h := newHarness(t, prof, nil, append(opts, withClock(&fakeClock{t: epoch}))...)
		for _, r := range []req{
			{path: "/ok", headers: hdr("X-Api-Key", "k1", "Idempotency-Key", "i1")},
			{method: "POST", path: "/ok", body: `{"a":1}`, headers: hdr("X-Api-Key", "k1")},
			{path: "/boom"}, {path: "/lose"}, {path: "/cut"}, {path: "/reset"},
			{path: "/limited", headers: hdr("X-Api-Key", "k2")},
			{path: "/limited", headers: hdr("X-Api-Key", "k2")},
		} {
			_, _, _ = h.do(r)
		}
		h.raw("GET /x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
		h.raw("GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + strings.Repeat("a", 5000) + "\r\nConnection: close\r\n\r\n")
		admin := httptest.NewServer(h.p.AdminHandler())
		defer admin.Close()
		resp, err := http.Get(admin.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "retrylab_proxy_requests_total") || strings.HasPrefix(l, "retrylab_proxy_rate_limit_rejections_total") ||
				strings.HasPrefix(l, "retrylab_proxy_upstream_duration_seconds_count") {
				lines = append(lines, l)
			}
		}
		slices.Sort(lines)
		st := h.p.Stats()
		h.stop()
		return st, lines
	}
	onStats, onMetrics := run()
	offStats, offMetrics := run(withoutJournal())
	if onStats.Requests != 10 || onStats.Forwarded != 3 || onStats.Faults != 4 || onStats.RateLimited != 1 || onStats.Rejected != 2 {
		t.Errorf("journal on: stats %+v", onStats)
	}
	if !reflect.DeepEqual(onStats, offStats) {
		t.Errorf("stats differ\njournal on  %+v\njournal off %+v", onStats, offStats)
	}
	if len(onMetrics) < 8 || !slices.Equal(onMetrics, offMetrics) {
		t.Errorf("metrics differ\njournal on:\n%s\njournal off:\n%s", strings.Join(onMetrics, "\n"), strings.Join(offMetrics, "\n"))
	}
}

// TestJournalOffReadsClockOnce checks that without a journal a request reads the clock once
// (its time, for the limiter and the rule windows) and not again for the journal's duration.
func TestJournalOffReadsClockOnce(t *testing.T) {
	for _, journal := range []bool{false, true} {
		clock := &fakeClock{t: epoch}
		var calls atomic.Int64
		opts := []harnessOpt{func(cfg *Config) {
			cfg.Start = epoch
			cfg.Now = func() time.Time { calls.Add(1); return clock.Now() }
		}}
		if !journal {
			opts = append(opts, withoutJournal())
		}
		h := newHarness(t, nil, nil, opts...)
		const n = 5
		for range n {
			h.mustDo(req{path: "/ok"})
		}
		h.stop()
		want := int64(n)
		if journal {
			want = 2 * n // time and duration
		}
		if got := calls.Load(); got != want {
			t.Errorf("journal %v: %d clock reads for %d requests, want %d", journal, got, n, want)
		}
	}
}
