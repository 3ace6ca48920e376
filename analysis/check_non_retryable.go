package analysis

import (
	"fmt"
	"slices"
)

func init() { register(CheckNonRetryable, newNonRetryableCheck) }

// nonRetryableCheck: a retry after a response whose status must not be retried (one of
// non_retryable; 408 and 429 are retryable). One violation per such retry.
type nonRetryableCheck struct {
	checkBase
}

func newNonRetryableCheck(cfg *Config) checker {
	c := &nonRetryableCheck{checkBase: newBase(cfg, CheckNonRetryable, "Never retries what must not be retried")}
	st := slices.Clone(cfg.NonRetryable)
	slices.Sort(st)
	c.params["non_retryable"] = st
	c.summary = fmt.Sprintf("no retry after %v", st)
	return c
}

func (c *nonRetryableCheck) base() *checkBase { return &c.checkBase }
func (c *nonRetryableCheck) hooks() hookSet   { return hookSet{opDone: true} }

func (c *nonRetryableCheck) attempt(*engine, *opState, *attempt) {}

func (c *nonRetryableCheck) opDone(e *engine, op *opState) {
	for i := 1; i < len(op.attempts); i++ {
		prev, cur := &op.attempts[i-1], &op.attempts[i]
		s := int(prev.status)
		if s < 0 || s >= len(e.nonRetryable) || !e.nonRetryable[s] {
			continue
		}
		if !c.wantEvidence() {
			c.count()
			continue
		}
		c.add(Violation{
			Client:   op.client.id,
			Op:       op.op,
			Message:  fmt.Sprintf("attempt %d retried a %d response", i+1, s),
			Expected: fmt.Sprintf("no retry after %d", s),
			Attempts: []AttemptRef{e.ref(op, prev), e.ref(op, cur)},
		})
	}
}

func (c *nonRetryableCheck) finish(*engine) {}
