// Package proxy is retrylab's fault proxy: a reverse proxy in front of one configured
// target that, per request, applies the per-client rate limits, then the first matching
// fault rule, and journals every attempt.
//
// The request path is built on fasthttp (a Server and a HostClient) with no avoidable
// allocation per request; journal records are encoded by journal.Writer into a reused
// buffer and flushed off the request path. The admin API and /metrics use net/http on
// their own listener.
//
// Order of evaluation for each request:
//
//  1. Safety: CONNECT, absolute-form or authority-form request URIs and a Host header that
//     is not a loopback name are refused with 400; oversized headers get 431 and oversized
//     bodies 413. All are journaled with action "reject" and never forwarded.
//  2. Identity: the client is journal.HashKey of the API key (Authorization: Bearer, else
//     X-Api-Key); the operation is the op header (X-Retrylab-Op) or else a fingerprint of
//     client, method, path and body; the attempt is how often the proxy has seen that op.
//  3. Rate limits: every profile rate limit matching the request must admit it, else the
//     limiter answers 429 with a Retry-After taken from its exact state, and no rule runs.
//  4. Rules: the first enabled rule whose match, attempts, window/flap and probability all
//     hold decides the request with its fault; no match forwards it untouched.
package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/retrylab/retrylab/internal/fault"
	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
	"github.com/retrylab/retrylab/internal/ratelimit"
)

// Defaults of the proxy's limits.
const (
	DefaultMaxHeaderBytes = 16 << 10
	DefaultMaxBodyBytes   = 1 << 20
	// ShutdownGrace is how long cmd/faultproxy lets in-flight requests finish.
	ShutdownGrace = 5 * time.Second
)

// Rate limit header modes (profile.Proxy.RateLimitHeaders).
const (
	HeadersXRateLimit = "x-ratelimit"
	HeadersIETF       = "ietf"
	HeadersBoth       = "both"
	HeadersNone       = "none"
)

// Config configures a Proxy.
type Config struct {
	Target     string           // base URL of the upstream, e.g. "http://127.0.0.1:40123"
	Profile    *profile.Profile // rules (Faults), RateLimits, Proxy options, Clients; may be nil
	Journal    *journal.Writer  // nil = no journal
	Seed       int64
	Start      time.Time                        // origin of from/to/every windows; zero = when Serve is first called
	Now        func() time.Time                 // default time.Now
	Logf       func(format string, args ...any) // nil = silent
	AdminToken string
	OnReset    func() // called by POST /reset (e.g. target.Reset)
	// NoFastPath serves every connection with fasthttp. By default, on Linux, plain
	// pass-through requests (no fault rule enabled, no rate limit) are served by epoll
	// event loops and the rest by fasthttp (see fastpath_linux.go); both journal alike.
	NoFastPath bool
}

// Proxy is a running fault proxy. Create it with New, run it with Serve.
type Proxy struct {
	cfg        Config
	now        func() time.Time
	logf       func(string, ...any)
	targetHost []byte
	hc         *fasthttp.HostClient
	srv        *fasthttp.Server
	jw         *journal.Writer

	opHeader    string
	storeBodies bool
	rlHeaders   string
	clients     []profile.Client

	startMu sync.Mutex
	start   time.Time
	started atomic.Bool

	rulesMu sync.Mutex // serialises admin changes; readers use rules.Load
	rules   atomic.Pointer[[]*rule]

	limits     *ratelimit.Set
	limitMatch []matcher
	limitNames []string

	ops  *opTracker
	keys keyCache

	closing   chan struct{}
	closeOnce sync.Once

	handedMu   sync.Mutex // guards handed and handedDone
	handed     map[net.Conn]struct{}
	handedDone bool // Shutdown has closed the handed-back connections; take no more
	handedWG   sync.WaitGroup

	pool sync.Pool
	st   stats
	met  *metrics

	fastMu sync.Mutex
	fast   *fastPath // the event loops of the running Serve, if any
}

