package proxy

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gopkg.in/yaml.v3"

	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
)

// Stats are the proxy's counters since it was created.
type Stats struct {
	Requests    int64            `json:"requests"`     // every attempt seen, rejected ones included
	Forwarded   int64            `json:"forwarded"`    // attempts passed to the target untouched (action forward)
	Faults      int64            `json:"faults"`       // attempts decided by a fault rule
	RateLimited int64            `json:"rate_limited"` // attempts answered 429 by the limiter
	Rejected    int64            `json:"rejected"`     // hostile or oversized requests refused
	ByAction    map[string]int64 `json:"by_action"`    // attempts per journal action
}

var actions = [...]string{
	journal.ActionForward, journal.ActionRespond, journal.ActionLoseResponse, journal.ActionDelay,
	journal.ActionReset, journal.ActionHang, journal.ActionTruncate, journal.ActionSlowBody,
	journal.ActionRateLimit, journal.ActionReject,
}

func actionIndex(a string) int {
	for i, s := range actions {
		if s == a {
			return i
		}
	}
	return -1
}

type stats struct {
	requests      atomic.Int64
	byAction      [len(actions)]atomic.Int64
	journalErrors atomic.Int64
}

// Stats returns a snapshot of the counters; safe for concurrent use.
func (p *Proxy) Stats() Stats {
	s := Stats{Requests: p.st.requests.Load(), ByAction: make(map[string]int64, len(actions))}
	for i, a := range actions {
		n := p.st.byAction[i].Load()
		s.ByAction[a] = n
		switch a {
		case journal.ActionForward:
			s.Forwarded = n
		case journal.ActionRateLimit:
			s.RateLimited = n
		case journal.ActionReject:
			s.Rejected = n
		default:
			s.Faults += n
		}
	}
	return s
}

type metricKey struct {
	rule, action string
	status       int
}

// metrics backs /metrics: counters kept in atomics, exported by a Collector at scrape time.
type metrics struct {
	reg      *prometheus.Registry
	upstream prometheus.Histogram
	mu       sync.RWMutex
	requests map[metricKey]*atomic.Int64
	reqDesc  *prometheus.Desc
	rlDesc   *prometheus.Desc
	p        *Proxy
}

func newMetrics(p *Proxy) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		upstream: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "retrylab_proxy_upstream_duration_seconds",
			Help:    "Time the target took to answer forwarded requests.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		requests: map[metricKey]*atomic.Int64{},
		reqDesc: prometheus.NewDesc("retrylab_proxy_requests_total",
			"Attempts seen by the proxy, by deciding rule, journal action and status sent (0 = none).",
			[]string{"rule", "action", "status"}, nil),
		rlDesc: prometheus.NewDesc("retrylab_proxy_rate_limit_rejections_total",
			"Attempts answered 429 by the rate limiter.", nil, nil),
		p: p,
	}
	m.reg.MustRegister(m.upstream, m)
	return m
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.reqDesc
	ch <- m.rlDesc
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.RLock()
	for k, v := range m.requests {
		ch <- prometheus.MustNewConstMetric(m.reqDesc, prometheus.CounterValue, float64(v.Load()),
			k.rule, k.action, strconv.Itoa(k.status))
	}
	m.mu.RUnlock()
	ch <- prometheus.MustNewConstMetric(m.rlDesc, prometheus.CounterValue,
		float64(m.p.st.byAction[actionIndex(journal.ActionRateLimit)].Load()))
}

// count adds a journaled attempt to the stats and metrics.
func (p *Proxy) count(rec *journal.Record) {
	p.st.requests.Add(1)
	if i := actionIndex(rec.Action); i >= 0 {
		p.st.byAction[i].Add(1)
	}
	k := metricKey{rule: rec.Rule, action: rec.Action, status: rec.Status}
	m := p.met
	m.mu.RLock()
	c := m.requests[k]
	m.mu.RUnlock()
	if c == nil {
		m.mu.Lock()
		if c = m.requests[k]; c == nil {
			c = new(atomic.Int64)
			m.requests[metricKey{rule: clone(k.rule), action: k.action, status: k.status}] = c
		}
		m.mu.Unlock()
	}
	c.Add(1)
}

func clone(s string) string { return string(append([]byte(nil), s...)) }

// apiError is the admin API's error body.
type apiError struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeAPIError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, apiError{Error: fmt.Sprintf(format, args...), Status: status})
}

