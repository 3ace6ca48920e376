package profile

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ReferencePolicies are the built-in reference clients (internal/client).
var ReferencePolicies = []string{
	"compliant", "naive", "no-jitter", "ignores-retry-after",
	"new-key-per-retry", "retries-4xx", "unbounded", "no-retry",
}

// FaultActions are the fault kinds the proxy implements.
var FaultActions = []string{
	FaultRespond, FaultLoseResponse, FaultDelay, FaultReset, FaultHang, FaultTruncate, FaultSlowBody,
}

// actionFields lists, per action, the action-specific fields it accepts.
var actionFields = map[string][]string{
	FaultRespond:      {"status", "retry_after", "retry_after_form", "body"},
	FaultLoseResponse: {"status", "reset", "retry_after", "retry_after_form"},
	FaultDelay:        {"delay", "delay_max", "when"},
	FaultReset:        {},
	FaultHang:         {"hang_for"},
	FaultTruncate:     {"bytes"},
	FaultSlowBody:     {"bytes", "interval"},
}

// DefaultClientKey is the API key used when a profile lists no clients.
const DefaultClientKey = "rl_test_key_default"

// ApplyDefaults fills zero fields with the seeds' defaults. Load calls it; code that builds a
// Profile by hand calls it before use.
func (p *Profile) ApplyDefaults() {
	if p.Version == 0 {
		p.Version = 1
	}
	if p.Name == "" && p.Path != "" {
		p.Name = p.DefaultName()
	}
	if p.Target == "" {
		p.Target = "builtin"
	}
	b := &p.Builtin
	if b.Latency == 0 {
		b.Latency = Duration(time.Millisecond)
	}
	if b.Idempotency == "" {
		b.Idempotency = "replay-success"
	}
	if b.IdempotencyTTL == 0 {
		b.IdempotencyTTL = Duration(DefaultIdempotencyTTL)
	}
	l := &p.Load
	if l.Shape == "" {
		l.Shape = ShapeConstant
	}
	if l.Workers == 0 {
		l.Workers = 10
	}
	if l.MaxWorkers == 0 {
		l.MaxWorkers = 1000
	}
	if len(p.Clients) == 0 {
		p.Clients = []Client{{Name: "default", Key: DefaultClientKey}}
	}
	for i := range p.Clients {
		c := &p.Clients[i]
		if c.Name == "" {
			c.Name = fmt.Sprintf("client-%d", i+1)
		}
		if c.Weight == 0 {
			c.Weight = 1
		}
	}
	if len(p.Endpoints) == 0 {
		p.Endpoints = []Endpoint{{Name: "create_call", Method: "POST", Path: "/v1/calls",
			Body: `{"to_number":"+15550100000","agent_id":"agent_{{seq}}"}`}}
	}
	for i := range p.Endpoints {
		e := &p.Endpoints[i]
		if e.Method == "" {
			e.Method = "GET"
		}
		e.Method = strings.ToUpper(e.Method)
		if e.Name == "" {
			e.Name = strings.ToLower(e.Method) + " " + e.Path
		}
		if e.Weight == 0 {
			e.Weight = 1
		}
	}
	c := &p.Client
	if c.Kind == "" {
		c.Kind = KindReference
	}
	if c.Kind == KindReference && c.Policy == "" {
		c.Policy = "compliant"
	}
	if c.Timeout == 0 {
		c.Timeout = Duration(DefaultTimeout)
	}
	px := &p.Proxy
	if px.RateLimitHeaders == "" {
		px.RateLimitHeaders = "x-ratelimit"
	}
	if px.MaxHeaderBytes == 0 {
		px.MaxHeaderBytes = 16 << 10
	}
	if px.MaxBodyBytes == 0 {
		px.MaxBodyBytes = 1 << 20
	}
	if px.OpHeader == "" {
		px.OpHeader = DefaultOpHeader
	}
	for i := range p.RateLimits {
		r := &p.RateLimits[i]
		if r.Name == "" {
			r.Name = fmt.Sprintf("limit-%d", i+1)
		}
		if r.Window == 0 {
			r.Window = Duration(time.Second)
		}
		if r.Burst == 0 {
			r.Burst = r.Limit
		}
		r.Method = strings.ToUpper(r.Method)
	}
	for i := range p.Faults {
		p.Faults[i].applyDefaults(i)
	}
	p.applyAnalysisDefaults()
}

