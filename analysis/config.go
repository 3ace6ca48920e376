package analysis

import (
	"path"
	"slices"
	"strings"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
)

// Correlation modes (Config.Correlation).
const (
	CorrelateHeader      = profile.CorrelateHeader      // Record.Op, else the fingerprint
	CorrelateFingerprint = profile.CorrelateFingerprint // client + method + path + body hash
	CorrelateIdemKey     = profile.CorrelateIdemKey     // Idempotency-Key, else the fingerprint
)

// Retry-After scopes (Config.RetryAfterScope).
const (
	ScopeOperation = "operation" // a Retry-After binds the operation that received it
	ScopeClient    = "client"    // a 429's Retry-After also binds every other operation of the client
)

// Config holds the checks' parameters. The zero value of a field means "the default"
// (see DefaultConfig) except where noted.
type Config struct {
	Correlation         string        // "header" (default: Record.Op), "fingerprint" (method+path+body_hash), "idempotency_key"
	MaxAttempts         int           // most attempts an operation may make (5)
	MaxRetrySpan        time.Duration // longest span from an operation's first attempt to its last (30s)
	NonRetryable        []int         // statuses that must not be retried (400 401 403 404 409 422)
	RetryAfterScope     string        // "operation" (default) or "client"
	RetryAfterTolerance time.Duration // how much earlier than Retry-After a retry may come (50ms)
	MinBackoff          time.Duration // shortest allowed delay before a retry not governed by Retry-After (100ms)
	BackoffTolerance    time.Duration // tolerance of the backoff comparisons (10ms)
	JitterMinSamples    int           // smallest group of first-retry delays judged for jitter (10)
	JitterMinSpread     time.Duration // a group whose p90-p10 spread is below this is a retry storm (25ms)
	Amplification       float64       // allowed attempts per operation (2.5)
	// FaultWindowAmplification is the allowed attempts per operation started while faults
	// are injected. Default: MaxAttempts, which a client honoring the attempt cap cannot
	// exceed even in a total outage; set it lower to demand a retry budget.
	FaultWindowAmplification float64
	// RateLimits are the published limits; default: seeds/000+002 (100/s, burst 200/s for 10s).
	RateLimits []profile.RateLimit
	// RateLimitTolerance is the fraction over a limit tolerated (0 = none).
	RateLimitTolerance float64
	// RateLimitTransit is how much later than its journaled arrival an attempt may be
	// judged to have arrived (transit jitter of a correctly paced client); default 100ms.
	RateLimitTransit time.Duration
	ClientNames      map[string]string // key hash -> name, for reports
	Thresholds       []string          // gate expressions from the profile
	Run              RunInfo           // copied into the report
	MaxEvidence      int               // evidence kept per check (20)

	// ReorderWindow is how far out of time order a journal's records may be and still be
	// analysed in exact time order (the proxy writes a record when the attempt completes,
	// so a slow attempt is written after later ones). Default 10s.
	ReorderWindow time.Duration

	// CutShort says the journals end where a run was interrupted: an operation still open
	// at their end (its last attempt failed, a retry may have been on its way) is counted
	// as cut, not as failed or abandoned, and success_rate leaves it out. An analysis that
	// is itself interrupted treats the point where it stopped reading the same way.
	CutShort bool
}

// DefaultRateLimits are the seeds' published limits: 100 requests/s per API key in a 1 s
// sliding window, bursts up to 200/s for 10 s (seeds/000 and seeds/002).
func DefaultRateLimits() []profile.RateLimit {
	return []profile.RateLimit{{
		Name:          "default",
		Limit:         100,
		Window:        profile.Duration(time.Second),
		Burst:         200,
		BurstDuration: profile.Duration(10 * time.Second),
	}}
}

// DefaultConfig returns the seeds' defaults.
func DefaultConfig() Config {
	return Config{
		Correlation:         CorrelateHeader,
		MaxAttempts:         profile.DefaultMaxAttempts,
		MaxRetrySpan:        profile.DefaultMaxRetrySpan,
		NonRetryable:        slices.Clone(profile.DefaultNonRetryable),
		RetryAfterScope:     ScopeOperation,
		RetryAfterTolerance: profile.DefaultRetryAfterTolerance,
		MinBackoff:          profile.DefaultMinBackoff,
		BackoffTolerance:    profile.DefaultBackoffTolerance,
		JitterMinSamples:    profile.DefaultJitterMinSamples,
		JitterMinSpread:     profile.DefaultJitterMinSpread,
		Amplification:       profile.DefaultAmplification,
		RateLimits:          DefaultRateLimits(),
		RateLimitTransit:    profile.DefaultRateLimitTransit,
		MaxEvidence:         20,
		ReorderWindow:       10 * time.Second,
	}
}

