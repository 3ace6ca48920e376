// Package profile reads and validates retrylab profiles: one YAML file is one scenario
// (target, load shape, clients, endpoints, client under test, rate limits, faults,
// analysis parameters and thresholds). Validation is strict: an unknown field or a bad
// value is refused with an error of the form "FILE:LINE: field.path: what is wrong".
//
// Every field is documented with an example in profiles/README.md.
package profile

import "time"

// Profile is one scenario.
type Profile struct {
	// Path is the file the profile was read from ("" when built in code).
	Path string `yaml:"-"`
	// lines maps field paths to their line in the file (for errors found after loading).
	lines map[string]int
	// rulesOnly marks a profile loaded for the proxy alone (LoadRules): no load is required.
	rulesOnly bool

	Version     int      `yaml:"version"` // format version, 1
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Seed        int64    `yaml:"seed"`     // seeds every random decision (faults, jitter, body templates)
	Duration    Duration `yaml:"duration"` // length of the load phase

	// Target is "builtin" (the in-process mock of the seeds' API) or an http:// URL on loopback.
	Target  string  `yaml:"target"`
	Builtin Builtin `yaml:"builtin"`

	Load      LoadSpec        `yaml:"load"`
	Clients   []Client        `yaml:"clients"`
	Endpoints []Endpoint      `yaml:"endpoints"`
	Client    ClientUnderTest `yaml:"client"`

	Proxy      Proxy       `yaml:"proxy"`
	RateLimits []RateLimit `yaml:"rate_limits"`
	Faults     []Fault     `yaml:"faults"`

	Analysis   Analysis `yaml:"analysis"`
	Thresholds []string `yaml:"thresholds"`
}

// Builtin configures the built-in target.
type Builtin struct {
	Latency       Duration `yaml:"latency"`        // processing latency per request (default 1ms)
	LatencyJitter Duration `yaml:"latency_jitter"` // extra random latency in [0, jitter)
	// Idempotency is the key store's contract: "replay-success" (seeds/000: only stored
	// successes are replayed; a failed attempt may be retried with the same key) or
	// "replay-all" (seeds/001: every stored result is replayed, 5xx included).
	Idempotency    string   `yaml:"idempotency"`
	IdempotencyTTL Duration `yaml:"idempotency_ttl"` // default 24h
}

// Load shapes.
const (
	ShapeConstant = "constant"
	ShapeRamp     = "ramp"
	ShapeStep     = "step"
	ShapeSine     = "sine"
	ShapeBurst    = "burst"
)

// LoadSpec is the rate at which logical operations are started.
type LoadSpec struct {
	Shape string `yaml:"shape"` // constant (default), ramp, step, sine, burst
	Rate  Rate   `yaml:"rate"`  // constant: the rate; burst: the base rate; sine: the mean

	From Rate `yaml:"from"` // ramp: start rate
	To   Rate `yaml:"to"`   // ramp: end rate

	Steps []Step `yaml:"steps"` // step: consecutive rate@duration steps

	Amplitude Rate     `yaml:"amplitude"` // sine: peak deviation from the mean
	Period    Duration `yaml:"period"`    // sine: period

	BurstRate     Rate     `yaml:"burst_rate"`     // burst: rate during a burst
	BurstDuration Duration `yaml:"burst_duration"` // burst: length of one burst
	BurstEvery    Duration `yaml:"burst_every"`    // burst: a burst starts every this long (first at 0)

	Workers    int `yaml:"workers"`     // initial vegeta workers (default 10)
	MaxWorkers int `yaml:"max_workers"` // cap on vegeta workers (default 1000)
}

// WithConstantRate returns l as a constant shape at r, keeping its worker settings (the
// --rate override of loadgen and the retrylab package).
func (l LoadSpec) WithConstantRate(r Rate) LoadSpec {
	return LoadSpec{Shape: ShapeConstant, Rate: r, Workers: l.Workers, MaxWorkers: l.MaxWorkers}
}

// Step is one step of a step shape, written "50/s for 10s" or as a mapping {rate, duration}.
type Step struct {
	Rate     Rate     `yaml:"rate"`
	Duration Duration `yaml:"duration"`
}

// Client is one API key of the client under test.
type Client struct {
	Name   string  `yaml:"name"`   // label in reports (default: key's hash)
	Key    string  `yaml:"key"`    // API key sent as Authorization: Bearer
	Weight float64 `yaml:"weight"` // share of operations (default 1)
}