// applyDefaults fills the zero fields of the i-th fault rule.
func (f *Fault) applyDefaults(i int) {
	if f.Name == "" {
		f.Name = fmt.Sprintf("%s-%d", f.Action, i+1)
	}
	f.Match.Method = strings.ToUpper(f.Match.Method)
	{
		switch f.Action {
		case FaultRespond:
			if f.Body == "" {
				f.Body = "seed000"
			}
		case FaultLoseResponse:
			if f.Status == 0 && !f.Reset {
				f.Status = 502
			}
		case FaultDelay:
			if f.When == "" {
				f.When = "before"
			}
		case FaultHang:
			if f.HangFor == 0 {
				f.HangFor = Duration(DefaultHangFor)
			}
		}
		if (f.RetryAfter > 0 || f.RetryAfterForm != "") && f.RetryAfterForm == "" {
			f.RetryAfterForm = RAFormSeconds
		}
	}
}

func (p *Profile) applyAnalysisDefaults() {
	a := &p.Analysis
	if a.Correlation == "" {
		a.Correlation = CorrelateHeader
	}
	if a.MaxAttempts == 0 {
		a.MaxAttempts = DefaultMaxAttempts
	}
	if a.MaxRetrySpan == 0 {
		a.MaxRetrySpan = Duration(DefaultMaxRetrySpan)
	}
	if a.NonRetryable == nil {
		a.NonRetryable = slices.Clone(DefaultNonRetryable)
	}
	if a.RetryAfterScope == "" {
		a.RetryAfterScope = "operation"
	}
	if a.RateLimitTransit == 0 {
		a.RateLimitTransit = Duration(DefaultRateLimitTransit)
	}
	if a.RetryAfterTolerance == 0 {
		a.RetryAfterTolerance = Duration(DefaultRetryAfterTolerance)
	}
	if a.MinBackoff == 0 {
		a.MinBackoff = Duration(DefaultMinBackoff)
	}
	if a.BackoffTolerance == 0 {
		a.BackoffTolerance = Duration(DefaultBackoffTolerance)
	}
	if a.JitterMinSamples == 0 {
		a.JitterMinSamples = DefaultJitterMinSamples
	}
	if a.JitterMinSpread == 0 {
		a.JitterMinSpread = Duration(DefaultJitterMinSpread)
	}
	if a.Amplification == 0 {
		a.Amplification = DefaultAmplification
	}
}

// problems collects validation findings.
type problems []*FieldError

