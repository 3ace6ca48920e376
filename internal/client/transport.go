package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Options are the parts of a client that are not policy.
type Options struct {
	// Transport sends each attempt; nil = NewHTTPTransport(). It should not retry by itself.
	Transport http.RoundTripper
	Timeout   time.Duration // per attempt, response body included; 0 = none
	Seed      int64         // seeds jitter and idempotency keys
	Limits    []Limit       // published limits for the client-side limiter (Policy.RateLimit)
	// Now and Sleep replace the clock in tests; nil = time.Now and a context-aware timer.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// NewHTTPTransport returns the default attempt transport: keep-alive connections sized for
// load generation (1,000 idle connections per host), no proxy from the environment (all
// retrylab traffic stays on loopback), HTTP/1.1.
func NewHTTPTransport() *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   1000,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
}

// New returns an *http.Client that runs policy p: one call to Do is one logical operation,
// retried inside the client's Transport. The client has no overall timeout: the per-attempt
// Timeout, the policy's caps and the request's context bound an operation.
func New(p Policy, o Options) *http.Client {
	return &http.Client{Transport: NewTransport(p, o)}
}

// Transport is the retrying http.RoundTripper behind New.
type Transport struct {
	policy  Policy
	base    http.RoundTripper
	timeout time.Duration
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
	limiter *limiter

	mu     sync.Mutex
	rnd    *rand.Rand
	tokens float64 // retry budget
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns the retrying RoundTripper for p.
func NewTransport(p Policy, o Options) *Transport {
	t := &Transport{
		policy:  p,
		base:    o.Transport,
		timeout: o.Timeout,
		now:     o.Now,
		sleep:   o.Sleep,
		rnd:     rand.New(rand.NewPCG(uint64(o.Seed), 0x9e3779b97f4a7c15)),
	}
	if t.base == nil {
		t.base = NewHTTPTransport()
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.sleep == nil {
		t.sleep = sleepContext
	}
	if t.policy.Backoff == nil {
		t.policy.Backoff = DefaultBackoff
	}
	if t.policy.CheckRetry == nil {
		t.policy.CheckRetry = DefaultCheckRetry
	}
	if p.RateLimit {
		t.limiter = newLimiter(o.Limits)
	}
	if t.policy.RetryBudgetBurst < 1 {
		t.policy.RetryBudgetBurst = 1
	}
	t.tokens = t.policy.RetryBudgetBurst
	return t
}

// Policy returns the transport's policy.
func (t *Transport) Policy() Policy { return t.policy }

// CloseIdleConnections closes the idle connections of the underlying transport.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// ErrRateLimitWait is returned when the client-side limiter would hold a request past
// what is left of the policy's MaxWait.
var ErrRateLimitWait = errors.New("client-side rate limit: next slot is past the wait cap")

// spanMargin keeps the last attempt this far inside MaxWait, for the wire's jitter.
const spanMargin = 50 * time.Millisecond

// RoundTrip runs one operation: attempts until success, a non-retryable outcome, a cap, or
// the request's context ends. It returns the last attempt's response (its body unread) or
// the last error, wrapped with the number of attempts made.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	body, err := readBody(req)
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	p := &t.policy
	maxAttempts := p.MaxAttempts
	if maxAttempts <= 0 || maxAttempts > HardMaxAttempts {
		maxAttempts = HardMaxAttempts
	}
	counter := attemptCounterFrom(ctx)

	var (
		first    time.Time               // first attempt sent
		lastEnd  time.Time               // previous attempt's outcome received
		next                   = t.now() // the coming attempt's earliest instant (backoff or Retry-After)
		prevGap  time.Duration = -1
		governed               = true // the coming attempt's wait was set by Retry-After (or it is the first)
		key      string
		gone     *sentRequest // the attempt as the client-side limiter counts it
	)
	for attempt := 1; ; attempt++ {
		if err := t.sleep(ctx, next.Sub(t.now())); err != nil {
			return nil, fmt.Errorf("giving up after %d attempt(s): %w", attempt-1, err)
		}
		if t.limiter != nil {
			var deadline time.Time
			if p.MaxWait > 0 {
				if attempt == 1 {
					deadline = t.now().Add(p.MaxWait)
				} else {
					deadline = first.Add(p.MaxWait - spanMargin)
				}
			}
			if gone, err = t.limit(ctx, req, deadline); err != nil {
				return nil, fmt.Errorf("giving up after %d attempt(s): %w", attempt-1, err)
			}
		}
		if p.Keys != nil {
			key = p.Keys(req, attempt, key, t.newUUID)
		}
		if counter != nil {
			counter.Add()
		}
		if attempt == 1 && p.RetryBudget > 0 {
			t.mu.Lock()
			t.tokens = min(t.tokens+p.RetryBudget, p.RetryBudgetBurst)
			t.mu.Unlock()
		}
		resp, sent, err := t.send(ctx, req, body, key)
		if err == nil && p.ReadBody {
			resp, err = readWhole(resp)
		}
		end := t.now()
		gone.answered(end)
		if attempt == 1 {
			first = sent
		} else if !governed {
			prevGap = sent.Sub(lastEnd)
		}
		if ctx.Err() != nil {
			if resp != nil {
				return resp, nil
			}
			return nil, fmt.Errorf("giving up after %d attempt(s): %w", attempt, err)
		}
		if !p.CheckRetry(resp, err) || attempt >= maxAttempts {
			return final(resp, err, attempt, "")
		}

		// When may the next attempt go?
		wait := p.Backoff(attempt, p.BaseDelay, p.MaxDelay, t.lockedRand())
		governed = false
		if p.HonorRetryAfter && resp != nil {
			if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), end); ok {
				wait, governed = d+p.RetryAfterMargin, true
			}
		}
		if !governed && p.GrowGaps && prevGap >= 0 && wait < prevGap+p.GapMargin {
			wait = prevGap + p.GapMargin
		}
		if p.MaxWait > 0 && end.Add(wait).After(first.Add(p.MaxWait-spanMargin)) {
			return final(resp, err, attempt, fmt.Sprintf("next retry in %v is past the %v wait cap", wait.Round(time.Millisecond), p.MaxWait))
		}
		if p.RetryBudget > 0 && !t.spendRetry() {
			return final(resp, err, attempt, "retry budget exhausted")
		}
		if t.limiter != nil && p.BlockOn429 && governed && resp.StatusCode == http.StatusTooManyRequests {
			t.limiter.block(req, end.Add(wait))
		}
		if resp != nil {
			drain(resp.Body)
		}
		next, lastEnd = end.Add(wait), end
	}
}

