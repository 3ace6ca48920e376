package chart

import (
	"github.com/retrylab/retrylab/analysis"
	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
)

// testProfile is the profile of the hand-built scenario: two clients, one rate limit.
func testProfile() *profile.Profile {
	return &profile.Profile{
		Version: 1,
		Name:    "scenario-test",
		Seed:    7,
		Target:  "builtin",
		Clients: []profile.Client{{Name: "alice", Key: keyAlice}, {Name: "bob", Key: keyBob}},
		RateLimits: []profile.RateLimit{{
			Name: "calls", Method: "POST", Path: "/v1/calls", Limit: 20, Burst: 30,
		}},
		Analysis: profile.Analysis{MaxAttempts: 5},
	}
}

// testReport is a report such as analysis writes for the hand-built scenario: it fails
// retry_after and max_attempts.
func testReport() *analysis.Report {
	ev := analysis.Violation{
		Client:   journal.HashKey(keyBob),
		Op:       "op-0042",
		Message:  "retry 200ms after a 503 that said Retry-After: 1s",
		Expected: "wait at least 1000ms (tolerance 50ms)",
		Attempts: []analysis.AttemptRef{
			{Seq: 101, Time: "2026-03-01T12:00:05.000Z", OffsetMs: 5000, Attempt: 1, Method: "POST", Path: "/v1/calls", Status: 503, Action: "respond", Rule: "flap", RetryAfterMs: 1000},
			{Seq: 108, Time: "2026-03-01T12:00:05.201Z", OffsetMs: 5201, Attempt: 2, Method: "POST", Path: "/v1/calls", Status: 201, Action: "forward", RetryAfterMs: -1},
		},
	}
	r := &analysis.Report{
		Version: analysis.ReportVersion,
		Verdict: "fail",
		Run: analysis.RunInfo{
			ID: "run-test-1", Profile: "scenario-test", Seed: 7, Target: "builtin",
			Client: "reference/ignores-retry-after", Started: "2026-03-01T12:00:00Z",
			DurationS: 20, Records: 491, Version: "v0.1.0-test",
		},
		Totals: analysis.Totals{
			Operations: 387, Attempts: 491, Retries: 104, Succeeded: 383, Failed: 4,
			SuccessRate: 0.9897, AttemptsPerOp: 1.27, MaxAttempts: 7, Faults: 38,
			RateLimited: 60, SideEffects: 420, Clients: 2,
		},
		Latency:        analysis.Latency{Count: 387, Mean: 190, P50: 14, P90: 1100, P95: 1300, P99: 1320, Max: 1330},
		AttemptLatency: analysis.Latency{Count: 491, Mean: 12, P50: 13, P90: 22, P95: 24, P99: 25, Max: 26},
		Clients: []analysis.ClientStats{
			{Client: journal.HashKey(keyAlice), Name: "alice", Operations: 160, Attempts: 200, PeakRate: 12, Limit: 20, Burst: 30},
			{Client: journal.HashKey(keyBob), Name: "bob", Operations: 227, Attempts: 291, RateLimited: 60, PeakRate: 50, Limit: 20, Burst: 30},
		},
		Gates: []analysis.GateResult{
			{Expr: "retry_after.violations == 0", Metric: "retry_after.violations", Value: 16, Passed: false, Source: "profile"},
			{Expr: "success_rate >= 0.95", Metric: "success_rate", Value: 0.9897, Passed: true, Source: "flag"},
		},
		Metrics: map[string]float64{"success_rate": 0.9897, "retry_after.violations": 16, "latency.p99": 1320},
	}
	for _, id := range analysis.CheckIDs {
		c := analysis.CheckResult{ID: id, Passed: true, Summary: "measured " + id, Evidence: []analysis.Violation{}}
		switch id {
		case analysis.CheckRetryAfter:
			c.Passed, c.Violations, c.Evidence = false, 16, []analysis.Violation{ev}
			c.Params = map[string]any{"scope": "operation", "tolerance_ms": 50}
		case analysis.CheckMaxAttempts:
			c.Passed, c.Violations = false, 1
			c.Evidence = []analysis.Violation{{Client: journal.HashKey(keyAlice), Op: "op-0388", Message: "7 attempts", Expected: "at most 5 attempts"}}
		}
		r.Checks = append(r.Checks, c)
	}
	return r
}
