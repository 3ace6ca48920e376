package analysis

import (
	"testing"

	"github.com/retrylab/retrylab/internal/journal"
)

func TestAmplificationCheck(t *testing.T) {
	failing := func(op string, atMs float64, n int) []journal.Record {
		var out []journal.Record
		for i := range n - 1 {
			out = append(out, rec("k1", op, atMs+float64(i)*150, 503))
		}
		return append(out, rec("k1", op, atMs+float64(n-1)*150, 200))
	}
	runCheckCases(t, CheckAmplification, []checkCase{
		{name: "one attempt each", recs: paced("k1", "a", 10, 0, 100), want: 0},
		{name: "overall at the factor", recs: merge(failing("a", 0, 3), failing("b", 5000, 2)), want: 0},
		{name: "overall over the factor", recs: merge(failing("a", 0, 3), failing("b", 5000, 3)), want: 1},
		{name: "a total outage within the attempt cap", recs: merge(paced("k2", "p", 10, 0, 1000),
			failing("x", 20000, 5), failing("y", 20050, 5)), want: 0},
		{name: "fault windows over the attempt cap", recs: merge(paced("k2", "p", 30, 0, 1000),
			failing("x", 40000, 6), failing("y", 40050, 6)), want: 1},
		{name: "both over the factor", recs: merge(failing("a", 0, 6), failing("b", 5000, 6)), want: 2},
		{name: "retry budget in fault windows", cfg: func(c *Config) { c.FaultWindowAmplification = 1.5 },
			recs: merge(paced("k2", "p", 10, 0, 1000), failing("x", 20000, 4), failing("y", 20050, 4)), want: 1},
		{name: "configured factor", cfg: func(c *Config) { c.Amplification = 4 },
			recs: merge(failing("a", 0, 4), failing("b", 5000, 4)), want: 0},
	})
}

func TestAmplificationMetrics(t *testing.T) {
	recs := merge(paced("k2", "p", 10, 0, 1000),
		[]journal.Record{rec("k1", "x", 20000, 503), rec("k1", "x", 20200, 503), rec("k1", "x", 20500, 200)})
	rep := analyzeRecs(t, DefaultConfig(), recs...)
	if got, want := rep.Metrics["amplification"], 13.0/11; got != want {
		t.Errorf("amplification = %v, want %v", got, want)
	}
	if got, want := rep.Metrics["amplification.fault_windows"], 3.0; got != want {
		t.Errorf("amplification.fault_windows = %v, want %v", got, want)
	}
}