// ConfigFromProfile builds the analysis configuration of a profile: its analysis section,
// rate limits, client names, thresholds and run description. Zero fields take the defaults.
func ConfigFromProfile(p *profile.Profile) Config {
	a := p.Analysis
	c := Config{
		Correlation:         a.Correlation,
		MaxAttempts:         a.MaxAttempts,
		MaxRetrySpan:        a.MaxRetrySpan.D(),
		NonRetryable:        slices.Clone(a.NonRetryable),
		RetryAfterScope:     a.RetryAfterScope,
		RetryAfterTolerance: a.RetryAfterTolerance.D(),
		MinBackoff:          a.MinBackoff.D(),
		BackoffTolerance:    a.BackoffTolerance.D(),
		JitterMinSamples:    a.JitterMinSamples,
		JitterMinSpread:     a.JitterMinSpread.D(),
		Amplification:       a.Amplification,
		RateLimits:          slices.Clone(p.RateLimits),
		RateLimitTolerance:  a.RateLimitTolerance,
		RateLimitTransit:    a.RateLimitTransit.D(),
		Thresholds:          slices.Clone(p.Thresholds),
		ClientNames:         map[string]string{},
	}
	for _, cl := range p.Clients {
		if h := journal.HashKey(cl.Key); h != "" {
			c.ClientNames[h] = cl.Name
		}
	}
	c.Run = RunInfo{Profile: p.Name, File: p.Path, Seed: p.Seed, Target: p.Target}
	if p.Client.Kind != "" {
		c.Run.Client = p.Client.Kind
		if p.Client.Policy != "" {
			c.Run.Client += "/" + p.Client.Policy
		}
	}
	return c.withDefaults()
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Correlation == "" {
		c.Correlation = d.Correlation
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.MaxRetrySpan <= 0 {
		c.MaxRetrySpan = d.MaxRetrySpan
	}
	if c.NonRetryable == nil {
		c.NonRetryable = d.NonRetryable
	}
	if c.RetryAfterScope == "" {
		c.RetryAfterScope = d.RetryAfterScope
	}
	if c.RateLimitTransit <= 0 {
		c.RateLimitTransit = d.RateLimitTransit
	}
	if c.RetryAfterTolerance <= 0 {
		c.RetryAfterTolerance = d.RetryAfterTolerance
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = d.MinBackoff
	}
	if c.BackoffTolerance <= 0 {
		c.BackoffTolerance = d.BackoffTolerance
	}
	if c.JitterMinSamples <= 0 {
		c.JitterMinSamples = d.JitterMinSamples
	}
	if c.JitterMinSpread <= 0 {
		c.JitterMinSpread = d.JitterMinSpread
	}
	if c.Amplification <= 0 {
		c.Amplification = d.Amplification
	}
	if c.FaultWindowAmplification <= 0 {
		c.FaultWindowAmplification = float64(c.MaxAttempts)
	}
	if len(c.RateLimits) == 0 {
		c.RateLimits = d.RateLimits
	}
	rls := make([]profile.RateLimit, len(c.RateLimits))
	for i, r := range c.RateLimits {
		if r.Window <= 0 {
			r.Window = profile.Duration(time.Second)
		}
		if r.Burst < r.Limit {
			r.Burst = r.Limit
		}
		r.Method = strings.ToUpper(r.Method)
		rls[i] = r
	}
	c.RateLimits = rls
	if c.MaxEvidence <= 0 {
		c.MaxEvidence = d.MaxEvidence
	}
	if c.ReorderWindow <= 0 {
		c.ReorderWindow = d.ReorderWindow
	}
	return c
}

// matchRateLimit reports whether the limit applies to a request.
func matchRateLimit(rl *profile.RateLimit, method, p string) bool {
	if rl.Method != "" && rl.Method != method {
		return false
	}
	return matchPath(rl.Path, p)
}

// matchPath matches a profile path pattern: "" matches everything, a pattern with
// * ? or [ is a path.Match glob, anything else a prefix.
func matchPath(pattern, p string) bool {
	if pattern == "" {
		return true
	}
	if strings.ContainsAny(pattern, "*?[") {
		ok, _ := path.Match(pattern, p)
		return ok
	}
	return strings.HasPrefix(p, pattern)
}
