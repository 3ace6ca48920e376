package analysis

import (
	"sort"
	"strings"

	"github.com/retrylab/retrylab/internal/suggest"
)

// metricNames lists every metric a report carries and a gate may name (besides the
// bare check ids, which gates accept as aliases).
var metricNames = func() map[string]bool {
	m := map[string]bool{
		"success_rate": true, "amplification": true, "amplification.fault_windows": true,
		"retries": true, "abandoned": true, "cut": true, "rate_limited": true, "faults": true,
		"duplicate_side_effects": true, "operations": true, "attempts": true,
		"idempotency.post_retried_without_key": true, "idempotency.key_changed_on_retry": true,
		"idempotency.key_reused_across_bodies": true,
		"rate_limit.peak_ratio":                true,
		"run.records":                          true, "run.torn_lines": true, "run.bad_lines": true,
		"run.duration_s": true,
	}
	for _, l := range []string{"latency", "attempt_latency"} {
		for _, q := range []string{"count", "mean", "p50", "p90", "p95", "p99", "max"} {
			m[l+"."+q] = true
		}
	}
	for _, t := range []string{"operations", "attempts", "retries", "succeeded", "failed", "abandoned", "cut",
		"success_rate", "attempts_per_op", "max_attempts_seen", "faults", "rate_limited",
		"side_effects", "duplicate_side_effects", "clients"} {
		m["totals."+t] = true
	}
	for _, id := range CheckIDs {
		m[id+".violations"] = true
	}
	return m
}()

// MetricNames returns every metric name a gate may use, sorted.
func MetricNames() []string {
	out := make([]string, 0, len(metricNames))
	for k := range metricNames {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// resolveMetric maps a gate's metric name to a report metric: a bare check id means
// its violations unless a metric of that exact name exists (amplification is the ratio;
// duplicate_side_effects equals its violations).
func resolveMetric(name string) (string, bool) {
	if metricNames[name] {
		return name, true
	}
	for _, id := range CheckIDs {
		if name == id {
			return id + ".violations", true
		}
	}
	return "", false
}

// suggestMetric returns a close metric name for an error hint, or "".
func suggestMetric(name string) string {
	best := suggest.Closest(name, MetricNames(), 4)
	if best == "" {
		for _, m := range MetricNames() {
			if strings.HasPrefix(m, name) {
				return m
			}
		}
	}
	return best
}

// buildMetrics flattens the report into the metrics gates read.
func buildMetrics(r *Report, e *engine) map[string]float64 {
	m := map[string]float64{}
	t := r.Totals
	m["success_rate"] = t.SuccessRate
	m["operations"] = float64(t.Operations)
	m["attempts"] = float64(t.Attempts)
	m["retries"] = float64(t.Retries)
	m["abandoned"] = float64(t.Abandoned)
	m["cut"] = float64(t.Cut)
	m["rate_limited"] = float64(t.RateLimited)
	m["faults"] = float64(t.Faults)
	for k, v := range map[string]float64{
		"operations": float64(t.Operations), "attempts": float64(t.Attempts), "retries": float64(t.Retries),
		"succeeded": float64(t.Succeeded), "failed": float64(t.Failed), "abandoned": float64(t.Abandoned),
		"cut": float64(t.Cut), "success_rate": t.SuccessRate, "attempts_per_op": t.AttemptsPerOp,
		"max_attempts_seen": float64(t.MaxAttempts), "faults": float64(t.Faults),
		"rate_limited": float64(t.RateLimited), "side_effects": float64(t.SideEffects),
		"duplicate_side_effects": float64(t.Duplicates), "clients": float64(t.Clients),
	} {
		m["totals."+k] = v
	}
	for prefix, l := range map[string]Latency{"latency": r.Latency, "attempt_latency": r.AttemptLatency} {
		m[prefix+".count"] = float64(l.Count)
		m[prefix+".mean"] = l.Mean
		m[prefix+".p50"] = l.P50
		m[prefix+".p90"] = l.P90
		m[prefix+".p95"] = l.P95
		m[prefix+".p99"] = l.P99
		m[prefix+".max"] = l.Max
	}
	for _, c := range r.Checks {
		m[c.ID+".violations"] = float64(c.Violations)
	}
	m["duplicate_side_effects"] = m[CheckDuplicateSideEffects+".violations"]
	m["amplification"] = 0
	if t.Operations > 0 {
		m["amplification"] = float64(t.Attempts) / float64(t.Operations)
	}
	m["amplification.fault_windows"] = 0
	if e != nil && e.faultOp > 0 {
		m["amplification.fault_windows"] = float64(e.faultAt) / float64(e.faultOp)
	}
	m["idempotency.post_retried_without_key"] = float64(r.Idempotency.PostRetriedWithoutKey)
	m["idempotency.key_changed_on_retry"] = float64(r.Idempotency.KeyChangedOnRetry)
	m["idempotency.key_reused_across_bodies"] = float64(r.Idempotency.KeyReusedAcrossBodies)
	peak := 0.0
	for _, c := range r.Clients {
		if c.Limit > 0 && c.PeakRate/c.Limit > peak {
			peak = c.PeakRate / c.Limit
		}
	}
	m["rate_limit.peak_ratio"] = peak
	m["run.records"] = float64(r.Run.Records)
	m["run.torn_lines"] = float64(r.Run.TornLines)
	m["run.bad_lines"] = float64(r.Run.BadLines)
	m["run.duration_s"] = r.Run.DurationS
	return m
}
