// Package analysis is retrylab's oracle: it reads proxy journals as a stream, evaluates
// the checks of docs/CHECKS.md (rate_limit, retry_after, backoff, jitter, max_attempts,
// non_retryable, duplicate_side_effects, amplification), writes the reports (report.json,
// report.md, junit.xml, a terminal summary) and applies release gates.
package analysis

// Check ids. They are stable: reports, gates and docs use them.
const (
	CheckRateLimit            = "rate_limit"
	CheckRetryAfter           = "retry_after"
	CheckBackoff              = "backoff"
	CheckJitter               = "jitter"
	CheckMaxAttempts          = "max_attempts"
	CheckNonRetryable         = "non_retryable"
	CheckDuplicateSideEffects = "duplicate_side_effects"
	CheckAmplification        = "amplification"
)

// CheckIDs lists every check in report order.
var CheckIDs = []string{
	CheckRateLimit, CheckRetryAfter, CheckBackoff, CheckJitter,
	CheckMaxAttempts, CheckNonRetryable, CheckDuplicateSideEffects, CheckAmplification,
}

// ReportVersion is the report.json schema version.
const ReportVersion = 1

// Report is report.json. Fields named in DESIGN.md (verdict, checks[].id/violations/passed,
// totals.operations/attempts, gates[].expr/value/passed) never change meaning; new fields
// may be added.
type Report struct {
	Version int     `json:"version"`
	Verdict string  `json:"verdict"` // "pass" or "fail"
	Partial bool    `json:"partial"` // the run was interrupted; the data covers only part of it
	Run     RunInfo `json:"run"`

	Checks []CheckResult `json:"checks"`
	Totals Totals        `json:"totals"`

	Latency        Latency `json:"latency"`         // end to end per operation, ms
	AttemptLatency Latency `json:"attempt_latency"` // per attempt at the proxy, ms

	Clients     []ClientStats `json:"clients"`
	Idempotency Idempotency   `json:"idempotency"`

	Gates []GateResult `json:"gates"`

	// Metrics is every number a gate can name, flat: "success_rate", "latency.p99" (ms),
	// "retry_after.violations", "duplicate_side_effects" (= its violations), "amplification"
	// (attempts per operation), "totals.operations", ... See docs/CHECKS.md.
	Metrics map[string]float64 `json:"metrics"`
}

// RunInfo describes where the data came from.
type RunInfo struct {
	ID         string   `json:"id,omitempty"`
	Profile    string   `json:"profile,omitempty"` // profile name
	File       string   `json:"profile_file,omitempty"`
	Seed       int64    `json:"seed"`
	Target     string   `json:"target,omitempty"`
	Client     string   `json:"client,omitempty"`  // e.g. "reference/compliant"
	Started    string   `json:"started,omitempty"` // RFC 3339
	DurationS  float64  `json:"duration_s"`
	Journals   []string `json:"journals,omitempty"`
	Records    int64    `json:"records"`
	TornLines  int      `json:"torn_lines"`
	BadLines   int      `json:"bad_lines"` // malformed lines skipped (named in Warnings)
	Warnings   []string `json:"warnings,omitempty"`
	Version    string   `json:"retrylab_version,omitempty"`
	AnalyzedIn float64  `json:"analyzed_in_s"`
}

// CheckResult is one check's outcome.
type CheckResult struct {
	ID         string         `json:"id"`
	Title      string         `json:"title"`
	Violations int            `json:"violations"`
	Passed     bool           `json:"passed"`
	Summary    string         `json:"summary"` // one line: what was measured
	Params     map[string]any `json:"params,omitempty"`
	// Evidence holds the first violations in full (capped; Violations is the true count).
	Evidence []Violation `json:"evidence"`
}

// Violation is one violation with the attempts that prove it.
type Violation struct {
	Client   string       `json:"client"`
	Op       string       `json:"op,omitempty"`
	Message  string       `json:"message"`  // what happened
	Expected string       `json:"expected"` // what the contract required
	Attempts []AttemptRef `json:"attempts,omitempty"`
}

// AttemptRef is one attempt cited as evidence.
type AttemptRef struct {
	Seq          uint64 `json:"seq"`
	Journal      string `json:"journal,omitempty"`
	Time         string `json:"time"` // RFC 3339 with ms
	OffsetMs     int64  `json:"offset_ms"`
	Attempt      int    `json:"attempt"`
	Method       string `json:"method"`
	Path         string `json:"path"`
	Status       int    `json:"status"`
	Action       string `json:"action"`
	Rule         string `json:"rule,omitempty"`
	RetryAfterMs int64  `json:"retry_after_ms"`
	IdemKey      string `json:"idem_key,omitempty"`
}

// Totals are the run's counts.
type Totals struct {
	Operations    int64   `json:"operations"`
	Attempts      int64   `json:"attempts"`
	Retries       int64   `json:"retries"`
	Succeeded     int64   `json:"succeeded"`    // operations whose last attempt got 2xx
	Failed        int64   `json:"failed"`       // operations whose last attempt did not
	Abandoned     int64   `json:"abandoned"`    // failed operations whose last status was retryable
	Cut           int64   `json:"cut"`          // operations still open where cut-short journals end (Config.CutShort); neither succeeded nor failed
	SuccessRate   float64 `json:"success_rate"` // succeeded / (operations - cut)
	AttemptsPerOp float64 `json:"attempts_per_op"`
	MaxAttempts   int     `json:"max_attempts_seen"`
	Faults        int64   `json:"faults"`       // attempts answered by a fault rule
	RateLimited   int64   `json:"rate_limited"` // attempts rejected by the proxy's limiter
	SideEffects   int64   `json:"side_effects"` // side effects the target executed
	Duplicates    int64   `json:"duplicate_side_effects"`
	Rejected      int64   `json:"rejected"` // requests the proxy refused as hostile or malformed; not judged
	Clients       int     `json:"clients"`
}

// Latency percentiles in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// ClientStats is one client's (API key's) traffic against its published limit.
type ClientStats struct {
	Client      string  `json:"client"` // key hash
	Name        string  `json:"name,omitempty"`
	Operations  int64   `json:"operations"`
	Attempts    int64   `json:"attempts"`
	RateLimited int64   `json:"rate_limited"`
	PeakRate    float64 `json:"peak_rate"` // most attempts in any 1 s window
	Limit       float64 `json:"limit"`     // published sustained limit, per s (0 = none)
	Burst       float64 `json:"burst"`     // published burst rate, per s
}

// Idempotency are the key-hygiene findings.
type Idempotency struct {
	PostRetriedWithoutKey int64 `json:"post_retried_without_key"`
	KeyChangedOnRetry     int64 `json:"key_changed_on_retry"`
	KeyReusedAcrossBodies int64 `json:"key_reused_across_bodies"`
}

// GateResult is one evaluated gate.
type GateResult struct {
	Expr   string  `json:"expr"`
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	Passed bool    `json:"passed"`
	Source string  `json:"source,omitempty"` // "profile" or "flag"
}
