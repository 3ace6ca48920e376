// Package client holds retrylab's reference clients: retrying HTTP clients whose behaviour
// is known exactly, one compliant and several deliberately broken, so the analysis can be
// calibrated against them (the compliant client must pass every check; each broken one
// must fail the check it was built to fail).
//
// A client is a Policy (retry decision, backoff, Retry-After handling, idempotency keys,
// attempt and wait caps, a client-side rate limiter) turned into an *http.Client by New.
// Retries happen inside the client's RoundTripper, so one call to Do is one logical
// operation however many attempts it takes. Every attempt is a new request on the wire:
// the body is rewound from a private copy, the operation header and every other header are
// kept, and Go's transport is prevented from silently re-sending a request on a dead
// keep-alive connection (it would otherwise do so for GETs and for any request carrying an
// Idempotency-Key), so the proxy's journal sees exactly the attempts the client counts.
//
// The policies are documented in docs/CLIENTS.md.
package client

import (
	"math/rand/v2"
	"net/http"
	"time"
)

// CheckRetry decides whether an attempt's outcome is retried: resp is nil when err is not.
// It is not called when the operation's context is done.
type CheckRetry func(resp *http.Response, err error) bool

// Backoff returns the delay before retry number attempt (1 for the first retry), given the
// policy's base and max delay and the client's seeded random source.
type Backoff func(attempt int, base, max time.Duration, rnd *rand.Rand) time.Duration

// KeyStrategy decides the Idempotency-Key of each attempt of an operation. It is called
// before every attempt with the operation's request, the attempt number (from 1), the key
// the previous attempt carried ("" on the first attempt) and fresh, which returns a new
// random UUID from the client's seeded source. It returns the key to send, "" for none.
type KeyStrategy func(req *http.Request, attempt int, prev string, fresh func() string) string

// IdempotencyKeyHeader is the header a KeyStrategy's key is sent in.
const IdempotencyKeyHeader = "Idempotency-Key"

// HardMaxAttempts bounds every operation, whatever its policy says: a policy with
// MaxAttempts 0 ("unbounded") stops here.
const HardMaxAttempts = 50

// Policy is one client behaviour. The zero value makes a single attempt.
type Policy struct {
	Name        string
	MaxAttempts int           // attempts per operation, first included; 0 = unbounded (HardMaxAttempts)
	MaxWait     time.Duration // cap on the retry span (first attempt sent to last attempt sent); 0 = none
	BaseDelay   time.Duration // first backoff delay
	MaxDelay    time.Duration // cap of one backoff delay; 0 = none
	Backoff     Backoff       // nil = DefaultBackoff
	CheckRetry  CheckRetry    // nil = DefaultCheckRetry
	// HonorRetryAfter waits at least what a response's Retry-After announced (delay-seconds
	// or HTTP-date) plus RetryAfterMargin before the next attempt; malformed, negative or
	// empty values are ignored and the backoff applies. A Retry-After longer than what is
	// left of MaxWait ends the operation with that response.
	HonorRetryAfter  bool
	RetryAfterMargin time.Duration // added to every honored Retry-After
	// GrowGaps makes every backoff gap (from the previous response to the moment the next
	// attempt's headers are written, as the backoff check measures it at the proxy) at least
	// GapMargin longer than the previous backoff gap, so neither a late wake-up nor a
	// rate-limiter wait makes the following gap look shorter. Gaps set by Retry-After are
	// not compared.
	GrowGaps  bool
	GapMargin time.Duration
	Keys      KeyStrategy // nil = no Idempotency-Key
	// RateLimit keeps each API key (Authorization header) under the Options.Limits that match
	// its requests (see Limit).
	RateLimit bool
	// RetryBudget bounds retries across operations, as gRPC's retry throttling and
	// Finagle's retry budget do: every operation deposits RetryBudget tokens (up to
	// RetryBudgetBurst), every retry spends one, and a retry without a token is not made (the
	// operation ends with its last outcome). Retries then stay under RetryBudget per operation
	// whatever fails, so an outage is not multiplied by the attempt cap. 0 = no budget.
	RetryBudget      float64
	RetryBudgetBurst float64
	// BlockOn429 (with RateLimit and HonorRetryAfter) holds every request of an API key that
	// received a 429 with Retry-After until that time, not only the operation's own retry:
	// what the retry_after check demands in its client scope.
	BlockOn429 bool
	// ReadBody reads each response's body whole before deciding: a body cut short (the
	// connection closed mid-body) is then a network error, retried like one, instead of a
	// success whose body the caller fails to read.
	ReadBody bool
}