func (ps *problems) add(field, format string, args ...any) {
	*ps = append(*ps, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

var (
	methodRe = regexp.MustCompile(`^[A-Z]+$`)
	headerRe = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")
)

// Validate checks an already-defaulted profile (one built in code); Load does it itself.
func (p *Profile) Validate() error {
	probs := p.validate()
	if len(probs) == 0 {
		return nil
	}
	for _, pr := range probs {
		pr.File = p.Path
		if pr.Line == 0 && p.lines != nil {
			pr.Line = (&index{lines: p.lines}).lineOf(pr.Field)
		}
	}
	return &Error{Problems: probs}
}

func (p *Profile) validate() []*FieldError {
	var ps problems
	if p.Version != 1 {
		ps.add("version", "unsupported version %d (this retrylab reads version 1)", p.Version)
	}
	if p.Duration <= 0 && !p.rulesOnly {
		ps.add("duration", "required: how long the load runs, e.g. 20s")
	}
	if p.Target != "builtin" {
		if err := loopbackURL(p.Target); err != nil {
			ps.add("target", "%v (want builtin or an http:// URL on loopback)", err)
		}
	}
	switch p.Builtin.Idempotency {
	case "replay-success", "replay-all":
	default:
		ps.add("builtin.idempotency", "%q is not replay-success or replay-all", p.Builtin.Idempotency)
	}
	if !p.rulesOnly || p.Load.Rate > 0 || p.Load.Shape != ShapeConstant {
		p.validateLoad(&ps)
	}

	keys := map[string]bool{}
	names := map[string]bool{}
	var wsum float64
	for i, c := range p.Clients {
		f := fmt.Sprintf("clients[%d]", i)
		if c.Key == "" {
			ps.add(f+".key", "required: the API key this client sends")
		} else if keys[c.Key] {
			ps.add(f+".key", "duplicate key (each client is one API key)")
		}
		keys[c.Key] = true
		if names[c.Name] {
			ps.add(f+".name", "duplicate client name %q", c.Name)
		}
		names[c.Name] = true
		if c.Weight < 0 {
			ps.add(f+".weight", "%v is negative", c.Weight)
		}
		wsum += c.Weight
	}
	if wsum <= 0 {
		ps.add("clients", "weights add up to 0")
	}
	wsum = 0
	for i, e := range p.Endpoints {
		f := fmt.Sprintf("endpoints[%d]", i)
		if !validMethod(e.Method) {
			ps.add(f+".method", "%q is not an HTTP method", e.Method)
		}
		if !strings.HasPrefix(e.Path, "/") {
			ps.add(f+".path", "%q must start with /", e.Path)
		}
		if e.Weight < 0 {
			ps.add(f+".weight", "%v is negative", e.Weight)
		}
		for h := range e.Headers {
			if !headerRe.MatchString(h) {
				ps.add(f+".headers."+h, "%q is not a valid header name", h)
			}
		}
		wsum += e.Weight
	}
	if wsum <= 0 {
		ps.add("endpoints", "weights add up to 0")
	}
	p.validateClient(&ps)

	switch p.Proxy.RateLimitHeaders {
	case "x-ratelimit", "ietf", "both", "none":
	default:
		ps.add("proxy.rate_limit_headers", "%q is not x-ratelimit, ietf, both or none", p.Proxy.RateLimitHeaders)
	}
	if p.Proxy.Listen != "" {
		if err := loopbackHostPort(p.Proxy.Listen); err != nil {
			ps.add("proxy.listen", "%v", err)
		}
	}
	if p.Proxy.MaxHeaderBytes < 0 {
		ps.add("proxy.max_header_bytes", "%d is negative", p.Proxy.MaxHeaderBytes)
	}
	if p.Proxy.MaxBodyBytes < 0 {
		ps.add("proxy.max_body_bytes", "%d is negative", p.Proxy.MaxBodyBytes)
	}
	if !headerRe.MatchString(p.Proxy.OpHeader) {
		ps.add("proxy.op_header", "%q is not a valid header name", p.Proxy.OpHeader)
	}

	for i, r := range p.RateLimits {
		f := fmt.Sprintf("rate_limits[%d]", i)
		if r.Limit <= 0 {
			ps.add(f+".limit", "required: a positive rate, e.g. 100/s")
		}
		if r.Burst < r.Limit {
			ps.add(f+".burst", "%v is below the limit %v", r.Burst, r.Limit)
		}
		if r.Burst > r.Limit && r.BurstDuration <= 0 {
			ps.add(f+".burst_duration", "required when burst > limit: how long a burst may last, e.g. 10s")
		}
		if r.Method != "" && !validMethod(r.Method) {
			ps.add(f+".method", "%q is not an HTTP method", r.Method)
		}
		if r.Path != "" {
			if err := validPathPattern(r.Path); err != nil {
				ps.add(f+".path", "%v", err)
			}
		}
	}

	faultNames := map[string]bool{}
	for i := range p.Faults {
		p.validateFault(&ps, i, faultNames)
	}
	a := p.Analysis
	switch a.Correlation {
	case CorrelateHeader, CorrelateFingerprint, CorrelateIdemKey:
	default:
		ps.add("analysis.correlation", "%q is not header, fingerprint or idempotency_key", a.Correlation)
	}
	if a.MaxAttempts < 1 {
		ps.add("analysis.max_attempts", "%d: want at least 1", a.MaxAttempts)
	}
	for j, s := range a.NonRetryable {
		if s < 100 || s > 599 {
			ps.add(fmt.Sprintf("analysis.non_retryable[%d]", j), "%d is not an HTTP status (100-599)", s)
		}
	}
	switch a.RetryAfterScope {
	case "operation", "client":
	default:
		ps.add("analysis.retry_after_scope", "%q is not operation or client", a.RetryAfterScope)
	}
	if a.JitterMinSamples < 2 {
		ps.add("analysis.jitter_min_samples", "%d: want at least 2", a.JitterMinSamples)
	}
	if a.Amplification < 1 {
		ps.add("analysis.amplification", "%v: want at least 1 attempt per operation", a.Amplification)
	}
	if a.RateLimitTolerance < 0 {
		ps.add("analysis.rate_limit_tolerance", "%v is negative", a.RateLimitTolerance)
	}
	for i, t := range p.Thresholds {
		if ThresholdParser == nil {
			break
		}
		if err := ThresholdParser(t); err != nil {
			ps.add(fmt.Sprintf("thresholds[%d]", i), "%v", err)
		}
	}
	return ps
}

func (p *Profile) validateLoad(ps *problems) {
	l := p.Load
	switch l.Shape {
	case ShapeConstant:
		if l.Rate <= 0 {
			ps.add("load.rate", "required: a positive rate, e.g. 50/s")
		}
	case ShapeRamp:
		if l.From <= 0 && l.To <= 0 {
			ps.add("load.to", "ramp needs from and to, e.g. from: 10/s, to: 200/s")
		}
	case ShapeStep:
		if len(l.Steps) == 0 {
			ps.add("load.steps", "step needs steps, e.g. [\"50/s for 5s\", \"100/s for 5s\"]")
		}
		for i, s := range l.Steps {
			if s.Duration <= 0 {
				ps.add(fmt.Sprintf("load.steps[%d]", i), "a step needs a positive duration")
			}
		}
	case ShapeSine:
		if l.Rate <= 0 {
			ps.add("load.rate", "sine needs rate (the mean), e.g. 100/s")
		}
		if l.Amplitude <= 0 || l.Amplitude > l.Rate {
			ps.add("load.amplitude", "want a rate in (0, rate]")
		}
		if l.Period <= 0 {
			ps.add("load.period", "sine needs a period, e.g. 10s")
		}
	case ShapeBurst:
		if l.Rate <= 0 {
			ps.add("load.rate", "burst needs rate (the base rate), e.g. 100/s")
		}
		if l.BurstRate <= l.Rate {
			ps.add("load.burst_rate", "want a rate above the base rate %v", l.Rate)
		}
		if l.BurstDuration <= 0 {
			ps.add("load.burst_duration", "burst needs burst_duration, e.g. 10s")
		}
		if l.BurstEvery <= l.BurstDuration {
			ps.add("load.burst_every", "want a period longer than burst_duration")
		}
	default:
		ps.add("load.shape", "%q is not constant, ramp, step, sine or burst", l.Shape)
	}
	if l.Workers < 0 {
		ps.add("load.workers", "%d is negative", l.Workers)
	}
	if l.MaxWorkers < l.Workers {
		ps.add("load.max_workers", "%d is below workers %d", l.MaxWorkers, l.Workers)
	}
}

func (p *Profile) validateClient(ps *problems) {
	c := p.Client
	switch c.Kind {
	case KindReference:
		if !slices.Contains(ReferencePolicies, c.Policy) {
			ps.add("client.policy", "%q is not a reference client (one of %s)", c.Policy, strings.Join(ReferencePolicies, ", "))
		}
	case KindService:
		if c.URL == "" {
			ps.add("client.url", "required for kind service: the URL of your service that loadgen drives")
		} else if err := loopbackURL(c.URL); err != nil {
			ps.add("client.url", "%v", err)
		}
	case KindGo:
	default:
		ps.add("client.kind", "%q is not reference, service or go", c.Kind)
	}
	if c.MaxAttempts < 0 {
		ps.add("client.max_attempts", "%d is negative", c.MaxAttempts)
	}
	if c.MaxDelay > 0 && c.BaseDelay > c.MaxDelay {
		ps.add("client.base_delay", "%v is above max_delay %v", c.BaseDelay, c.MaxDelay)
	}
}

// CheckFault defaults and validates one fault rule on its own, as a profile's faults[] entry
// would be (the admin API adds rules at run time); clients are the profile's, for
// match.client. The error names the rule's fields as "rule.FIELD".
func CheckFault(f *Fault, clients []Client, index int) error {
	q := &Profile{Clients: clients, Faults: []Fault{*f}}
	q.Faults[0].applyDefaults(index)
	var ps problems
	q.validateFault(&ps, 0, map[string]bool{})
	if len(ps) > 0 {
		for _, pr := range ps {
			pr.Field = "rule" + strings.TrimPrefix(pr.Field, "faults[0]")
		}
		return &Error{Problems: ps}
	}
	*f = q.Faults[0]
	return nil
}

func (p *Profile) validateFault(ps *problems, i int, names map[string]bool) {
	f := p.Faults[i]
	fp := fmt.Sprintf("faults[%d]", i)
	if names[f.Name] {
		ps.add(fp+".name", "duplicate rule name %q", f.Name)
	}
	names[f.Name] = true
	allowed, ok := actionFields[f.Action]
	if !ok {
		if f.Action == "" {
			ps.add(fp+".action", "required: one of %s", strings.Join(FaultActions, ", "))
		} else {
			ps.add(fp+".action", "%q is not one of %s", f.Action, strings.Join(FaultActions, ", "))
		}
		return
	}
	// Action-specific fields given to an action that does not use them.
	set := map[string]bool{
		"status": f.Status != 0, "retry_after": f.RetryAfter != 0, "retry_after_form": f.RetryAfterForm != "",
		"body": f.Body != "", "reset": f.Reset, "delay": f.Delay != 0, "delay_max": f.DelayMax != 0,
		"when": f.When != "", "hang_for": f.HangFor != 0, "bytes": f.Bytes != 0, "interval": f.Interval != 0,
	}
	for _, name := range []string{"status", "retry_after", "retry_after_form", "body", "reset", "delay", "delay_max", "when", "hang_for", "bytes", "interval"} {
		if set[name] && !slices.Contains(allowed, name) {
			ps.add(fp+"."+name, "not used by action %s", f.Action)
		}
	}
	if f.Match.Method != "" && !validMethod(f.Match.Method) {
		ps.add(fp+".match.method", "%q is not an HTTP method", f.Match.Method)
	}
	if f.Match.Path != "" {
		if err := validPathPattern(f.Match.Path); err != nil {
			ps.add(fp+".match.path", "%v", err)
		}
	}
	for h := range f.Match.Headers {
		if !headerRe.MatchString(h) {
			ps.add(fp+".match.headers."+h, "%q is not a valid header name", h)
		}
	}
	if c := f.Match.Client; c != "" && !slices.ContainsFunc(p.Clients, func(cl Client) bool { return cl.Name == c || cl.Key == c }) {
		ps.add(fp+".match.client", "%q is not a client name or key listed in clients", c)
	}
	for j, a := range f.Attempts {
		if a < 1 {
			ps.add(fmt.Sprintf("%s.attempts[%d]", fp, j), "%d: attempts count from 1", a)
		}
	}
	if f.To != 0 && f.To <= f.From {
		ps.add(fp+".to", "%v is not after from %v", f.To, f.From)
	}
	if (f.Every == 0) != (f.For == 0) {
		ps.add(fp+".every", "every and for go together (active for `for` at the start of every `every`)")
	} else if f.Every != 0 && f.For >= f.Every {
		ps.add(fp+".for", "%v must be shorter than every %v", f.For, f.Every)
	}
	switch f.Action {
	case FaultRespond:
		if f.Status < 100 || f.Status > 599 {
			if f.Status == 0 {
				ps.add(fp+".status", "required for respond: the status to answer, e.g. 503")
			} else {
				ps.add(fp+".status", "%d is not an HTTP status (100-599)", f.Status)
			}
		}
		switch f.Body {
		case "seed000", "seed002", "plain", "empty":
		default:
			ps.add(fp+".body", "%q is not seed000, seed002, plain or empty", f.Body)
		}
	case FaultLoseResponse:
		if f.Reset && f.Status != 0 {
			ps.add(fp+".status", "a lost response is either a status (502/504) or a reset, not both")
		} else if !f.Reset && f.Status != 502 && f.Status != 504 && f.Status != 500 && f.Status != 503 {
			ps.add(fp+".status", "%d: a lost response is answered 500, 502, 503 or 504", f.Status)
		}
	case FaultDelay:
		if f.Delay <= 0 {
			ps.add(fp+".delay", "required for delay, e.g. 200ms")
		}
		if f.DelayMax != 0 && f.DelayMax < f.Delay {
			ps.add(fp+".delay_max", "%v is below delay %v", f.DelayMax, f.Delay)
		}
		if f.When != "before" && f.When != "after" {
			ps.add(fp+".when", "%q is not before or after", f.When)
		}
	case FaultTruncate:
		if f.Bytes < 0 {
			ps.add(fp+".bytes", "%d is negative", f.Bytes)
		}
	case FaultSlowBody:
		if f.Bytes <= 0 {
			ps.add(fp+".bytes", "required for slow_body: bytes per chunk")
		}
		if f.Interval <= 0 {
			ps.add(fp+".interval", "required for slow_body: pause between chunks, e.g. 100ms")
		}
	}
	if f.RetryAfterForm != "" {
		switch f.RetryAfterForm {
		case RAFormSeconds, RAFormHTTPDate:
			if f.RetryAfter == 0 && f.RetryAfterForm == RAFormHTTPDate {
				ps.add(fp+".retry_after", "required with retry_after_form http-date")
			}
		case RAFormEmpty, RAFormNegative, RAFormGarbage, RAFormHuge:
		default:
			ps.add(fp+".retry_after_form", "%q is not seconds, http-date, empty, negative, garbage or huge", f.RetryAfterForm)
		}
	}
}

func validMethod(m string) bool {
	return methodRe.MatchString(m) && m != "CONNECT"
}

func validPathPattern(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q must start with /", p)
	}
	if strings.ContainsAny(p, "*?[") {
		if _, err := path.Match(p, "/"); err != nil {
			return fmt.Errorf("%q is not a valid glob: %v", p, err)
		}
	}
	return nil
}

func loopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("%q is not a URL", raw)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("%q: scheme must be http (the proxy speaks plain HTTP to its target)", raw)
	}
	return loopbackHost(u.Hostname())
}

