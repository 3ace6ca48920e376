package analysis

import (
	"testing"

	"github.com/retrylab/retrylab/internal/journal"
)

func TestNonRetryableCheck(t *testing.T) {
	runCheckCases(t, CheckNonRetryable, []checkCase{
		{name: "one attempt", recs: []journal.Record{rec("k1", "a", 0, 400)}, want: 0},
		{name: "retries 5xx, 408 and 429 only", recs: []journal.Record{
			rec("k1", "a", 0, 503), rec("k1", "a", 200, 408), rec("k1", "a", 500, 429, ra(0)), rec("k1", "a", 800, 200),
		}, want: 0},
		{name: "retries 4xx", recs: []journal.Record{
			rec("k1", "a", 0, 422), rec("k1", "a", 200, 422), rec("k1", "a", 500, 400),
			rec("k1", "b", 0, 404), rec("k1", "c", 0, 409), rec("k1", "c", 300, 201),
		}, want: 3, wantOps: []string{"a", "a", "c"}},
		{name: "configured list", cfg: func(c *Config) { c.NonRetryable = []int{402} }, recs: []journal.Record{
			rec("k1", "a", 0, 402), rec("k1", "a", 200, 200), rec("k1", "b", 0, 422), rec("k1", "b", 200, 200),
		}, want: 1, wantOps: []string{"a"}},
	})
}
