package analysis

import (
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
)

func TestBackoffCheck(t *testing.T) {
	// Responses arrive 10ms after the attempt; gaps below are from the response.
	runCheckCases(t, CheckBackoff, []checkCase{
		{name: "one attempt", recs: []journal.Record{rec("k1", "a", 0, 503)}, want: 0},
		{name: "exponential backoff", recs: []journal.Record{
			rec("k1", "a", 0, 503), rec("k1", "a", 110, 503), rec("k1", "a", 320, 503), rec("k1", "a", 730, 200),
		}, want: 0},
		{name: "immediate retries", recs: []journal.Record{
			rec("k1", "a", 0, 503), rec("k1", "a", 11, 503), rec("k1", "a", 22, 200),
			rec("k1", "b", 0, 503), rec("k1", "b", 200, 200),
		}, want: 2, wantOps: []string{"a", "a"}},
		{name: "min backoff boundary and tolerance", recs: []journal.Record{
			rec("k1", "a", 0, 503), rec("k1", "a", 100, 200), // gap 90ms = 100 - tolerance
			rec("k1", "b", 0, 503), rec("k1", "b", 99, 200), // gap 89ms
		}, want: 1, wantOps: []string{"b"}},
		{name: "shrinking gaps", recs: []journal.Record{
			rec("k1", "a", 0, 503), rec("k1", "a", 410, 503), rec("k1", "a", 620, 200), // 400 then 200
			rec("k1", "b", 0, 503), rec("k1", "b", 410, 503), rec("k1", "b", 811, 200), // 400 then 391: within tolerance
		}, want: 1, wantOps: []string{"a"}},
		{name: "waiting what retry-after said is never a backoff violation", recs: []journal.Record{
			rec("k1", "a", 0, 429, ra(0)), rec("k1", "a", 10, 429, ra(1000)), rec("k1", "a", 1020, 200),
		}, want: 0},
		{name: "a retry-after gap does not set the growth baseline", recs: []journal.Record{
			rec("k1", "a", 0, 503), rec("k1", "a", 210, 429, ra(2000)), rec("k1", "a", 2220, 503),
			rec("k1", "a", 2630, 200), // 200, (RA 2000), 400: grows against 200
		}, want: 0},
		{name: "retry sent before a hung attempt was answered is not judged", recs: []journal.Record{
			rec("k1", "a", 0, 0, action(journal.ActionHang), dur(30*time.Second)),
			rec("k1", "a", 5200, 200),
		}, want: 0},
		{name: "retry just after a hang ended is not judged: the client timed out earlier", recs: []journal.Record{
			rec("k1", "a", 0, 0, action(journal.ActionHang), dur(3*time.Second)),
			rec("k1", "a", 3017, 200),
		}, want: 0},
		{name: "retry right after a reset is judged", recs: []journal.Record{
			rec("k1", "a", 0, 0, action(journal.ActionReset), dur(time.Millisecond)),
			rec("k1", "a", 20, 200),
		}, want: 1, wantOps: []string{"a"}},
		{name: "interleaved operations of one client", recs: []journal.Record{
			rec("k1", "a", 0, 503), rec("k1", "b", 5, 503), rec("k1", "b", 20, 200),
			rec("k1", "a", 300, 200),
		}, want: 1, wantOps: []string{"b"}},
	})
}