// spendRetry takes one token from the retry budget, and reports false when there is none.
func (t *Transport) spendRetry() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tokens < 1 {
		return false
	}
	t.tokens--
	return true
}

// lateWake is how late past its reserved instant an attempt may wake before its
// reservation is considered stale (see limit).
const lateWake = LimiterMargin / 2

// limit takes the next rate-limit slot for req from now, sleeps until it and lets the
// attempt go; the caller reports when the attempt was answered to the returned
// sentRequest. Slots are taken only when an attempt is otherwise ready to go, so a retry
// waiting out a long Retry-After never holds a slot that other operations could use.
//
// An attempt that wakes more than lateWake after its slot (the process was stalled: a GC
// pause, a starved CPU) takes a new slot from now instead: every attempt whose timer fired
// during the stall wakes at the same moment, and sending them all at once would put far
// more requests in one window than the limiter planned. After maxLateWakes such wake-ups
// in a row it goes at the next slot it is not refused.
//
// An attempt the limiter refuses at its slot because earlier requests reached the server
// later than planned (confirm) also takes a new slot. Either way the stale slot stays
// counted, which only makes the limiter more careful.
func (t *Transport) limit(ctx context.Context, req *http.Request, deadline time.Time) (*sentRequest, error) {
	var from time.Time // a refused attempt's next chance
	for late := 0; ; {
		now := t.now()
		at, ok := t.limiter.reserve(req, later(now, from), deadline)
		if !ok {
			return nil, fmt.Errorf("%w (next slot in %v)", ErrRateLimitWait, at.Sub(now).Round(time.Millisecond))
		}
		if err := t.sleep(ctx, at.Sub(now)); err != nil {
			return nil, err
		}
		woke := t.now()
		if woke.Sub(at) > lateWake && late < maxLateWakes-1 {
			late++
			continue
		}
		gone, retry, ok := t.limiter.confirm(req, woke)
		if ok {
			return gone, nil
		}
		from = retry
	}
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// maxLateWakes bounds the slots an attempt takes because it woke late (see limit).
const maxLateWakes = 4

// final returns an operation's last outcome; why says why no further attempt was made
// when it was not the policy's plain decision.
func final(resp *http.Response, err error, attempts int, why string) (*http.Response, error) {
	if err == nil {
		return resp, nil
	}
	if why != "" {
		return nil, fmt.Errorf("giving up after %d attempt(s) (%s): %w", attempts, why, err)
	}
	return nil, fmt.Errorf("giving up after %d attempt(s): %w", attempts, err)
}

// send makes one attempt. The request is a fresh clone carrying every header of req, the
// key (when not empty) and a private copy of the body. Its Body is never nil and it has
// no GetBody, which makes net/http treat it as not replayable: the transport will not
// re-send it by itself on a dead keep-alive connection, an attempt retrylab could not see.
//
// It also returns when the attempt went out: when its headers were written to the
// connection, the closest the client can see to when the server receives it (else, when
// the attempt started).
func (t *Transport) send(ctx context.Context, req *http.Request, body []byte, key string) (*http.Response, time.Time, error) {
	start := t.now()
	var wrote atomic.Int64 // ns since start, +1 so that 0 means "not written"
	actx, cancel := ctx, context.CancelFunc(func() {})
	if t.timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, t.timeout)
	}
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.CompareAndSwap(0, int64(t.now().Sub(start))+1) },
	})
	sentAt := func() time.Time {
		if w := wrote.Load(); w > 0 {
			return start.Add(time.Duration(w - 1))
		}
		return start
	}
	r := req.Clone(actx)
	r.GetBody = nil
	if len(body) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	} else {
		r.Body = emptyBody{}
		r.ContentLength = 0
	}
	if key != "" {
		r.Header.Set(IdempotencyKeyHeader, key)
	} else if t.policy.Keys != nil {
		r.Header.Del(IdempotencyKeyHeader)
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		cancel()
		return nil, sentAt(), err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, sentAt(), nil
}

