package analysis

import (
	"fmt"

	"github.com/retrylab/retrylab/internal/journal"
)

func init() { register(CheckBackoff, newBackoffCheck) }

// backoffCheck: among retries not governed by a Retry-After (the previous attempt
// announced none), a retry whose gap (from the previous attempt's response to the retry)
// is shorter than min_backoff, or shorter than the previous ungoverned gap of the same
// operation (no exponential growth), both minus the tolerance; the growth comparison also
// allows 5% of the previous gap, so a backoff that reached its cap (equal gaps, each
// measured with scheduling noise) is not taken for a shrinking one. A retry sent before the
// previous attempt was answered (the client gave up on it, e.g. a hang past its timeout)
// has no measurable gap and is not judged; it also resets the gap comparison. So does a retry
// after a hung attempt: the proxy ends a hang's record when it closes the connection, but the
// client learned of the failure at its own timeout, earlier, so the gap is not measurable.
type backoffCheck struct {
	checkBase
	min, tol int64
}

func newBackoffCheck(cfg *Config) checker {
	c := &backoffCheck{
		checkBase: newBase(cfg, CheckBackoff, "Backs off exponentially"),
		min:       int64(cfg.MinBackoff),
		tol:       int64(cfg.BackoffTolerance),
	}
	c.params["min_backoff"] = cfg.MinBackoff.String()
	c.params["tolerance"] = cfg.BackoffTolerance.String()
	c.summary = fmt.Sprintf("retries without Retry-After wait at least %v and never less than the previous wait (tolerance %v)",
		cfg.MinBackoff, cfg.BackoffTolerance)
	return c
}

func (c *backoffCheck) base() *checkBase { return &c.checkBase }
func (c *backoffCheck) hooks() hookSet   { return hookSet{opDone: true} }

func (c *backoffCheck) attempt(*engine, *opState, *attempt) {}

func (c *backoffCheck) opDone(e *engine, op *opState) {
	prevGap := int64(-1)
	for i := 1; i < len(op.attempts); i++ {
		prev, cur := &op.attempts[i-1], &op.attempts[i]
		if prev.ra >= 0 { // governed by Retry-After: judged by retry_after
			continue
		}
		gap := cur.time - prev.end()
		if gap < 0 || prev.at.action == journal.ActionHang {
			prevGap = -1
			continue
		}
		short := gap < c.min-c.tol
		shrunk := !short && prevGap >= 0 && gap < prevGap-c.tol-prevGap/20
		before := prevGap
		prevGap = gap
		if !short && !shrunk {
			continue
		}
		if !c.wantEvidence() {
			c.count()
			continue
		}
		var msg, want string
		if short {
			msg = fmt.Sprintf("attempt %d sent %s after the %d response to attempt %d", i+1, ms(gap), prev.status, i)
			want = fmt.Sprintf("a delay of at least %s", ms(c.min))
		} else {
			msg = fmt.Sprintf("attempt %d waited %s, less than the %s waited before attempt %d", i+1, ms(gap), ms(before), i)
			want = fmt.Sprintf("a delay of at least %s (delays must not shrink)", ms(before))
		}
		c.add(Violation{Client: op.client.id, Op: op.op, Message: msg, Expected: want,
			Attempts: []AttemptRef{e.ref(op, prev), e.ref(op, cur)}})
	}
}

func (c *backoffCheck) finish(*engine) {}
