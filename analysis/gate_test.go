package analysis

import (
	"errors"
	"strings"
	"testing"
)

func TestParseGate(t *testing.T) {
	tests := []struct {
		name    string
		expr    string
		want    Gate
		wantErr string // substring of the error; "" = no error
	}{
		{name: "violations", expr: "retry_after.violations == 0", want: Gate{Metric: "retry_after.violations", Op: "==", Value: 0}},
		{name: "bare check id", expr: "duplicate_side_effects == 0", want: Gate{Metric: "duplicate_side_effects", Op: "==", Value: 0}},
		{name: "bare id aliases violations", expr: "backoff==0", want: Gate{Metric: "backoff.violations", Op: "==", Value: 0}},
		{name: "amplification is the ratio", expr: "amplification <= 2.5", want: Gate{Metric: "amplification", Op: "<=", Value: 2.5}},
		{name: "duration in seconds", expr: "latency.p99 < 2s", want: Gate{Metric: "latency.p99", Op: "<", Value: 2000}},
		{name: "duration in ms", expr: "  attempt_latency.p95<250ms ", want: Gate{Metric: "attempt_latency.p95", Op: "<", Value: 250}},
		{name: "duration against a count", expr: "retries < 1m", wantErr: "1m is a duration, but retries is not a latency"},
		{name: "percentage over 100", expr: "success_rate >= 150%", wantErr: "150% is not a percentage in [0%, 100%]"},
		{name: "percentage", expr: "success_rate >= 99.5%", want: Gate{Metric: "success_rate", Op: ">=", Value: 0.995}},
		{name: "fraction", expr: "success_rate > 0.995", want: Gate{Metric: "success_rate", Op: ">", Value: 0.995}},
		{name: "not equal", expr: "totals.operations != 0", want: Gate{Metric: "totals.operations", Op: "!=", Value: 0}},
		{name: "empty", expr: "", wantErr: "empty expression"},
		{name: "unknown metric", expr: "latency.p98 < 2s", wantErr: `at 1: unknown metric "latency.p98" (did you mean latency.p90?)`},
		{name: "missing operator", expr: "success_rate 0.99", wantErr: "at 14: want an operator"},
		{name: "missing value", expr: "success_rate >=", wantErr: "at 16: want a value"},
		{name: "bad value", expr: "latency.p99 < 2x", wantErr: `at 15: "2x" is not a number`},
		{name: "trailing junk", expr: "retries < 5 and more", wantErr: `at 12: unexpected "and more"`},
		{name: "not a number", expr: "retries < NaN", wantErr: "not a finite number"},
		{name: "starts with an operator", expr: "< 3", wantErr: `at 1: want a metric name, got "<"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseGate(tc.expr)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseGate(%q) = %+v, want an error with %q", tc.expr, g, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), `"`+tc.expr+`"`) {
					t.Fatalf("ParseGate(%q) error = %q, want it to name the expression and contain %q", tc.expr, err, tc.wantErr)
				}
				var ge *GateError
				if !errors.As(err, &ge) {
					t.Errorf("error %v is not a *GateError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseGate(%q): %v", tc.expr, err)
			}
			if g.Metric != tc.want.Metric || g.Op != tc.want.Op || g.Value != tc.want.Value {
				t.Errorf("ParseGate(%q) = %+v, want %+v", tc.expr, *g, tc.want)
			}
		})
	}
}

func TestUnknownMetricIsDistinguishable(t *testing.T) {
	_, err := ParseGate("nope == 0")
	if !errors.Is(err, ErrUnknownMetric) {
		t.Errorf("error %v does not wrap ErrUnknownMetric", err)
	}
	_, err = ParseGate("retries ~ 0")
	if errors.Is(err, ErrUnknownMetric) {
		t.Errorf("syntax error %v wraps ErrUnknownMetric", err)
	}
}

func TestGateEval(t *testing.T) {
	tests := []struct {
		name  string
		expr  string
		value float64
		want  bool
	}{
		{"lt true", "retries < 5", 4, true},
		{"lt boundary", "retries < 5", 5, false},
		{"le boundary", "retries <= 5", 5, true},
		{"gt", "retries > 5", 5, false},
		{"ge", "retries >= 5", 5, true},
		{"eq", "retries == 5", 5, true},
		{"ne", "retries != 5", 5, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseGate(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := g.Eval(tc.value); got != tc.want {
				t.Errorf("%s with %v = %v, want %v", tc.expr, tc.value, got, tc.want)
			}
		})
	}
}

func TestApplyGates(t *testing.T) {
	base := func() *Report {
		return &Report{Metrics: map[string]float64{
			"retry_after.violations": 0, "backoff.violations": 3, "latency.p99": 1500, "success_rate": 0.999,
			"rate_limit.violations": 0, "jitter.violations": 0, "max_attempts.violations": 0,
			"non_retryable.violations": 0, "duplicate_side_effects.violations": 0, "amplification.violations": 0,
		}}
	}
	tests := []struct {
		name        string
		steps       [][]string // successive ApplyGates calls; the first with source profile, then flag
		wantVerdict string
		wantGates   []string // "expr source passed"
		wantErr     string
	}{
		{name: "default gates, one per check", steps: [][]string{nil}, wantVerdict: "fail", wantGates: []string{
			"rate_limit.violations == 0 default true", "retry_after.violations == 0 default true",
			"backoff.violations == 0 default false", "jitter.violations == 0 default true",
			"max_attempts.violations == 0 default true", "non_retryable.violations == 0 default true",
			"duplicate_side_effects.violations == 0 default true", "amplification.violations == 0 default true",
		}},
		{name: "profile thresholds replace the defaults", steps: [][]string{{"latency.p99 < 2s", "success_rate >= 99.5%"}},
			wantVerdict: "pass", wantGates: []string{"latency.p99 < 2s profile true", "success_rate >= 99.5% profile true"}},
		{name: "flags replace default gates applied before", steps: [][]string{nil, {"retry_after == 0"}},
			wantVerdict: "pass", wantGates: []string{"retry_after == 0 flag true"}},
		{name: "flags add to the profile's", steps: [][]string{{"latency.p99 < 2s"}, {"backoff == 0"}},
			wantVerdict: "fail", wantGates: []string{"latency.p99 < 2s profile true", "backoff == 0 flag false"}},
		{name: "a bad gate is an error", steps: [][]string{{"latency.p99 < 2s", "latency.p99 <"}}, wantErr: "want a value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			var err error
			for i, s := range tc.steps {
				src := GateSourceProfile
				if i > 0 {
					src = GateSourceFlag
				}
				if err = r.ApplyGates(s, src); err != nil {
					break
				}
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				if len(r.Gates) != 0 {
					t.Errorf("a failed ApplyGates changed the report: %+v", r.Gates)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Verdict != tc.wantVerdict {
				t.Errorf("verdict = %q, want %q", r.Verdict, tc.wantVerdict)
			}
			var got []string
			for _, g := range r.Gates {
				got = append(got, strings.Join([]string{g.Expr, g.Source, map[bool]string{true: "true", false: "false"}[g.Passed]}, " "))
			}
			if strings.Join(got, "\n") != strings.Join(tc.wantGates, "\n") {
				t.Errorf("gates:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.wantGates, "\n"))
			}
		})
	}
}

func TestEveryMetricNameIsInAReport(t *testing.T) {
	rep := analyzeRecs(t, DefaultConfig(), rec("k1", "a", 0, 200))
	for _, m := range MetricNames() {
		if _, ok := rep.Metrics[m]; !ok {
			t.Errorf("metric %s is accepted by gates but missing from reports", m)
		}
	}
	for m := range rep.Metrics {
		if _, err := ParseGate(m + " >= 0"); err != nil {
			t.Errorf("report metric %s is refused by gates: %v", m, err)
		}
	}
}

func FuzzParseGate(f *testing.F) {
	for _, s := range []string{"retry_after.violations == 0", "latency.p99 < 2s", "success_rate >= 99.5%",
		"amplification<=2.5", "duplicate_side_effects == 0", "x", "", "latency.p99 < 1e400", "a<", "retries != -3.5e2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		g, err := ParseGate(expr)
		if err != nil {
			if !strings.Contains(err.Error(), "gate ") {
				t.Fatalf("error %q does not name the gate", err)
			}
			return
		}
		if _, ok := metricNames[g.Metric]; !ok {
			t.Fatalf("ParseGate(%q) resolved to unknown metric %q", expr, g.Metric)
		}
		if g.Value != g.Value {
			t.Fatalf("ParseGate(%q) value is NaN", expr)
		}
		// A parsed gate reparses to the same gate.
		g2, err := ParseGate(g.Expr)
		if err != nil || g2.Metric != g.Metric || g2.Op != g.Op || g2.Value != g.Value {
			t.Fatalf("reparse of %q = %+v, %v; want %+v", g.Expr, g2, err, g)
		}
	})
}