// emptyBody is a non-nil empty request body (see send).
type emptyBody struct{}

func (emptyBody) Read([]byte) (int, error) { return 0, io.EOF }
func (emptyBody) Close() error             { return nil }

// cancelBody releases an attempt's context when its response body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// drainLimit bounds what is read from a response that is discarded before a retry, so the
// connection can be reused.
const drainLimit = 64 << 10

func drain(b io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, b, drainLimit)
	_ = b.Close()
}

// readBody reads and closes req.Body (RoundTrippers own it).
func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	return io.ReadAll(req.Body)
}

func (t *Transport) lockedRand() *rand.Rand {
	// Backoff functions get a source of their own, split from the client's seeded one, so
	// that they can use it without holding the client's lock.
	t.mu.Lock()
	defer t.mu.Unlock()
	return rand.New(rand.NewPCG(t.rnd.Uint64(), t.rnd.Uint64()))
}

// newUUID returns a version 4 UUID drawn from the client's seeded source.
func (t *Transport) newUUID() string {
	t.mu.Lock()
	a, b := t.rnd.Uint64(), t.rnd.Uint64()
	t.mu.Unlock()
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[:8], a)
	binary.BigEndian.PutUint64(u[8:], b)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

// ParseRetryAfter reads a Retry-After value as of now: delay-seconds ("12") or an
// HTTP-date. It reports false for an empty, negative, fractional or otherwise malformed
// value, and for delay-seconds past any 64-bit integer (as the proxy's journal does). A
// date in the past means no wait; delay-seconds beyond about 34 years saturate there.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false
		}
		return time.Duration(min(n, maxRetryAfterSeconds)) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(0, at.Sub(now)), true
}

// maxRetryAfterSeconds saturates large delay-seconds (about 34 years).
const maxRetryAfterSeconds = 1 << 30

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// maxResponseBody bounds what ReadBody holds in memory for one response.
const maxResponseBody = 16 << 20

// readWhole reads resp's body into memory; a body that ends early is an error.
func readWhole(resp *http.Response) (*http.Response, error) {
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	return resp, nil
}
