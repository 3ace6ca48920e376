package analysis

import (
	"fmt"
	"time"
)

func init() { register(CheckRetryAfter, newRetryAfterCheck) }

// retryAfterCheck: a retry of an operation sent before the Retry-After it was given had
// elapsed (the previous attempt's RetryAt minus the tolerance). In client scope, also
// any attempt of another operation of the same client sent during an announced 429
// block (after the 429 was answered and before its Retry-After elapsed).
type retryAfterCheck struct {
	checkBase
	tol         int64
	clientScope bool
}

// retryBlock is a client's announced 429 block.
type retryBlock struct {
	start, until int64 // the 429's response time and its RetryAt
	op           string
	ref          AttemptRef
}

func newRetryAfterCheck(cfg *Config) checker {
	c := &retryAfterCheck{
		checkBase:   newBase(cfg, CheckRetryAfter, "Honors Retry-After"),
		tol:         int64(cfg.RetryAfterTolerance),
		clientScope: cfg.RetryAfterScope == ScopeClient,
	}
	c.params["tolerance"] = cfg.RetryAfterTolerance.String()
	c.params["scope"] = cfg.RetryAfterScope
	c.summary = fmt.Sprintf("retries sent at least Retry-After (minus %v) after the response that announced it, scope %s",
		cfg.RetryAfterTolerance, cfg.RetryAfterScope)
	return c
}

func (c *retryAfterCheck) base() *checkBase { return &c.checkBase }
func (c *retryAfterCheck) hooks() hookSet   { return hookSet{attempt: c.clientScope, opDone: true} }

// attempt implements the client scope.
func (c *retryAfterCheck) attempt(e *engine, op *opState, a *attempt) {
	b := &op.client.block
	if b.until > 0 && op.op != b.op && a.time > b.start && a.time < b.until-c.tol {
		if c.wantEvidence() {
			c.add(Violation{
				Client: op.client.id,
				Op:     op.op,
				Message: fmt.Sprintf("attempt sent %s after a 429 to operation %s announced Retry-After %dms for the client",
					ms(a.time-b.start), b.op, (b.until-b.start)/int64(time.Millisecond)),
				Expected: fmt.Sprintf("no attempt from this client before %s (tolerance %s)",
					time.Unix(0, b.until).UTC().Format("15:04:05.000"), ms(c.tol)),
				Attempts: []AttemptRef{b.ref, e.ref(op, a)},
			})
		} else {
			c.count()
		}
	}
	if a.status == 429 {
		if at, ok := a.retryAt(); ok && at > b.until {
			*b = retryBlock{start: a.end(), until: at, op: op.op, ref: e.ref(op, a)}
		}
	}
}

// opDone implements the operation scope.
func (c *retryAfterCheck) opDone(e *engine, op *opState) {
	for i := 1; i < len(op.attempts); i++ {
		prev, cur := &op.attempts[i-1], &op.attempts[i]
		at, ok := prev.retryAt()
		if !ok || cur.time >= at-c.tol {
			continue
		}
		if !c.wantEvidence() {
			c.count()
			continue
		}
		c.add(Violation{
			Client: op.client.id,
			Op:     op.op,
			Message: fmt.Sprintf("attempt %d sent %s after the response to attempt %d, which announced Retry-After %dms",
				i+1, ms(cur.time-prev.end()), i, prev.ra),
			Expected: fmt.Sprintf("retry no sooner than %dms after the response (tolerance %s)", prev.ra, ms(c.tol)),
			Attempts: []AttemptRef{e.ref(op, prev), e.ref(op, cur)},
		})
	}
}

func (c *retryAfterCheck) finish(*engine) {}