func loopbackHostPort(hp string) error {
	host, _, err := net.SplitHostPort(hp)
	if err != nil {
		return fmt.Errorf("%q is not host:port", hp)
	}
	return loopbackHost(host)
}

func loopbackHost(host string) error {
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address: retrylab only sends traffic to 127.0.0.0/8 and ::1", host)
	}
	return nil
}

// fieldsOf returns the YAML field names of the struct at a dotted path ("" = the profile,
// "faults[0].match" = Match).
func fieldsOf(p string) []string {
	t := reflect.TypeOf(Profile{})
	if p != "" {
		for _, seg := range strings.Split(p, ".") {
			if i := strings.IndexByte(seg, '['); i >= 0 {
				seg = seg[:i]
			}
			ft, ok := fieldType(t, seg)
			if !ok {
				return nil
			}
			t = ft
			for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer || t.Kind() == reflect.Map {
				t = t.Elem()
			}
		}
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
			names = append(names, tag)
		}
	}
	return names
}

func fieldType(t reflect.Type, name string) (reflect.Type, bool) {
	if t.Kind() != reflect.Struct {
		return nil, false
	}
	for i := 0; i < t.NumField(); i++ {
		if strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0] == name {
			return t.Field(i).Type, true
		}
	}
	return nil, false
}
