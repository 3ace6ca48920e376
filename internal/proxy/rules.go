package proxy

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/retrylab/retrylab/internal/fault"
	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
)

// matcher selects requests by method, path, headers and client. Empty fields match all.
type matcher struct {
	method  []byte
	prefix  string // path prefix, when not a glob
	glob    string // path glob (path.Match syntax), when the pattern has * ? or [
	headers []headerMatch
	client  string // journal.HashKey of the client's key; "" = any
}

type headerMatch struct {
	name  string
	value []byte // nil = present with any value ("*")
}

func isGlob(p string) bool { return strings.ContainsAny(p, "*?[") }

func newMatcher(method, pathPattern string, headers map[string]string, client string, clients []profile.Client) (matcher, error) {
	m := matcher{method: []byte(strings.ToUpper(method))}
	if len(m.method) == 0 {
		m.method = nil
	}
	if isGlob(pathPattern) {
		if _, err := path.Match(pathPattern, "/"); err != nil {
			return m, fmt.Errorf("path %q: %w", pathPattern, err)
		}
		m.glob = pathPattern
	} else {
		m.prefix = pathPattern
	}
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		hm := headerMatch{name: k}
		if v := headers[k]; v != "*" {
			hm.value = []byte(v)
		}
		m.headers = append(m.headers, hm)
	}
	m.client = clientHash(client, clients)
	return m, nil
}

// clientHash resolves a rule's client: a client name from the profile, a journal hash
// ("k_" and 16 hex digits) or an API key.
func clientHash(client string, clients []profile.Client) string {
	if client == "" {
		return ""
	}
	for _, c := range clients {
		if c.Name == client {
			return journal.HashKey(c.Key)
		}
	}
	if len(client) == 18 && strings.HasPrefix(client, "k_") {
		return client
	}
	return journal.HashKey(client)
}

// request is what a matcher reads of a request: fasthttp's (ctxRequest) or the fast
// path's own parse of it (plainRequest).
type request interface {
	Method() []byte
	Path() []byte
	Peek(name string) []byte // the first value of header name (any case), nil if absent
}

// ctxRequest is a fasthttp request as a matcher's request.
type ctxRequest struct{ ctx *fasthttp.RequestCtx }

func (r ctxRequest) Method() []byte          { return r.ctx.Method() }
func (r ctxRequest) Path() []byte            { return r.ctx.Path() }
func (r ctxRequest) Peek(name string) []byte { return r.ctx.Request.Header.Peek(name) }

func (m *matcher) match(req request, clientHash string) bool {
	if m.method != nil && !bytes.Equal(m.method, req.Method()) {
		return false
	}
	p := b2s(req.Path())
	if m.glob != "" {
		if ok, _ := path.Match(m.glob, p); !ok {
			return false
		}
	} else if !strings.HasPrefix(p, m.prefix) {
		return false
	}
	for i := range m.headers {
		h := &m.headers[i]
		v := req.Peek(h.name)
		if v == nil || (h.value != nil && !bytes.Equal(v, h.value)) {
			return false
		}
	}
	return m.client == "" || m.client == clientHash
}

// rule is one compiled fault rule.
type rule struct {
	spec     profile.Fault
	m        matcher
	salt     uint64 // FNV-1a of the name: the rule's stream of random numbers
	attempts []int
	prob     float64
	from, to time.Duration
	every    time.Duration
	dur      time.Duration // active part of every period
	f        fault.Fault
}

func compileRule(spec profile.Fault, clients []profile.Client) (*rule, error) {
	if spec.Name == "" {
		return nil, fmt.Errorf("rule without a name")
	}
	m, err := newMatcher(spec.Match.Method, spec.Match.Path, spec.Match.Headers, spec.Match.Client, clients)
	if err != nil {
		return nil, fmt.Errorf("rule %q: match: %w", spec.Name, err)
	}
	r := &rule{spec: spec, m: m, salt: fnv64([]byte(spec.Name)), attempts: spec.Attempts,
		prob: spec.Probability.Value(), from: spec.From.D(), to: spec.To.D(), every: spec.Every.D(), dur: spec.For.D()}
	for _, a := range r.attempts {
		if a < 1 {
			return nil, fmt.Errorf("rule %q: attempts: %d is not an attempt number (from 1)", spec.Name, a)
		}
	}
	if r.prob < 0 || r.prob > 1 {
		return nil, fmt.Errorf("rule %q: probability %v is out of [0, 1]", spec.Name, r.prob)
	}
	if r.to != 0 && r.to <= r.from {
		return nil, fmt.Errorf("rule %q: to %v is not after from %v", spec.Name, r.to, r.from)
	}
	if r.every > 0 && r.dur == 0 {
		r.dur = r.every / 2
	}
	if r.f, err = fault.New(spec); err != nil {
		return nil, err
	}
	return r, nil
}

// active reports whether the rule's window and flap hold at offset t from the start.
func (r *rule) active(t time.Duration) bool {
	if t < r.from || (r.to != 0 && t >= r.to) {
		return false
	}
	if r.every > 0 && (t-r.from)%r.every >= r.dur {
		return false
	}
	return true
}

func (r *rule) attemptOK(a int) bool {
	return len(r.attempts) == 0 || slices.Contains(r.attempts, a)
}