// Endpoint is one entry of the weighted endpoint mix.
type Endpoint struct {
	Name    string            `yaml:"name"`
	Method  string            `yaml:"method"` // default GET
	Path    string            `yaml:"path"`   // may hold {{uuid}}, {{seq}}, {{key}}
	Body    string            `yaml:"body"`   // template; {{uuid}}, {{seq}}, {{key}}
	Headers map[string]string `yaml:"headers"`
	Weight  float64           `yaml:"weight"` // default 1
}

// Client-under-test kinds.
const (
	KindReference = "reference"
	KindService   = "service"
	KindGo        = "go"
)

// ClientUnderTest names the client whose behaviour is judged.
type ClientUnderTest struct {
	Kind   string `yaml:"kind"`   // reference (default), service, go
	Policy string `yaml:"policy"` // reference: compliant (default), naive, no-jitter, ignores-retry-after, new-key-per-retry, retries-4xx, unbounded, no-retry

	Timeout     Duration `yaml:"timeout"`      // per attempt (default 5s)
	MaxAttempts int      `yaml:"max_attempts"` // reference: override the policy's attempt cap
	MaxWait     Duration `yaml:"max_wait"`     // reference: override the policy's total wait cap
	BaseDelay   Duration `yaml:"base_delay"`   // reference: first backoff delay
	MaxDelay    Duration `yaml:"max_delay"`    // reference: cap of one backoff delay

	URL     string            `yaml:"url"`     // service: the user's endpoint vegeta drives
	Command []string          `yaml:"command"` // service: started with RETRYLAB_PROXY_URL in its environment
	Env     map[string]string `yaml:"env"`     // service: extra environment
	Ready   string            `yaml:"ready"`   // service: path polled until it answers (default: none)
}

// Proxy configures the fault proxy.
type Proxy struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:0 inside loadgen run
	// RateLimitHeaders selects the headers on every response: x-ratelimit (default), ietf, both, none.
	RateLimitHeaders string `yaml:"rate_limit_headers"`
	StoreBodies      bool   `yaml:"store_bodies"`     // journal request bodies in clear
	MaxHeaderBytes   int    `yaml:"max_header_bytes"` // default 16 KiB
	MaxBodyBytes     int    `yaml:"max_body_bytes"`   // default 1 MiB
	// Correlation header the proxy reads the operation id from (default X-Retrylab-Op).
	OpHeader string `yaml:"op_header"`
}

// RateLimit is one per-client limit, applied to the requests it matches.
type RateLimit struct {
	Name   string `yaml:"name"`
	Method string `yaml:"method"` // "" = any
	Path   string `yaml:"path"`   // prefix or glob; "" = any

	Limit         Rate     `yaml:"limit"`          // sustained rate per client, e.g. 100/s
	Window        Duration `yaml:"window"`         // sliding window (default 1s)
	Burst         Rate     `yaml:"burst"`          // peak rate allowed during a burst, e.g. 200/s (default = limit)
	BurstDuration Duration `yaml:"burst_duration"` // how long a burst may last, e.g. 10s
}

// Fault actions.
const (
	FaultRespond      = "respond"
	FaultLoseResponse = "lose_response"
	FaultDelay        = "delay"
	FaultReset        = "reset"
	FaultHang         = "hang"
	FaultTruncate     = "truncate"
	FaultSlowBody     = "slow_body"
)

// Retry-After forms.
const (
	RAFormSeconds  = "seconds"
	RAFormHTTPDate = "http-date"
	RAFormEmpty    = "empty"
	RAFormNegative = "negative"
	RAFormGarbage  = "garbage"
	RAFormHuge     = "huge"
)

