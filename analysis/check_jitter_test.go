package analysis

import (
	"fmt"
	"testing"

	"github.com/retrylab/retrylab/internal/journal"
)

// storm returns n operations of client failing with status from rule (first attempt at
// i seconds) and retried delay(i) ms after the failure's response (10ms after it was sent).
func storm(client, prefix, ruleName string, status, n int, delay func(i int) float64, opts ...recOpt) []journal.Record {
	var out []journal.Record
	for i := range n {
		op := fmt.Sprintf("%s%02d", prefix, i)
		at := float64(i) * 1000
		first := rec(client, op, at, status, append([]recOpt{rule(ruleName)}, opts...)...)
		out = append(out, first, rec(client, op, at+10+delay(i), 200))
	}
	return out
}

func TestJitterCheck(t *testing.T) {
	fixed := func(ms float64) func(int) float64 { return func(int) float64 { return ms } }
	spread := func(i int) float64 { return 100 + float64(i*37%100) }
	runCheckCases(t, CheckJitter, []checkCase{
		{name: "one attempt each", recs: paced("k1", "a", 20, 0, 100), want: 0},
		{name: "no jitter", recs: storm("k1", "j", "flaky", 503, 12, fixed(100)), want: 1, wantOps: []string{"j00"}},
		{name: "full jitter", recs: storm("k1", "j", "flaky", 503, 12, spread), want: 0},
		{name: "fewer delays than min samples", recs: storm("k1", "j", "flaky", 503, 9, fixed(100)), want: 0},
		{name: "immediate retries are a storm", recs: storm("k1", "j", "flaky", 503, 12, fixed(1)), want: 1},
		{name: "retries after retry-after are not judged",
			recs: storm("k1", "j", "limit", 429, 12, fixed(1000), ra(1000)), want: 0},
		{name: "spread just over the minimum", recs: storm("k1", "j", "flaky", 503, 10, func(i int) float64 { return 100 + 6*float64(i) }), want: 0},
		{name: "spread under the minimum", recs: storm("k1", "j", "flaky", 503, 10, func(i int) float64 { return 100 + 2*float64(i) }), want: 1},
		{name: "grouped by fault", recs: merge(
			storm("k1", "a", "flaky", 503, 12, fixed(200)),
			storm("k2", "b", "gateway", 502, 12, spread),
			storm("k3", "c", "flaky", 500, 12, fixed(400)),
		), want: 2, wantOps: []string{"a00", "c00"}},
		{name: "across clients", recs: merge(
			storm("k1", "a", "flaky", 503, 6, fixed(150)),
			storm("k2", "b", "flaky", 503, 6, fixed(150)),
		), want: 1},
	})
}