// AdminHandler returns the admin API and /metrics:
//
//	GET    /rules                 the rules, in evaluation order
//	POST   /rules                 add a rule (JSON or YAML in the profile's fault shape), at the end
//	DELETE /rules/{name}          remove a rule
//	POST   /rules/{name}/enable   enable a rule
//	POST   /rules/{name}/disable  disable a rule
//	POST   /reset                 forget limiter state and attempt counters; call Config.OnReset
//	GET    /stats                 counters (Stats)
//	GET    /metrics               Prometheus metrics
//
// With Config.AdminToken set every endpoint needs "Authorization: Bearer TOKEN". Errors
// answer {"error": "...", "status": N} with status N.
func (p *Proxy) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	metricsH := promhttp.HandlerFor(p.met.reg, promhttp.HandlerOpts{})
	mux.HandleFunc("/rules", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, p.ruleViews())
		case http.MethodPost:
			p.addRule(w, r)
		default:
			writeAPIError(w, http.StatusMethodNotAllowed, "%s /rules: use GET or POST", r.Method)
		}
	})
	mux.HandleFunc("/rules/{name}", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodDelete && r.Method != http.MethodGet {
			writeAPIError(w, http.StatusMethodNotAllowed, "%s /rules/{name}: use GET or DELETE", r.Method)
			return
		}
		name := r.PathValue("name")
		if r.Method == http.MethodGet {
			for _, v := range p.ruleViews() {
				if v.Name == name {
					writeJSON(w, http.StatusOK, v)
					return
				}
			}
			writeAPIError(w, http.StatusNotFound, "no rule %q", name)
			return
		}
		if err := p.updateRules(name, func(rs []*rule, i int) []*rule { return slices.Delete(rs, i, i+1) }); err != nil {
			writeAPIError(w, http.StatusNotFound, "%v", err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/rules/{name}/{op}", func(w http.ResponseWriter, r *http.Request) {
		op := r.PathValue("op")
		if op != "enable" && op != "disable" {
			writeAPIError(w, http.StatusNotFound, "no endpoint %s", r.URL.Path)
			return
		}
		if r.Method != http.MethodPost {
			writeAPIError(w, http.StatusMethodNotAllowed, "%s %s: use POST", r.Method, r.URL.Path)
			return
		}
		name := r.PathValue("name")
		err := p.updateRules(name, func(rs []*rule, i int) []*rule {
			c := *rs[i]
			c.spec.Disabled = op == "disable"
			rs[i] = &c
			return rs
		})
		if err != nil {
			writeAPIError(w, http.StatusNotFound, "%v", err)
			return
		}
		for _, v := range p.ruleViews() {
			if v.Name == name {
				writeJSON(w, http.StatusOK, v)
			}
		}
	})
	mux.HandleFunc("/reset", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeAPIError(w, http.StatusMethodNotAllowed, "%s /reset: use POST", r.Method)
			return
		}
		p.Reset()
		writeJSON(w, http.StatusOK, map[string]bool{"reset": true})
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			writeAPIError(w, http.StatusMethodNotAllowed, "%s /stats: use GET", r.Method)
			return
		}
		writeJSON(w, http.StatusOK, p.Stats())
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			writeAPIError(w, http.StatusMethodNotAllowed, "%s /metrics: use GET", r.Method)
			return
		}
		metricsH.ServeHTTP(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, http.StatusNotFound, "no endpoint %s", r.URL.Path)
	})
	if p.cfg.AdminToken == "" {
		return mux
	}
	want := []byte("Bearer " + p.cfg.AdminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="faultproxy"`)
			writeAPIError(w, http.StatusUnauthorized, "admin API: missing or wrong bearer token")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Reset forgets every client's limiter state and every operation's attempt count, then
// calls Config.OnReset.
func (p *Proxy) Reset() {
	p.limits.Reset()
	p.ops.reset()
	if p.cfg.OnReset != nil {
		p.cfg.OnReset()
	}
}

var errNoRule = errors.New("no rule")

// updateRules applies fn to a copy of the rules with the index of rule name.
func (p *Proxy) updateRules(name string, fn func(rs []*rule, i int) []*rule) error {
	p.rulesMu.Lock()
	defer p.rulesMu.Unlock()
	rs := slices.Clone(*p.rules.Load())
	i := slices.IndexFunc(rs, func(r *rule) bool { return r.spec.Name == name })
	if i < 0 {
		return fmt.Errorf("%w %q", errNoRule, name)
	}
	rs = fn(rs, i)
	p.rules.Store(&rs)
	return nil
}

// AddRule appends a rule built from spec; it fails on an invalid rule or a duplicate name.
func (p *Proxy) AddRule(spec profile.Fault) error {
	p.rulesMu.Lock()
	defer p.rulesMu.Unlock()
	rs := *p.rules.Load()
	if err := profile.CheckFault(&spec, p.clients, len(rs)); err != nil {
		return err
	}
	if slices.ContainsFunc(rs, func(r *rule) bool { return r.spec.Name == spec.Name }) {
		return fmt.Errorf("%w: %q", errDuplicate, spec.Name)
	}
	r, err := compileRule(spec, p.clients)
	if err != nil {
		return err
	}
	next := append(slices.Clone(rs), r)
	p.rules.Store(&next)
	return nil
}

var errDuplicate = errors.New("a rule with this name exists")

func (p *Proxy) addRule(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<16+1))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "read rule: %v", err)
		return
	}
	if len(data) > 1<<16 {
		writeAPIError(w, http.StatusRequestEntityTooLarge, "rule larger than 64 KiB")
		return
	}
	var spec profile.Fault
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil {
		writeAPIError(w, http.StatusBadRequest, "decode rule: %v", err)
		return
	}
	if err := p.AddRule(spec); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, errDuplicate) {
			status = http.StatusConflict
		}
		writeAPIError(w, status, "%v", err)
		return
	}
	views := p.ruleViews()
	writeJSON(w, http.StatusCreated, views[len(views)-1])
}

// RuleView is a rule as the admin API shows it: the profile's fault fields, snake_case,
// durations as Go duration strings.
type RuleView struct {
	Name           string    `json:"name"`
	Action         string    `json:"action"`
	Disabled       bool      `json:"disabled"`
	Match          MatchView `json:"match"`
	Probability    float64   `json:"probability"`
	Attempts       []int     `json:"attempts,omitempty"`
	From           string    `json:"from,omitempty"`
	To             string    `json:"to,omitempty"`
	Every          string    `json:"every,omitempty"`
	For            string    `json:"for,omitempty"`
	Status         int       `json:"status,omitempty"`
	RetryAfter     string    `json:"retry_after,omitempty"`
	RetryAfterForm string    `json:"retry_after_form,omitempty"`
	Body           string    `json:"body,omitempty"`
	Reset          bool      `json:"reset,omitempty"`
	Delay          string    `json:"delay,omitempty"`
	DelayMax       string    `json:"delay_max,omitempty"`
	When           string    `json:"when,omitempty"`
	HangFor        string    `json:"hang_for,omitempty"`
	Bytes          int       `json:"bytes,omitempty"`
	Interval       string    `json:"interval,omitempty"`
}

// MatchView is a rule's match as the admin API shows it. A client given as an API key is
// shown as its journal hash, never in clear.
type MatchView struct {
	Method  string            `json:"method,omitempty"`
	Path    string            `json:"path,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Client  string            `json:"client,omitempty"`
}

