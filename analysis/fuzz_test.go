package analysis

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
)

// FuzzAnalyze feeds arbitrary journals to the analysis: it must never fail or panic on
// content, and its report must stay consistent. An analysis costs milliseconds, so run it
// with a short minimization: go test ./analysis -fuzz FuzzAnalyze -fuzzminimizetime 10x
func FuzzAnalyze(f *testing.F) {
	f.Add(encode([]journal.Record{rec("k1", "a", 0, 503), rec("k1", "a", 150, 201, executed())}))
	f.Add(encode(simulate("naive", simPolicies["naive"], 1)[:8]))
	f.Add(encode([]journal.Record{rec("k1", "a", 0, 429, ra(1<<40)), rec("k1", "a", -5, 0, dur(-time.Second))}))
	f.Add([]byte("{\"ts\":1}\n{not json}\n{\"op\":\"x\",\"attempt\":99}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultConfig()
		cfg.RetryAfterScope = ScopeClient
		rep, err := Analyze(context.Background(), cfg, Source{Name: "fuzz", R: bytes.NewReader(data)})
		if err != nil {
			t.Fatalf("Analyze: %v", err)
		}
		if rep.Totals.Attempts != rep.Run.Records || rep.Totals.Operations > rep.Totals.Attempts {
			t.Fatalf("totals %+v for %d records", rep.Totals, rep.Run.Records)
		}
		if rep.Totals.Succeeded+rep.Totals.Failed != rep.Totals.Operations {
			t.Fatalf("succeeded + failed != operations: %+v", rep.Totals)
		}
		if len(rep.Checks) != len(CheckIDs) {
			t.Fatalf("%d checks", len(rep.Checks))
		}
		for _, c := range rep.Checks {
			if c.Violations < len(c.Evidence) || c.Passed != (c.Violations == 0) {
				t.Fatalf("check %s: %d violations, %d evidence, passed %v", c.ID, c.Violations, len(c.Evidence), c.Passed)
			}
		}
		if rep.Verdict != "pass" && rep.Verdict != "fail" {
			t.Fatalf("verdict %q", rep.Verdict)
		}
	})
}