// DefaultCheckRetry retries network errors (timeouts and resets included), 408, 429 and
// every 5xx except 501 Not Implemented (seeds/000: never retry 4xx except 408 and 429).
func DefaultCheckRetry(resp *http.Response, err error) bool {
	if err != nil {
		return true
	}
	switch c := resp.StatusCode; {
	case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests:
		return true
	case c == http.StatusNotImplemented:
		return false
	default:
		return c >= 500 && c <= 599
	}
}

// NaiveCheckRetry retries network errors, 429 and every 5xx (not 408).
func NaiveCheckRetry(resp *http.Response, err error) bool {
	if err != nil {
		return true
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 && resp.StatusCode <= 599
}

// Retries4xxCheckRetry is DefaultCheckRetry that also retries 400, 401, 403, 404, 409 and
// 422: statuses the seeds say must not be retried.
func Retries4xxCheckRetry(resp *http.Response, err error) bool {
	if err == nil {
		switch resp.StatusCode {
		case 400, 401, 403, 404, 409, 422:
			return true
		}
	}
	return DefaultCheckRetry(resp, err)
}

// DefaultBackoff is exponential backoff with "equal jitter": retry n waits
// base·2^(n-1) plus a random part in [0, base·2^(n-1)), capped at max. Every delay is at
// least base, and the ranges of consecutive retries do not overlap, so gaps never shrink
// (until the cap) while retries of different operations spread over a whole range.
func DefaultBackoff(attempt int, base, max time.Duration, rnd *rand.Rand) time.Duration {
	d := expo(attempt, base, max)
	if d > 0 && rnd != nil {
		d += time.Duration(rnd.Int64N(int64(d)))
	}
	if max > 0 && d > max {
		d = max
	}
	return d
}

// ExponentialBackoff is exponential backoff without jitter: base·2^(n-1), capped at max
// (1 s, 2 s, 4 s... as seeds/000 prints it). Many operations failing together retry
// together: a synchronized retry storm.
func ExponentialBackoff(attempt int, base, max time.Duration, _ *rand.Rand) time.Duration {
	return expo(attempt, base, max)
}

// ImmediateBackoff never waits.
func ImmediateBackoff(int, time.Duration, time.Duration, *rand.Rand) time.Duration { return 0 }

// expo returns base·2^(attempt-1) capped at max (and safe from overflow).
func expo(attempt int, base, max time.Duration) time.Duration {
	if base <= 0 {
		return 0
	}
	if attempt < 1 {
		attempt = 1
	}
	d := base
	for i := 1; i < attempt; i++ {
		if d > time.Duration(1<<62)/2 || (max > 0 && d >= max) {
			break
		}
		d *= 2
	}
	if max > 0 && d > max {
		d = max
	}
	return d
}

// DefaultKeyStrategy sends one Idempotency-Key per operation on POST and PATCH requests,
// reused by every attempt (seeds/000: a retry with the same key returns the stored result).
// A key the caller already set on the request is kept as is. Other methods get no key.
func DefaultKeyStrategy(req *http.Request, attempt int, prev string, fresh func() string) string {
	if k := req.Header.Get(IdempotencyKeyHeader); k != "" {
		return k
	}
	if req.Method != http.MethodPost && req.Method != http.MethodPatch {
		return ""
	}
	if prev != "" {
		return prev
	}
	return fresh()
}

// NewKeyPerAttemptStrategy sends a fresh Idempotency-Key on every attempt of a POST or PATCH
// (seeds/001's advice for an API that replays stored failures). After a lost response the
// retry is a new request to the server: the side effect can happen twice.
func NewKeyPerAttemptStrategy(req *http.Request, attempt int, prev string, fresh func() string) string {
	if attempt == 1 {
		if k := req.Header.Get(IdempotencyKeyHeader); k != "" {
			return k
		}
	}
	if req.Method != http.MethodPost && req.Method != http.MethodPatch {
		return ""
	}
	return fresh()
}