func dur(d profile.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func (p *Proxy) ruleViews() []RuleView {
	rs := *p.rules.Load()
	out := make([]RuleView, 0, len(rs))
	for _, r := range rs {
		f := r.spec
		out = append(out, RuleView{
			Name: f.Name, Action: f.Action, Disabled: f.Disabled,
			Match:       MatchView{Method: f.Match.Method, Path: f.Match.Path, Headers: f.Match.Headers, Client: p.clientLabel(f.Match.Client, r.m.client)},
			Probability: f.Probability.Value(), Attempts: f.Attempts,
			From: dur(f.From), To: dur(f.To), Every: dur(f.Every), For: dur(f.For),
			Status: f.Status, RetryAfter: dur(f.RetryAfter), RetryAfterForm: f.RetryAfterForm, Body: f.Body, Reset: f.Reset,
			Delay: dur(f.Delay), DelayMax: dur(f.DelayMax), When: f.When, HangFor: dur(f.HangFor),
			Bytes: f.Bytes, Interval: dur(f.Interval),
		})
	}
	return out
}

// clientLabel returns a rule's client as shown: its profile name, else its key's hash.
func (p *Proxy) clientLabel(client, hash string) string {
	for _, c := range p.clients {
		if c.Name == client && client != "" {
			return client
		}
	}
	return hash
}
