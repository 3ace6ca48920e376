package analysis

import (
	"testing"

	"github.com/retrylab/retrylab/internal/journal"
)

func retries(client, op string, n int, stepMs float64, status int) []journal.Record {
	out := make([]journal.Record, n)
	for i := range out {
		out[i] = rec(client, op, float64(i)*stepMs, status)
	}
	return out
}

func TestMaxAttemptsCheck(t *testing.T) {
	cat := func(parts ...[]journal.Record) []journal.Record {
		var out []journal.Record
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	runCheckCases(t, CheckMaxAttempts, []checkCase{
		{name: "one attempt", recs: retries("k1", "a", 1, 0, 200), want: 0},
		{name: "five attempts", recs: retries("k1", "a", 5, 1000, 503), want: 0},
		{name: "six attempts", recs: cat(retries("k1", "a", 6, 1000, 503), retries("k1", "b", 5, 1000, 503)),
			want: 1, wantOps: []string{"a"}},
		{name: "unbounded", recs: retries("k1", "a", 40, 500, 503), want: 1, wantOps: []string{"a"}},
		{name: "span exactly the limit", recs: []journal.Record{rec("k1", "a", 0, 503), rec("k1", "a", 30000, 200)}, want: 0},
		{name: "span over the limit", recs: []journal.Record{rec("k1", "a", 0, 503), rec("k1", "a", 30001, 200)},
			want: 1, wantOps: []string{"a"}},
		{name: "configured cap", cfg: func(c *Config) { c.MaxAttempts = 3 },
			recs: cat(retries("k1", "a", 4, 300, 503), retries("k2", "b", 3, 300, 503)), want: 1, wantOps: []string{"a"}},
	})
}
