package analysis

import (
	"fmt"
	"strings"
	"time"
)

func init() { register(CheckMaxAttempts, newMaxAttemptsCheck) }

// maxAttemptsCheck: an operation with more than max_attempts attempts, or whose retry
// span (first attempt sent to last attempt sent) is longer than max_retry_span. One
// violation per operation.
type maxAttemptsCheck struct {
	checkBase
	max  int
	span int64
}

func newMaxAttemptsCheck(cfg *Config) checker {
	c := &maxAttemptsCheck{
		checkBase: newBase(cfg, CheckMaxAttempts, "Caps attempts and total retry time"),
		max:       cfg.MaxAttempts,
		span:      int64(cfg.MaxRetrySpan),
	}
	c.params["max_attempts"] = cfg.MaxAttempts
	c.params["max_retry_span"] = cfg.MaxRetrySpan.String()
	c.summary = fmt.Sprintf("at most %d attempts per operation within %v", cfg.MaxAttempts, cfg.MaxRetrySpan)
	return c
}

func (c *maxAttemptsCheck) base() *checkBase { return &c.checkBase }
func (c *maxAttemptsCheck) hooks() hookSet   { return hookSet{opDone: true} }

func (c *maxAttemptsCheck) attempt(*engine, *opState, *attempt) {}

func (c *maxAttemptsCheck) opDone(e *engine, op *opState) {
	n := len(op.attempts)
	span := op.last().time - op.first().time
	if n <= c.max && span <= c.span {
		return
	}
	if !c.wantEvidence() {
		c.count()
		return
	}
	var why []string
	if n > c.max {
		why = append(why, fmt.Sprintf("%d attempts", n))
	}
	if span > c.span {
		why = append(why, fmt.Sprintf("retried for %v", time.Duration(span).Round(time.Millisecond)))
	}
	c.add(e.violation(op, strings.Join(why, " and "),
		fmt.Sprintf("at most %d attempts within %v", c.max, time.Duration(c.span))))
}

func (c *maxAttemptsCheck) finish(*engine) {}