// Fault is one rule. Rules are evaluated in order; the first whose match, attempts,
// window and probability all hold decides the request.
type Fault struct {
	Name     string `yaml:"name"`
	Action   string `yaml:"action"` // respond, lose_response, delay, reset, hang, truncate, slow_body
	Disabled bool   `yaml:"disabled"`

	Match       Match       `yaml:"match"`
	Probability Probability `yaml:"probability"` // default 1
	Attempts    []int       `yaml:"attempts"`    // only these attempt numbers of an operation (e.g. [1, 2])

	From  Duration `yaml:"from"`  // active from this offset of the run
	To    Duration `yaml:"to"`    // active until this offset (0 = end)
	Every Duration `yaml:"every"` // periodic flap: active for `for` at the start of every `every`
	For   Duration `yaml:"for"`

	// respond, lose_response
	Status         int      `yaml:"status"`           // respond: any status; lose_response: 502 (default) or 504
	RetryAfter     Duration `yaml:"retry_after"`      // Retry-After to announce (rounded up to whole seconds)
	RetryAfterForm string   `yaml:"retry_after_form"` // seconds (default), http-date, empty, negative, garbage, huge
	Body           string   `yaml:"body"`             // respond: seed000 (default), seed002, plain, empty
	Reset          bool     `yaml:"reset"`            // lose_response: reset the connection instead of a status

	// delay
	Delay    Duration `yaml:"delay"`     // fixed delay, or lower bound with delay_max
	DelayMax Duration `yaml:"delay_max"` // random delay in [delay, delay_max]
	When     string   `yaml:"when"`      // delay: before (default) or after forwarding

	// hang
	HangFor Duration `yaml:"hang_for"` // hang: hold the request this long, then close (default 30s)

	// truncate, slow_body
	Bytes    int      `yaml:"bytes"`    // truncate: bytes of body sent before closing; slow_body: bytes per chunk
	Interval Duration `yaml:"interval"` // slow_body: pause between chunks
}

// Match selects requests. Empty fields match everything.
type Match struct {
	Method  string            `yaml:"method"`  // e.g. POST
	Path    string            `yaml:"path"`    // prefix ("/v1/calls") or glob ("/v1/*/status")
	Headers map[string]string `yaml:"headers"` // header: value ("*" = present)
	Client  string            `yaml:"client"`  // client name or API key
}

// Correlation modes.
const (
	CorrelateHeader      = "header"      // the proxy's op header (default), falling back to fingerprint
	CorrelateFingerprint = "fingerprint" // method + path + body hash
	CorrelateIdemKey     = "idempotency_key"
)

// Analysis holds the checks' parameters. Zero values take the seeds' defaults (see Defaults).
type Analysis struct {
	Correlation         string   `yaml:"correlation"`           // header (default), fingerprint, idempotency_key
	MaxAttempts         int      `yaml:"max_attempts"`          // default 5
	MaxRetrySpan        Duration `yaml:"max_retry_span"`        // default 30s
	NonRetryable        []int    `yaml:"non_retryable"`         // default 400 401 403 404 409 422
	RetryAfterScope     string   `yaml:"retry_after_scope"`     // operation (default) or client
	RetryAfterTolerance Duration `yaml:"retry_after_tolerance"` // default 50ms
	MinBackoff          Duration `yaml:"min_backoff"`           // default 100ms
	BackoffTolerance    Duration `yaml:"backoff_tolerance"`     // default 10ms
	JitterMinSamples    int      `yaml:"jitter_min_samples"`    // default 10
	JitterMinSpread     Duration `yaml:"jitter_min_spread"`     // default 25ms
	Amplification       float64  `yaml:"amplification"`         // allowed attempts per operation, default 2.5
	RateLimitTolerance  float64  `yaml:"rate_limit_tolerance"`  // fraction over the limit tolerated, default 0
	// RateLimitTransit is how late an attempt may be judged to have arrived: requests a
	// client paced correctly reach the proxy with jitter from the network and the scheduler.
	RateLimitTransit Duration `yaml:"rate_limit_transit"` // default 100ms
}

// Defaults from the seeds.
const (
	DefaultMaxAttempts         = 5
	DefaultMaxRetrySpan        = 30 * time.Second
	DefaultRetryAfterTolerance = 50 * time.Millisecond
	DefaultRateLimitTransit    = 100 * time.Millisecond
	DefaultMinBackoff          = 100 * time.Millisecond
	DefaultBackoffTolerance    = 10 * time.Millisecond
	DefaultJitterMinSamples    = 10
	DefaultJitterMinSpread     = 25 * time.Millisecond
	DefaultAmplification       = 2.5
	DefaultIdempotencyTTL      = 24 * time.Hour
	DefaultOpHeader            = "X-Retrylab-Op"
	DefaultTimeout             = 5 * time.Second
	DefaultHangFor             = 30 * time.Second
)

// DefaultNonRetryable are the statuses that must not be retried (seeds/000: never retry 4xx
// except 408 and 429).
var DefaultNonRetryable = []int{400, 401, 403, 404, 409, 422}