// New validates cfg and builds a Proxy; it does not listen yet.
func New(cfg Config) (*Proxy, error) {
	u, err := url.Parse(cfg.Target)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", cfg.Target, err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("target %q: want an http:// URL with a host", cfg.Target)
	}
	if !loopbackHost([]byte(u.Host)) {
		return nil, fmt.Errorf("target %q: the proxy forwards only to a loopback address (127.0.0.0/8, ::1, localhost)", cfg.Target)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("target %q: a base path is not supported", cfg.Target)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	p := &Proxy{
		cfg:        cfg,
		now:        cfg.Now,
		logf:       cfg.Logf,
		targetHost: []byte(u.Host),
		jw:         cfg.Journal,
		opHeader:   profile.DefaultOpHeader,
		rlHeaders:  HeadersXRateLimit,
		ops:        newOpTracker(),
		closing:    make(chan struct{}),
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.logf == nil {
		p.logf = func(string, ...any) {}
	}
	if !cfg.Start.IsZero() {
		p.start = cfg.Start
		p.started.Store(true)
	}
	maxHeader, maxBody := DefaultMaxHeaderBytes, DefaultMaxBodyBytes
	var faults []profile.Fault
	var limits []profile.RateLimit
	if pr := cfg.Profile; pr != nil {
		if pr.Proxy.OpHeader != "" {
			p.opHeader = pr.Proxy.OpHeader
		}
		switch h := strings.ToLower(pr.Proxy.RateLimitHeaders); h {
		case "":
		case HeadersXRateLimit, HeadersIETF, HeadersBoth, HeadersNone:
			p.rlHeaders = h
		default:
			return nil, fmt.Errorf("proxy.rate_limit_headers %q: want x-ratelimit, ietf, both or none", pr.Proxy.RateLimitHeaders)
		}
		p.storeBodies = pr.Proxy.StoreBodies
		if pr.Proxy.MaxHeaderBytes > 0 {
			maxHeader = pr.Proxy.MaxHeaderBytes
		}
		if pr.Proxy.MaxBodyBytes > 0 {
			maxBody = pr.Proxy.MaxBodyBytes
		}
		p.clients = pr.Clients
		faults, limits = pr.Faults, pr.RateLimits
	}
	rules := make([]*rule, 0, len(faults))
	seen := map[string]bool{}
	for i, f := range faults {
		if f.Name == "" {
			f.Name = fmt.Sprintf("%s-%d", f.Action, i+1)
		}
		if seen[f.Name] {
			return nil, fmt.Errorf("faults[%d]: duplicate rule name %q", i, f.Name)
		}
		seen[f.Name] = true
		r, err := compileRule(f, p.clients)
		if err != nil {
			return nil, fmt.Errorf("faults[%d]: %w", i, err)
		}
		rules = append(rules, r)
	}
	p.rules.Store(&rules)

	policies := make([]*ratelimit.Policy, 0, len(limits))
	for i, l := range limits {
		pol, err := ratelimit.NewPolicy(ratelimit.Config{Limit: l.Limit.PerSecond(), Window: l.Window.D(),
			Burst: l.Burst.PerSecond(), BurstDuration: l.BurstDuration.D()})
		if err != nil {
			return nil, fmt.Errorf("rate_limits[%d]: %w", i, err)
		}
		m, err := newMatcher(l.Method, l.Path, nil, "", nil)
		if err != nil {
			return nil, fmt.Errorf("rate_limits[%d]: %w", i, err)
		}
		name := l.Name
		if name == "" {
			name = fmt.Sprintf("limit-%d", i+1)
		}
		policies = append(policies, pol)
		p.limitMatch = append(p.limitMatch, m)
		p.limitNames = append(p.limitNames, name)
	}
	if p.limits, err = ratelimit.NewSet(policies); err != nil {
		return nil, fmt.Errorf("rate_limits: %w", err)
	}

	p.hc = &fasthttp.HostClient{
		Addr:                     addr,
		MaxConns:                 4096,
		ReadTimeout:              2 * time.Minute,
		WriteTimeout:             30 * time.Second,
		MaxIdleConnDuration:      30 * time.Second,
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true,
		MaxResponseBodySize:      64 << 20,
		SecureErrorLogMessage:    true,
		DialTimeout:              dialWait,
	}
	p.srv = &fasthttp.Server{
		Handler:               p.handle,
		ErrorHandler:          p.handleError,
		Name:                  "",
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		NoDefaultDate:         false,
		ReadBufferSize:        maxHeader,
		// Off so that a header error quotes the request it could not read, from which
		// handleError takes the request line for the journal. Error texts are never logged
		// (fasthttpLogger) nor journaled: they may quote credentials.
		SecureErrorLogMessage: false,
		MaxRequestBodySize:    maxBody,
		ReadTimeout:           2 * time.Minute,
		IdleTimeout:           2 * time.Minute,
		CloseOnShutdown:       true,
		KeepHijackedConns:     true, // faults close what they hijack; slow_body hands it back (serveConn)
		Logger:                fasthttpLogger{p},
	}
	p.pool.New = func() any { return &reqState{p: p} }
	p.met = newMetrics(p)
	return p, nil
}

// fasthttpLogger receives fasthttp's own connection errors. Their text quotes the bytes a
// client sent (a malformed "Authorization Bearer KEY" line, say), so only the kind of error
// is logged, never its arguments: API keys must not reach the logs.
type fasthttpLogger struct{ p *Proxy }

func (l fasthttpLogger) Printf(format string, _ ...any) {
	kind := format
	if i := strings.IndexAny(kind, "%:"); i >= 0 {
		kind = kind[:i]
	}
	l.p.logf("connection error (%s); details withheld, they may quote request bytes", strings.TrimSpace(kind))
}

// Serve accepts connections on ln until Shutdown; it returns nil after Shutdown.
func (p *Proxy) Serve(ln net.Listener) error {
	p.startMu.Lock()
	if !p.started.Load() {
		p.start = p.now()
		p.started.Store(true)
	}
	p.startMu.Unlock()
	if p.isClosing() {
		return nil
	}
	served, err := p.serveFast(ln)
	if !served {
		err = p.srv.Serve(waitListener{ln})
	}
	if p.isClosing() {
		return nil
	}
	if err != nil {
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	return nil
}

// isClosing reports whether Shutdown has begun.
func (p *Proxy) isClosing() bool {
	select {
	case <-p.closing:
		return true
	default:
		return false
	}
}

// Shutdown stops accepting, cuts short every delay, hang and slow body, and waits for the
// requests in flight to be answered and journaled, or for ctx to end. It does not close
// the journal.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.closeOnce.Do(func() { close(p.closing) })
	p.fastMu.Lock()
	fp := p.fast
	p.fastMu.Unlock()
	if fp != nil {
		// The event loops stop accepting, close idle connections and finish the requests
		// in flight, journaling them, before the journal may be closed.
		fp.shutdown()
		if !fp.wait(ctx.Done()) {
			return fmt.Errorf("shutdown: %w", ctx.Err())
		}
	}
	p.closeUnusedHanded()
	if err := p.srv.ShutdownWithContext(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := p.closeHanded(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	p.hc.CloseIdleConnections()
	return nil
}

// Start returns the origin of rule windows (zero before Serve when Config.Start was zero).
func (p *Proxy) Start() time.Time {
	p.startMu.Lock()
	defer p.startMu.Unlock()
	return p.start
}

// reqState is the per-request scratch space, pooled. It implements fault.Host.
type reqState struct {
	p      *Proxy
	rec    journal.Record
	x      fault.Exchange
	opBuf  []byte
	hashB  [16]byte
	status [3]byte
}

var _ fault.Host = (*reqState)(nil)

var _ fault.ConnServer = (*reqState)(nil)

// ServeConn implements fault.ConnServer. It runs after the request is finished and s
// recycled; it uses only s.p, which never changes.
func (s *reqState) ServeConn(c net.Conn) { s.p.serveConn(c) }

// Forward implements fault.Host.
func (s *reqState) Forward(x *fault.Exchange) error { return s.p.forward(x) }

// Wait implements fault.Host.
func (s *reqState) Wait(d time.Duration) bool { return s.p.wait(d) }

// Now implements fault.Host.
func (s *reqState) Now() time.Time { return s.p.now() }

func (p *Proxy) wait(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.closing:
		return false
	}
}

var (
	hdrAuthorization = "Authorization"
	hdrAPIKey        = "X-Api-Key"
	hdrIdemKey       = "Idempotency-Key"
	hdrRetryAfter    = "Retry-After"
	hdrExecuted      = "X-Retrylab-Executed"
	hdrReplayed      = "Idempotent-Replayed"
	bearer           = []byte("Bearer ")
	strTrue          = []byte("true")
)

// apiKey returns the request's API key: the Bearer token, else X-Api-Key.
func apiKey(h *fasthttp.RequestHeader) []byte {
	if a := h.Peek(hdrAuthorization); len(a) > len(bearer) && bytes.EqualFold(a[:len(bearer)], bearer) {
		return bytes.TrimSpace(a[len(bearer):])
	}
	return h.Peek(hdrAPIKey)
}

// hostile returns why a request must not be forwarded, or "".
func hostile(ctx *fasthttp.RequestCtx) string {
	if ctx.IsConnect() {
		return "CONNECT is not proxied"
	}
	uri := ctx.Request.Header.RequestURI()
	if len(uri) == 0 || uri[0] != '/' {
		if string(uri) == "*" && ctx.IsOptions() {
			return "OPTIONS * is not proxied"
		}
		return "request URI is not origin-form: the proxy forwards only to its target"
	}
	if len(uri) > 1 && uri[1] == '/' {
		return "request URI starts with //: the proxy forwards only to its target"
	}
	if !loopbackHost(ctx.Request.Header.Host()) {
		return "Host is not a loopback name: the proxy forwards only to its target"
	}
	return ""
}

// loopbackHost reports whether a Host header names a loopback address or localhost.
func loopbackHost(h []byte) bool {
	if len(h) == 0 {
		return false
	}
	host := b2s(h)
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return false
		}
		rest := host[end+1:]
		if rest != "" && !validPort(rest) {
			return false
		}
		host = host[1:end]
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 {
		if !validPort(host[i:]) {
			return false
		}
		host = host[:i]
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if host == "::1" {
		return true
	}
	// 127.0.0.0/8 in dotted form.
	if !strings.HasPrefix(host, "127.") {
		return false
	}
	parts, v, digits, start := 0, 0, 0, 0
	for i := 0; i <= len(host); i++ {
		if i == len(host) || host[i] == '.' {
			if digits == 0 || digits > 3 || v > 255 || (digits > 1 && host[start] == '0') {
				return false // empty, too long, too large, or a leading zero (octal to some parsers)
			}
			parts, v, digits, start = parts+1, 0, 0, i+1
			continue
		}
		c := host[i]
		if c < '0' || c > '9' {
			return false
		}
		v, digits = v*10+int(c-'0'), digits+1
	}
	return parts == 4
}

func validPort(s string) bool {
	if len(s) < 2 || s[0] != ':' || len(s) > 6 {
		return false
	}
	for _, c := range []byte(s[1:]) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (p *Proxy) mono(now time.Time) time.Duration {
	if !p.started.Load() {
		return 0
	}
	return now.Sub(p.start)
}

// handle is the request path.
func (p *Proxy) handle(ctx *fasthttp.RequestCtx) {
	s := p.pool.Get().(*reqState)
	now := p.now()
	rec := &s.rec
	*rec = journal.Record{Time: now.UnixNano(), Mono: int64(p.mono(now)), RetryAfterMs: journal.NoRetryAfter,
		Method: b2s(ctx.Method()), Path: b2s(ctx.Path())}
	s.x.Reset()
	s.x.Ctx, s.x.Host = ctx, s

	if why := hostile(ctx); why != "" {
		rec.Action, rec.Err = journal.ActionReject, why
		writeProxyError(ctx, fasthttp.StatusBadRequest, "bad_request", why)
		p.finish(ctx, s, now, fasthttp.StatusBadRequest)
		return
	}

	// Without a journal, what only the journal reads (idempotency key, body hash, Retry-After,
	// executed/replayed, duration, error text) is not computed; the decisions and the
	// counters (count) need only the client, the operation, its attempt, the rule, the
	// action and the status.
	journaling := p.jw != nil
	h := &ctx.Request.Header
	rec.Client = p.keys.hash(apiKey(h))
	body := ctx.Request.Body()
	if journaling {
		rec.IdemKey = b2s(h.Peek(hdrIdemKey))
		if len(body) > 0 {
			hex := appendHex64(s.hashB[:0], fnv64(body))
			rec.BodyHash = b2s(hex)
			if p.storeBodies {
				rec.Body = b2s(body)
			}
		}
	}
	op := h.Peek(p.opHeader)
	if len(op) == 0 {
		fp := fnvAdd(fnvOffset, []byte(rec.Client))
		fp = fnvAdd(fnvAdd(fp, []byte{0}), ctx.Method())
		fp = fnvAdd(fnvAdd(fp, []byte{0}), ctx.Path())
		fp = fnvAdd(fnvAdd(fp, []byte{0}), body)
		s.opBuf = appendHex64(append(s.opBuf[:0], "fp_"...), fp)
		op = s.opBuf
	}
	rec.Op = b2s(op)
	rec.Attempt = p.ops.next(op, now)

	// Rate limits come first: a limited request gets the limiter's 429 and no fault.
	var mask uint64
	for i := range p.limitMatch {
		if p.limitMatch[i].match(ctxRequest{ctx}, rec.Client) {
			mask |= 1 << uint(i)
		}
	}
	// The limiter runs on the wall clock as journaled (rec.Time), so analysis replaying
	// the journal through the same limiter reaches the same decisions.
	idx, d := p.limits.Allow(rec.Client, mask, time.Unix(0, rec.Time))
	if !d.Allowed {
		p.rateLimited(ctx, s, now, idx, d)
		return
	}

	t := p.mono(now)
	var chosen *rule
	for _, r := range *p.rules.Load() {
		if r.spec.Disabled || !r.attemptOK(rec.Attempt) || !r.active(t) || !r.m.match(ctxRequest{ctx}, rec.Client) {
			continue
		}
		rnd := decisionRand(p.cfg.Seed, op, rec.Attempt, r.salt)
		if r.prob < 1 && unitFloat(rnd) >= r.prob {
			continue
		}
		chosen = r
		s.x.Rand = mix(rnd)
		break
	}
	if chosen == nil {
		rec.Action = journal.ActionForward
		if err := p.forward(&s.x); err != nil {
			writeProxyError(ctx, fasthttp.StatusBadGateway, "bad_gateway", "upstream unreachable")
		}
	} else {
		rec.Rule, rec.Action = chosen.spec.Name, chosen.spec.Action
		chosen.f.Apply(&s.x)
	}
	x := &s.x
	status := x.Status
	if status == 0 {
		status = ctx.Response.StatusCode()
	}
	if x.NoResponse {
		if !(chosen != nil && (chosen.spec.Action == profile.FaultTruncate || chosen.spec.Action == profile.FaultSlowBody)) {
			status = 0
		}
	} else {
		ctx.Response.Header.ResetConnectionClose()
		if idx >= 0 {
			p.setLimitHeaders(&ctx.Response.Header, idx, d, now)
		}
		if journaling {
			rec.RetryAfterMs, rec.RetryAfter = fault.ParseRetryAfter(ctx.Response.Header.Peek(hdrRetryAfter), now)
		}
	}
	if journaling {
		rec.Err = x.Err
		if x.Forwarded {
			rec.UpstreamStatus = x.UpstreamStatus
			resp := &ctx.Response.Header
			rec.Replayed = bytes.Equal(resp.Peek(hdrReplayed), strTrue)
			if ex := resp.Peek(hdrExecuted); ex != nil {
				rec.Executed = bytes.Equal(ex, strTrue)
			} else {
				m := ctx.Method()
				rec.Executed = !rec.Replayed && x.UpstreamStatus >= 200 && x.UpstreamStatus < 300 &&
					string(m) != fasthttp.MethodGet && string(m) != fasthttp.MethodHead
			}
		}
	}
	p.finish(ctx, s, now, status)
}

// forward sends the request to the target; the answer lands in ctx.Response. Hop-by-hop
// headers are stripped both ways (see stripHopRequest).
func (p *Proxy) forward(x *fault.Exchange) error {
	ctx := x.Ctx
	req := &ctx.Request
	stripHopRequest(&req.Header)
	req.Header.ResetConnectionClose()
	req.SetHostBytes(p.targetHost)
	t0 := time.Now()
	err := p.hc.Do(req, &ctx.Response)
	p.met.upstream.Observe(time.Since(t0).Seconds())
	if err != nil {
		x.Err = "upstream: " + err.Error()
		return fmt.Errorf("forward to %s: %w", p.hc.Addr, err)
	}
	stripHopResponse(&ctx.Response.Header)
	x.Forwarded = true
	x.UpstreamStatus = ctx.Response.StatusCode()
	return nil
}

// rateLimited answers the limiter's 429.
func (p *Proxy) rateLimited(ctx *fasthttp.RequestCtx, s *reqState, now time.Time, idx int, d ratelimit.Decision) {
	rec := &s.rec
	wait := d.RetryAt.Sub(now)
	if wait < 0 {
		wait = 0
	}
	secs := int64((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	rec.Rule, rec.Action = p.limitNames[idx], journal.ActionRateLimit
	rec.RetryAfterMs = int64((wait + time.Millisecond - 1) / time.Millisecond)
	resp := &ctx.Response
	resp.Reset()
	resp.SetStatusCode(fasthttp.StatusTooManyRequests)
	resp.Header.SetContentType("application/json")
	var b [20]byte
	resp.Header.SetBytesV(hdrRetryAfter, appendInt(b[:0], secs))
	p.setLimitHeaders(&resp.Header, idx, d, now)
	body := resp.Body()[:0]
	body = append(body, `{"error":{"code":"rate_limited","message":"Rate limit exceeded, retry after `...)
	body = appendInt(body, secs)
	body = append(body, ` s","request_id":"req_`...)
	body = appendHex64(body, decisionRand(p.cfg.Seed, []byte(rec.Op), rec.Attempt, 0))
	body = append(body, "\"}}\n"...)
	resp.SetBodyRaw(body)
	p.finish(ctx, s, now, fasthttp.StatusTooManyRequests)
}

func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// setLimitHeaders writes the rate limit headers of decision d of policy idx.
func (p *Proxy) setLimitHeaders(h *fasthttp.ResponseHeader, idx int, d ratelimit.Decision, now time.Time) {
	if p.rlHeaders == HeadersNone {
		return
	}
	var b [64]byte
	if p.rlHeaders == HeadersXRateLimit || p.rlHeaders == HeadersBoth {
		h.SetBytesV("X-RateLimit-Limit", appendInt(b[:0], int64(d.Limit)))
		h.SetBytesV("X-RateLimit-Remaining", appendInt(b[:0], int64(d.Remaining)))
		reset := d.Reset.Unix()
		if d.Reset.Nanosecond() != 0 {
			reset++
		}
		h.SetBytesV("X-RateLimit-Reset", appendInt(b[:0], reset))
	}
	if p.rlHeaders == HeadersIETF || p.rlHeaders == HeadersBoth {
		name := p.limitNames[idx]
		pol := p.limits.Policies()[idx]
		w := int64((pol.Window() + time.Second - 1) / time.Second)
		v := append(b[:0], '"')
		v = append(v, name...)
		v = append(v, `";q=`...)
		v = appendInt(v, int64(pol.Limit()))
		v = append(v, ";w="...)
		v = appendInt(v, w)
		h.SetBytesV("RateLimit-Policy", v)
		t := d.Reset.Sub(now)
		secs := int64((t + time.Second - 1) / time.Second)
		v = append(b[:0], '"')
		v = append(v, name...)
		v = append(v, `";r=`...)
		v = appendInt(v, int64(d.Remaining))
		v = append(v, ";t="...)
		v = appendInt(v, max(0, secs))
		h.SetBytesV("RateLimit", v)
	}
}

// writeProxyError answers with the proxy's own error in the seed000 shape.
func writeProxyError(ctx *fasthttp.RequestCtx, status int, code, msg string) {
	resp := &ctx.Response
	resp.Reset()
	resp.SetStatusCode(status)
	resp.Header.SetContentType("application/json")
	body := resp.Body()[:0]
	body = append(body, `{"error":{"code":"`...)
	body = append(body, code...)
	body = append(body, `","message":"`...)
	body = append(body, msg...)
	body = append(body, "\"}}\n"...)
	resp.SetBodyRaw(body)
}

// finish journals the attempt, counts it and recycles s.
func (p *Proxy) finish(ctx *fasthttp.RequestCtx, s *reqState, start time.Time, status int) {
	rec := &s.rec
	rec.Status = status
	if p.jw != nil {
		rec.DurNs = int64(p.now().Sub(start))
		if err := p.jw.Write(rec); err != nil {
			p.st.journalErrors.Add(1)
			if p.st.journalErrors.Load() == 1 {
				p.logf("journal: %v", err)
			}
		}
	}
	p.count(rec)
	s.x.Ctx = nil
	*rec = journal.Record{}
	p.pool.Put(s)
}

// handleError journals and answers the requests fasthttp could not read: too large
// headers (431), too large bodies (413), malformed requests (400).
func (p *Proxy) handleError(ctx *fasthttp.RequestCtx, err error) {
	s := p.pool.Get().(*reqState)
	now := p.now()
	rec := &s.rec
	*rec = journal.Record{Time: now.UnixNano(), Mono: int64(p.mono(now)), RetryAfterMs: journal.NoRetryAfter,
		Action: journal.ActionReject}
	rec.Method, rec.Path = rejectedRequestLine(ctx, err)
	// The journal gets a fixed reason: fasthttp's error text may quote the request's
	// headers, and with them its credentials.
	status, code, why := fasthttp.StatusBadRequest, "bad_request", "malformed request"
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		status, code, why = fasthttp.StatusRequestHeaderFieldsTooLarge, "header_too_large", "request header larger than the limit"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status, code, why = fasthttp.StatusRequestEntityTooLarge, "payload_too_large", "request body larger than the limit"
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			status, code, why = fasthttp.StatusRequestTimeout, "request_timeout", "request not read in time"
		}
	}
	rec.Err = why
	writeProxyError(ctx, status, code, fasthttp.StatusMessage(status))
	ctx.SetConnectionClose()
	s.x.Ctx = ctx
	p.finish(ctx, s, now, status)
}

// rejectedRequestLine returns the method and origin-form path (without the query) of a
// request fasthttp could not read, "" for what cannot be read from its request line. After
// an error in the body (too large, too slow) the parsed header has them. After an error in
// the header fasthttp has reset the header, whose method and URI then read as its defaults
// (GET, /); the request line is taken instead from the buffered request the error quotes.
func rejectedRequestLine(ctx *fasthttp.RequestCtx, err error) (method, path string) {
	var small *fasthttp.ErrSmallBuffer
	if !errors.As(err, &small) && !strings.HasPrefix(err.Error(), "error when reading request headers") {
		h := &ctx.Request.Header
		return b2s(h.Method()), originPath(h.RequestURI())
	}
	line, ok := quotedRequestLine(err.Error())
	if !ok {
		return "", ""
	}
	m, target, ok := splitRequestLine(line)
	if !ok {
		return "", ""
	}
	return m, originPath([]byte(target))
}

// originPath returns the path of an origin-form request target, "" for any other form.
func originPath(u []byte) string {
	if len(u) == 0 || u[0] != '/' {
		return ""
	}
	if i := bytes.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	return b2s(u)
}

// quotedRequestLine returns the first line of the request bytes a fasthttp header error
// quotes ("..., buffer size=N, contents: %q"), and false when the error quotes none or the
// quote does not hold the whole line (fasthttp quotes the first 200 bytes of a longer
// buffer). Quoted text cannot contain the unescaped `, contents: "` searched for, so the
// last one is fasthttp's own.
func quotedRequestLine(msg string) (string, bool) {
	const marker = `, contents: `
	i := strings.LastIndex(msg, marker+`"`)
	if i < 0 {
		return "", false
	}
	q, err := strconv.QuotedPrefix(msg[i+len(marker):])
	if err != nil {
		return "", false
	}
	data, err := strconv.Unquote(q)
	if err != nil {
		return "", false
	}
	// fasthttp skips empty lines before a request line, as RFC 9112 §2.2 allows.
	line, _, ok := strings.Cut(strings.TrimLeft(data, "\r\n"), "\n")
	if !ok {
		return "", false
	}
	return strings.TrimSuffix(line, "\r"), true
}

// splitRequestLine splits "METHOD SP request-target SP HTTP-version".
func splitRequestLine(line string) (method, target string, ok bool) {
	method, rest, ok1 := strings.Cut(line, " ")
	target, version, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || method == "" || target == "" || !strings.HasPrefix(version, "HTTP/") {
		return "", "", false
	}
	for _, c := range []byte(method) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return "", "", false
		}
	}
	return method, target, true
}
