package analysis

import (
	"testing"

	"github.com/retrylab/retrylab/internal/journal"
)

func TestRetryAfterCheck(t *testing.T) {
	// Attempts last 10ms, so a response to an attempt sent at T arrives at T+10.
	clientScope := func(c *Config) { c.RetryAfterScope = ScopeClient }
	runCheckCases(t, CheckRetryAfter, []checkCase{
		{name: "one attempt", recs: []journal.Record{rec("k1", "a", 0, 429, ra(1000))}, want: 0, wantOps: []string{}},
		{name: "honors retry-after", recs: []journal.Record{
			rec("k1", "a", 0, 429, ra(1000)), rec("k1", "a", 1010, 200),
		}, want: 0},
		{name: "exactly at the boundary", recs: []journal.Record{
			rec("k1", "a", 0, 503, ra(2000)), rec("k1", "a", 2010, 200),
		}, want: 0},
		{name: "early within tolerance", recs: []journal.Record{
			rec("k1", "a", 0, 503, ra(2000)), rec("k1", "a", 1961, 200),
		}, want: 0},
		{name: "early beyond tolerance", recs: []journal.Record{
			rec("k1", "a", 0, 503, ra(2000)), rec("k1", "a", 1959, 200),
		}, want: 1, wantOps: []string{"a"}},
		{name: "retry-after 0 allows an immediate retry", recs: []journal.Record{
			rec("k1", "a", 0, 503, ra(0)), rec("k1", "a", 10, 200),
		}, want: 0},
		{name: "http-date in the past is 0", recs: []journal.Record{
			rec("k1", "a", 0, 503, ra(0), func(r *journal.Record) { r.RetryAfter = "Wed, 21 Oct 2015 07:28:00 GMT" }),
			rec("k1", "a", 11, 200),
		}, want: 0},
		{name: "malformed retry-after is no constraint", recs: []journal.Record{
			rec("k1", "a", 0, 503, func(r *journal.Record) { r.RetryAfter = "soon" }), rec("k1", "a", 15, 200),
		}, want: 0},
		{name: "ignores retry-after on every retry", recs: []journal.Record{
			rec("k1", "a", 0, 429, ra(1000)), rec("k1", "a", 110, 429, ra(1000)), rec("k1", "a", 330, 200),
			rec("k1", "b", 5, 429, ra(1000)), rec("k1", "b", 1100, 200),
		}, want: 2, wantOps: []string{"a", "a"}},
		{name: "interleaved operations of one client", recs: []journal.Record{
			rec("k1", "a", 0, 429, ra(500)), rec("k1", "b", 100, 200), rec("k1", "c", 200, 503, ra(1000)),
			rec("k1", "a", 300, 200), rec("k1", "c", 1300, 200),
		}, want: 1, wantOps: []string{"a"}},
		{name: "operation scope ignores other operations during a block", recs: []journal.Record{
			rec("k1", "a", 0, 429, ra(1000)), rec("k1", "b", 100, 200), rec("k1", "a", 1010, 200),
		}, want: 0},
		{name: "client scope flags other operations during a 429 block", cfg: clientScope, recs: []journal.Record{
			rec("k1", "a", 0, 429, ra(1000)), rec("k1", "b", 100, 200), rec("k2", "c", 100, 200),
			rec("k1", "d", 1100, 200), rec("k1", "a", 1010, 200),
		}, want: 1, wantOps: []string{"b"}},
		{name: "client scope ignores attempts in flight before the 429 answered", cfg: clientScope, recs: []journal.Record{
			rec("k1", "a", 0, 429, ra(1000)), rec("k1", "b", 5, 200), rec("k1", "a", 1010, 200),
		}, want: 0},
		{name: "client scope does not count a 503 block", cfg: clientScope, recs: []journal.Record{
			rec("k1", "a", 0, 503, ra(1000)), rec("k1", "b", 100, 200), rec("k1", "a", 1010, 200),
		}, want: 0},
	})
}
