package analysis

import (
	"fmt"

	"github.com/retrylab/retrylab/internal/profile"
	"github.com/retrylab/retrylab/internal/ratelimit"
)

func init() { register(CheckRateLimit, newRateLimitCheck) }

// rateLimitCheck: an attempt that takes a client over its published limit. Each client's
// attempts matching a limit (method and path) are replayed, in time order, through the
// same limiter the proxy enforces (internal/ratelimit: a sliding window of at most
// burst·window requests, and a bucket of max(limit·window, (burst-limit)·burst_duration)
// tokens refilled at limit per second, one token per admitted request). An attempt that
// limiter would not admit is a violation; like the proxy, it does not count against
// the client afterwards. The tolerance scales limit and burst by (1 + tolerance).
//
// Transit: a client that paces its requests exactly at the limit sees them reach the proxy
// with jitter from the network and the scheduler, which can squeeze two of them into one
// window. So an attempt the limiter refuses is judged to have arrived up to `transit` later
// (default 100ms): if the limiter admits it by then, it is admitted at that instant and the
// replay goes on from there. A client over its limit builds a backlog that the shift cannot
// absorb for long, so it is still caught; one that only rides the edge is not.
type rateLimitCheck struct {
	checkBase
	limits   []profile.RateLimit
	policies []*ratelimit.Policy // nil for a limit that cannot be enforced
	transit  int64
}

// rateScope is one client's limiter under one limit.
type rateScope struct {
	lim  *ratelimit.Limiter
	last int64 // replay clock: never goes back, Unix ns
}

func newRateLimitCheck(cfg *Config) checker {
	c := &rateLimitCheck{
		checkBase: newBase(cfg, CheckRateLimit, "Stays within the published rate limits"),
		limits:    cfg.RateLimits,
		policies:  make([]*ratelimit.Policy, len(cfg.RateLimits)),
		transit:   int64(cfg.RateLimitTransit),
	}
	ls := make([]string, len(c.limits))
	var bad []string
	for i := range c.limits {
		l := &c.limits[i]
		ls[i] = describeLimit(l)
		p, err := ratelimit.NewPolicy(ratelimit.Config{
			Limit:         l.Limit.PerSecond() * (1 + cfg.RateLimitTolerance),
			Window:        l.Window.D(),
			Burst:         l.Burst.PerSecond() * (1 + cfg.RateLimitTolerance),
			BurstDuration: l.BurstDuration.D(),
		})
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", ls[i], err))
			continue
		}
		c.policies[i] = p
	}
	c.params["limits"] = ls
	c.params["tolerance"] = cfg.RateLimitTolerance
	c.params["transit"] = cfg.RateLimitTransit.String()
	if bad != nil {
		c.params["not_enforced"] = bad
	}
	c.summary = "attempts per client replayed through the published limit: " + joinShort(ls)
	return c
}

func describeLimit(l *profile.RateLimit) string {
	s := fmt.Sprintf("%g/s per %v", l.Limit.PerSecond(), l.Window.D())
	if l.Burst > l.Limit {
		s += fmt.Sprintf(", burst %g/s", l.Burst.PerSecond())
		if l.BurstDuration > 0 {
			s += fmt.Sprintf(" for %v", l.BurstDuration.D())
		}
	}
	if l.Method != "" || l.Path != "" {
		s += fmt.Sprintf(" (%s %s)", l.Method, l.Path)
	}
	return s
}

func joinShort(ss []string) string {
	switch len(ss) {
	case 0:
		return "no limit"
	case 1:
		return ss[0]
	}
	return fmt.Sprintf("%s and %d more", ss[0], len(ss)-1)
}

func (c *rateLimitCheck) base() *checkBase { return &c.checkBase }
func (c *rateLimitCheck) hooks() hookSet   { return hookSet{attempt: true} }

func (c *rateLimitCheck) attempt(e *engine, op *opState, a *attempt) {
	cl := op.client
	if cl.rate == nil {
		cl.rate = make([]rateScope, len(c.limits))
	}
	for i := range c.limits {
		l := &c.limits[i]
		if i < 64 {
			if op.limits&(1<<i) == 0 {
				continue
			}
		} else if !matchRateLimit(l, op.method, op.path) {
			continue
		}
		if cl.limit == 0 {
			cl.limit, cl.burst = l.Limit.PerSecond(), l.Burst.PerSecond()
		}
		p := c.policies[i]
		if p == nil {
			continue
		}
		s := &cl.rate[i]
		if s.lim == nil {
			s.lim = ratelimit.NewLimiter(p)
		}
		at := max(a.time, s.last)
		ok, retryAt := s.lim.AllowAt(at)
		if ok {
			s.last = at
			continue
		}
		if late := retryAt; late-a.time <= c.transit {
			if ok, _ := s.lim.AllowAt(late); ok {
				s.last = late
				continue
			}
		}
		if !c.wantEvidence() {
			c.count()
			continue
		}
		c.add(Violation{
			Client: cl.id,
			Op:     op.op,
			Message: fmt.Sprintf("attempt sent %s before the limit admitted another request of the client",
				ms(retryAt-a.time)),
			Expected: "at most " + describeLimit(l),
			Attempts: []AttemptRef{e.ref(op, a)},
		})
	}
}

func (c *rateLimitCheck) opDone(*engine, *opState) {}
func (c *rateLimitCheck) finish(*engine)           {}
