package analysis

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/retrylab/retrylab/internal/profile"
)

func init() {
	// Let the profile loader report a bad threshold with its file and line.
	profile.ThresholdParser = func(expr string) error {
		_, err := ParseGate(expr)
		return err
	}
}

// Gate is a parsed gate expression: METRIC OP LITERAL.
type Gate struct {
	Expr   string  // the expression as written
	Metric string  // the report metric it reads (aliases resolved)
	Op     string  // < <= > >= == !=
	Value  float64 // the literal; percentages as fractions, durations in ms
}

// GateError is a gate expression that does not parse: it names the expression, the
// position (1-based, in bytes) and what is wrong.
type GateError struct {
	Expr string
	Pos  int
	Msg  string
}

func (e *GateError) Error() string {
	return fmt.Sprintf("gate %q: at %d: %s", e.Expr, e.Pos, e.Msg)
}

// ErrUnknownMetric is wrapped by the error of a gate naming a metric no report has.
var ErrUnknownMetric = errors.New("unknown metric")

// ParseGate parses a gate expression "METRIC OP LITERAL", OP one of < <= > >= == !=.
// LITERAL is a number ("0", "2.5"), a percentage ("99.5%" = 0.995) or a duration ("2s",
// "250ms", converted to milliseconds, the unit of the latency metrics). A bare check id
// means its violations ("duplicate_side_effects == 0").
func ParseGate(expr string) (*Gate, error) {
	s := expr
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	skip()
	start := i
	for i < len(s) && isMetricByte(s[i]) {
		i++
	}
	name := s[start:i]
	if name == "" {
		if i >= len(s) {
			return nil, &GateError{expr, i + 1, "empty expression: want METRIC OP VALUE, e.g. retry_after.violations == 0"}
		}
		return nil, &GateError{expr, i + 1, fmt.Sprintf("want a metric name, got %q", s[i:i+1])}
	}
	metric, ok := resolveMetric(name)
	if !ok {
		msg := fmt.Sprintf("%s %q", ErrUnknownMetric, name)
		if sug := suggestMetric(name); sug != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", sug)
		}
		return nil, &gateUnknown{GateError{expr, start + 1, msg}}
	}
	skip()
	opPos := i
	op := ""
	for _, cand := range []string{"<=", ">=", "==", "!=", "<", ">"} {
		if strings.HasPrefix(s[i:], cand) {
			op = cand
			break
		}
	}
	if op == "" {
		got := "end of expression"
		if i < len(s) {
			got = fmt.Sprintf("%q", s[i:])
		}
		return nil, &GateError{expr, opPos + 1, fmt.Sprintf("want an operator (< <= > >= == !=) after %s, got %s", name, got)}
	}
	i += len(op)
	skip()
	litPos := i
	lit := strings.TrimRight(s[i:], " \t")
	if lit == "" {
		return nil, &GateError{expr, litPos + 1, "want a value after " + op + " (a number, a percentage like 99.5% or a duration like 2s)"}
	}
	if j := strings.IndexAny(lit, " \t"); j >= 0 {
		return nil, &GateError{expr, litPos + j + 1, fmt.Sprintf("unexpected %q after the value", strings.TrimSpace(lit[j:]))}
	}
	v, err := parseLiteral(lit)
	if err != nil {
		return nil, &GateError{expr, litPos + 1, err.Error()}
	}
	// A duration only compares with a latency (in ms); a percentage only with a ratio.
	latency := strings.Contains(metric, "latency.")
	if isDurationLiteral(lit) && !latency {
		return nil, &GateError{expr, litPos + 1, fmt.Sprintf("%s is a duration, but %s is not a latency", lit, metric)}
	}
	if strings.HasSuffix(lit, "%") && (v < 0 || v > 1) {
		return nil, &GateError{expr, litPos + 1, fmt.Sprintf("%s is not a percentage in [0%%, 100%%]", lit)}
	}
	return &Gate{Expr: strings.TrimSpace(expr), Metric: metric, Op: op, Value: v}, nil
}

