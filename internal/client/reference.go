package client

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/retrylab/retrylab/internal/profile"
)

// Reference client names.
const (
	Compliant         = "compliant"
	Naive             = "naive"
	NoJitter          = "no-jitter"
	IgnoresRetryAfter = "ignores-retry-after"
	NewKeyPerRetry    = "new-key-per-retry"
	Retries4xx        = "retries-4xx"
	Unbounded         = "unbounded"
	NoRetry           = "no-retry"
)

// Defaults of the compliant client, from the seeds (seeds/000: 5 attempts, 30 s total wait,
// honor Retry-After, never retry 4xx except 408 and 429).
const (
	DefaultMaxAttempts      = 5
	DefaultMaxWait          = 30 * time.Second
	DefaultBaseDelay        = 100 * time.Millisecond
	DefaultMaxDelay         = 10 * time.Second
	DefaultRetryAfterMargin = 30 * time.Millisecond
	DefaultGapMargin        = 25 * time.Millisecond
	// UnboundedMaxDelay caps one delay of the unbounded client, so that its missing caps show
	// within a run of a few minutes.
	UnboundedMaxDelay = 2 * time.Second
	// DefaultRetryBudget and DefaultRetryBudgetBurst keep the compliant client's attempts
	// per operation at most 1 + 1.2 (plus a burst of 10 retries), under the analysis's
	// default amplification of 2.5, even in a total outage, while a brownout failing half
	// the attempts (about 1 retry per operation) is never throttled.
	DefaultRetryBudget      = 1.2
	DefaultRetryBudgetBurst = 10
)

// compliant is the policy every other reference client is a variation of.
func compliant() Policy {
	return Policy{
		Name:             Compliant,
		MaxAttempts:      DefaultMaxAttempts,
		MaxWait:          DefaultMaxWait,
		BaseDelay:        DefaultBaseDelay,
		MaxDelay:         DefaultMaxDelay,
		Backoff:          DefaultBackoff,
		CheckRetry:       DefaultCheckRetry,
		HonorRetryAfter:  true,
		RetryAfterMargin: DefaultRetryAfterMargin,
		GrowGaps:         true,
		GapMargin:        DefaultGapMargin,
		Keys:             DefaultKeyStrategy,
		RateLimit:        true,
		ReadBody:         true,
		RetryBudget:      DefaultRetryBudget,
		RetryBudgetBurst: DefaultRetryBudgetBurst,
	}
}

// references builds each reference policy; see docs/CLIENTS.md for what each must fail.
var references = map[string]func() Policy{
	// compliant: equal-jitter exponential backoff from 100 ms, Retry-After honored (both
	// forms) plus a 30 ms margin, one Idempotency-Key per operation, 5 attempts and 30 s
	// caps, retries only 408, 429, 5xx and network errors, a retry budget of 1.2 retries
	// per operation, client-side rate limiter.
	Compliant: compliant,
	// naive: immediate retries, no Idempotency-Key, retries 429, 5xx and network errors,
	// ignores Retry-After, no limiter, 5 attempts.
	Naive: func() Policy {
		return Policy{
			Name:        Naive,
			MaxAttempts: DefaultMaxAttempts,
			Backoff:     ImmediateBackoff,
			CheckRetry:  NaiveCheckRetry,
		}
	},
	// no-jitter: exponential backoff 100 ms, 200 ms, 400 ms... without jitter.
	NoJitter: func() Policy {
		p := compliant()
		p.Name, p.Backoff = NoJitter, ExponentialBackoff
		return p
	},
	// ignores-retry-after: the compliant backoff, but Retry-After is never read.
	IgnoresRetryAfter: func() Policy {
		p := compliant()
		p.Name, p.HonorRetryAfter = IgnoresRetryAfter, false
		return p
	},
	// new-key-per-retry: a fresh Idempotency-Key on every attempt.
	NewKeyPerRetry: func() Policy {
		p := compliant()
		p.Name, p.Keys = NewKeyPerRetry, NewKeyPerAttemptStrategy
		return p
	},
	// retries-4xx: also retries 400, 401, 403, 404, 409 and 422.
	Retries4xx: func() Policy {
		p := compliant()
		p.Name, p.CheckRetry = Retries4xx, Retries4xxCheckRetry
		return p
	},
	// unbounded: no attempt cap (HardMaxAttempts still applies), no total-wait cap, no
	// retry budget; one delay is capped at UnboundedMaxDelay.
	Unbounded: func() Policy {
		p := compliant()
		p.Name, p.MaxAttempts, p.MaxWait, p.MaxDelay = Unbounded, 0, 0, UnboundedMaxDelay
		p.RetryBudget = 0
		return p
	},
	// no-retry: one attempt, no key, no limiter.
	NoRetry: func() Policy {
		return Policy{Name: NoRetry, MaxAttempts: 1}
	},
}

// Names returns the reference client names, sorted.
func Names() []string {
	names := make([]string, 0, len(references))
	for n := range references {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Reference returns the reference policy called name.
func Reference(name string) (Policy, error) {
	f, ok := references[name]
	if !ok {
		return Policy{}, fmt.Errorf("unknown reference client %q (one of %s)", name, strings.Join(Names(), ", "))
	}
	return f(), nil
}

// PolicyFor returns the reference policy a profile's client section names, with its
// overrides (max_attempts, max_wait, base_delay, max_delay) applied.
func PolicyFor(c profile.ClientUnderTest) (Policy, error) {
	name := c.Policy
	if name == "" {
		name = Compliant
	}
	p, err := Reference(name)
	if err != nil {
		return Policy{}, fmt.Errorf("client.policy: %w", err)
	}
	if c.MaxAttempts > 0 {
		p.MaxAttempts = c.MaxAttempts
	}
	if c.MaxWait > 0 {
		p.MaxWait = c.MaxWait.D()
	}
	if c.BaseDelay > 0 && p.Backoff != nil {
		p.BaseDelay = c.BaseDelay.D()
	}
	if c.MaxDelay > 0 && p.Backoff != nil {
		p.MaxDelay = c.MaxDelay.D()
	}
	return p, nil
}

// LimitsFor converts a profile's published rate limits into client-side limits.
func LimitsFor(rls []profile.RateLimit) []Limit {
	out := make([]Limit, 0, len(rls))
	for _, rl := range rls {
		if rl.Limit <= 0 {
			continue
		}
		out = append(out, Limit{Method: rl.Method, Path: rl.Path, Rate: rl.Limit.PerSecond(), Window: rl.Window.D(),
			Burst: rl.Burst.PerSecond(), BurstDuration: rl.BurstDuration.D()})
	}
	return out
}

// ForProfile returns the reference policy and options a profile implies: PolicyFor its
// client section, OptionsFor the rest, and BlockOn429 when the analysis judges Retry-After
// per client (analysis.retry_after_scope: client).
func ForProfile(p *profile.Profile) (Policy, Options, error) {
	pol, err := PolicyFor(p.Client)
	if err != nil {
		return Policy{}, Options{}, err
	}
	if p.Analysis.RetryAfterScope == "client" && pol.HonorRetryAfter && pol.RateLimit {
		pol.BlockOn429 = true
	}
	return pol, OptionsFor(p), nil
}

// OptionsFor returns the Options a profile implies: per-attempt timeout, seed and limits.
func OptionsFor(p *profile.Profile) Options {
	return Options{
		Timeout: p.Client.Timeout.D(),
		Seed:    p.Seed,
		Limits:  LimitsFor(p.RateLimits),
	}
}
