package analysis

import (
	"fmt"
	"time"
)

// checker is one check. The engine feeds it the journal in one pass:
//
//   - attempt is called for every record, in time order, after the record was added to
//     its operation (op.attempts is sorted by time and a points into it);
//   - opDone is called once per operation when it can get no more attempts (its last
//     attempt is older than the eviction horizon, or the journal ended);
//   - finish is called once at the end, after every opDone.
//
// A check that needs only some of the hooks leaves the others empty; hooks reports
// which ones it uses so the engine does not call empty methods per record.
type checker interface {
	base() *checkBase
	hooks() hookSet
	attempt(e *engine, op *opState, a *attempt)
	opDone(e *engine, op *opState)
	finish(e *engine)
}

// hookSet says which per-record and per-operation hooks a checker uses.
type hookSet struct{ attempt, opDone bool }

// checkFactory builds a check from the configuration.
type checkFactory func(cfg *Config) checker

var registry = map[string]checkFactory{}

// register makes a check available under its id; every check_<id>.go calls it in init.
func register(id string, f checkFactory) {
	if _, dup := registry[id]; dup {
		panic("analysis: check registered twice: " + id)
	}
	registry[id] = f
}

// newCheckers builds every registered check in report order (CheckIDs).
func newCheckers(cfg *Config) []checker {
	out := make([]checker, 0, len(CheckIDs))
	for _, id := range CheckIDs {
		f, ok := registry[id]
		if !ok {
			panic("analysis: no check registered for " + id)
		}
		out = append(out, f(cfg))
	}
	return out
}

// checkBase holds what every check reports: its id and title, the violation count, the
// first violations in full (capped) and the parameters it was run with.
type checkBase struct {
	id, title   string
	summary     string
	params      map[string]any
	violations  int
	evidence    []Violation
	maxEvidence int
}

func newBase(cfg *Config, id, title string) checkBase {
	return checkBase{id: id, title: title, params: map[string]any{}, maxEvidence: cfg.MaxEvidence}
}

// add counts one violation and keeps it as evidence while there is room.
func (b *checkBase) add(v Violation) {
	b.violations++
	if len(b.evidence) < b.maxEvidence {
		b.evidence = append(b.evidence, v)
	}
}

// wantEvidence reports whether a new violation would still be kept in full, so callers
// can skip building evidence that would be dropped.
func (b *checkBase) wantEvidence() bool { return len(b.evidence) < b.maxEvidence }

// count counts one violation without evidence (the evidence cap is reached).
func (b *checkBase) count() { b.violations++ }

func (b *checkBase) result() CheckResult {
	ev := b.evidence
	if ev == nil {
		ev = []Violation{}
	}
	return CheckResult{
		ID:         b.id,
		Title:      b.title,
		Violations: b.violations,
		Passed:     b.violations == 0,
		Summary:    b.summary,
		Params:     b.params,
		Evidence:   ev,
	}
}

// ms formats a duration in nanoseconds as milliseconds for messages.
func ms(ns int64) string {
	return fmt.Sprintf("%dms", (ns+int64(time.Millisecond)/2)/int64(time.Millisecond))
}

// msDur formats a time.Duration as milliseconds.
func msDur(d time.Duration) string { return ms(int64(d)) }