// gateUnknown is a GateError for an unknown metric; it unwraps to both.
type gateUnknown struct{ GateError }

func (e *gateUnknown) Unwrap() []error { return []error{&e.GateError, ErrUnknownMetric} }

func isMetricByte(c byte) bool {
	return c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isDurationLiteral reports whether lit is written as a duration (a number with a unit).
func isDurationLiteral(lit string) bool {
	if _, err := strconv.ParseFloat(lit, 64); err == nil || strings.HasSuffix(lit, "%") {
		return false
	}
	_, err := time.ParseDuration(lit)
	return err == nil
}

func parseLiteral(lit string) (float64, error) {
	if strings.HasSuffix(lit, "%") {
		v, err := strconv.ParseFloat(strings.TrimSuffix(lit, "%"), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("%q is not a percentage", lit)
		}
		return v / 100, nil
	}
	if v, err := strconv.ParseFloat(lit, 64); err == nil {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("%q is not a finite number", lit)
		}
		return v, nil
	}
	if d, err := time.ParseDuration(lit); err == nil {
		return float64(d) / float64(time.Millisecond), nil
	}
	return 0, fmt.Errorf("%q is not a number, a percentage (99.5%%) or a duration (2s, 250ms)", lit)
}

// Eval reports whether value satisfies the gate.
func (g *Gate) Eval(value float64) bool {
	switch g.Op {
	case "<":
		return value < g.Value
	case "<=":
		return value <= g.Value
	case ">":
		return value > g.Value
	case ">=":
		return value >= g.Value
	case "==":
		return value == g.Value
	case "!=":
		return value != g.Value
	}
	return false
}

func parseGates(exprs []string) ([]*Gate, error) {
	gs := make([]*Gate, 0, len(exprs))
	for _, x := range exprs {
		g, err := ParseGate(x)
		if err != nil {
			return nil, err
		}
		gs = append(gs, g)
	}
	return gs, nil
}

// Gate sources (GateResult.Source).
const (
	GateSourceProfile = "profile" // the profile's thresholds
	GateSourceFlag    = "flag"    // --gate
	GateSourceDefault = "default" // one per check when no gate was given
)

// DefaultGates are the gates used when neither the profile nor the command line gives
// any: "<id>.violations == 0" for every check.
func DefaultGates() []string {
	out := make([]string, len(CheckIDs))
	for i, id := range CheckIDs {
		out[i] = id + ".violations == 0"
	}
	return out
}

// ApplyGates evaluates exprs against the report's metrics, appends their results with the
// given source ("profile", "flag") and recomputes the verdict: "fail" if any gate fails,
// else "pass". Giving gates replaces the default gates; when the report would have none,
// the default gates (one per check: <id>.violations == 0) are applied. An expression that
// does not parse is an error and leaves the report unchanged.
func (r *Report) ApplyGates(exprs []string, source string) error {
	gs, err := parseGates(exprs)
	if err != nil {
		return err
	}
	if len(gs) > 0 {
		kept := r.Gates[:0]
		for _, g := range r.Gates {
			if g.Source != GateSourceDefault {
				kept = append(kept, g)
			}
		}
		r.Gates = kept
	}
	if len(gs) == 0 && len(r.Gates) == 0 {
		gs, _ = parseGates(DefaultGates())
		source = GateSourceDefault
	}
	for _, g := range gs {
		if _, ok := r.Metrics[g.Metric]; !ok {
			return fmt.Errorf("gate %q: the report has no metric %s", g.Expr, g.Metric)
		}
	}
	for _, g := range gs {
		v := r.Metrics[g.Metric]
		r.Gates = append(r.Gates, GateResult{Expr: g.Expr, Metric: g.Metric, Value: v, Passed: g.Eval(v), Source: source})
	}
	r.Verdict = "pass"
	for _, g := range r.Gates {
		if !g.Passed {
			r.Verdict = "fail"
		}
	}
	return nil
}
