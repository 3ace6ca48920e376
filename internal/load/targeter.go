package load

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
)

// Op describes one logical operation the Targeter produced.
type Op struct {
	ID       string // value of the op header (a UUID)
	Seq      uint64 // from 1, the {{seq}} of its templates
	Client   string // client name
	Endpoint string // endpoint name
	Method   string
	Path     string
}

// Targeter turns a profile's clients and endpoints into vegeta targets: each call picks a
// client (API key) and an endpoint by weight from the profile's seed, renders the path,
// body and header templates, and stamps the operation with a fresh UUID in the op header.
// The sequence of targets depends only on the seed and the number of calls. It is safe
// for concurrent use.
type Targeter struct {
	mu        sync.Mutex
	rnd       *rand.Rand
	seq       uint64
	base      string
	opHeader  string
	clients   []apiClient
	cweights  []float64 // cumulative
	endpoints []endpoint
	eweights  []float64 // cumulative
	// OnOp, when set, is called with every operation produced (under the Targeter's lock:
	// keep it short).
	OnOp func(Op)
}

type apiClient struct {
	name, key, auth string
}

type endpoint struct {
	name, method  string
	path, body    tmpl
	headers       []header
	hasBody       bool
	setsIdemKey   bool
	hasCTypeGiven bool
}

type header struct {
	name  string
	value tmpl
}

// NewTargeter returns the targeter for profile p, sending to baseURL.
func NewTargeter(p *profile.Profile, baseURL string) (*Targeter, error) {
	if baseURL == "" {
		return nil, errors.New("no base URL to send requests to")
	}
	t := &Targeter{
		rnd:      rand.New(rand.NewPCG(uint64(p.Seed), 0x5851f42d4c957f2d)),
		base:     strings.TrimRight(baseURL, "/"),
		opHeader: p.Proxy.OpHeader,
	}
	if t.opHeader == "" {
		t.opHeader = profile.DefaultOpHeader
	}
	clients := p.Clients
	if len(clients) == 0 {
		clients = []profile.Client{{Name: "default", Key: profile.DefaultClientKey, Weight: 1}}
	}
	total := 0.0
	for i, c := range clients {
		w := c.Weight
		if w == 0 {
			w = 1
		}
		if w < 0 {
			return nil, fmt.Errorf("clients[%d]: negative weight %v", i, w)
		}
		name := c.Name
		if name == "" {
			name = journal.HashKey(c.Key)
		}
		cl := apiClient{name: name, key: c.Key}
		if c.Key != "" {
			cl.auth = "Bearer " + c.Key
		}
		total += w
		t.clients = append(t.clients, cl)
		t.cweights = append(t.cweights, total)
	}
	if len(p.Endpoints) == 0 {
		return nil, errors.New("no endpoints to send requests to")
	}
	total = 0
	for i, e := range p.Endpoints {
		w := e.Weight
		if w == 0 {
			w = 1
		}
		if w < 0 {
			return nil, fmt.Errorf("endpoints[%d]: negative weight %v", i, w)
		}
		ep, err := compileEndpoint(e)
		if err != nil {
			return nil, fmt.Errorf("endpoints[%d]: %w", i, err)
		}
		total += w
		t.endpoints = append(t.endpoints, ep)
		t.eweights = append(t.eweights, total)
	}
	return t, nil
}

func compileEndpoint(e profile.Endpoint) (endpoint, error) {
	ep := endpoint{name: e.Name, method: strings.ToUpper(e.Method)}
	if ep.method == "" {
		ep.method = http.MethodGet
	}
	if ep.name == "" {
		ep.name = strings.ToLower(ep.method) + " " + e.Path
	}
	var err error
	if ep.path, err = parseTemplate(e.Path); err != nil {
		return ep, fmt.Errorf("path: %w", err)
	}
	if !strings.HasPrefix(e.Path, "/") {
		return ep, fmt.Errorf("path %q must start with /", e.Path)
	}
	if ep.body, err = parseTemplate(e.Body); err != nil {
		return ep, fmt.Errorf("body: %w", err)
	}
	ep.hasBody = e.Body != ""
	names := make([]string, 0, len(e.Headers))
	for k := range e.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v, err := parseTemplate(e.Headers[k])
		if err != nil {
			return ep, fmt.Errorf("headers.%s: %w", k, err)
		}
		ep.headers = append(ep.headers, header{name: http.CanonicalHeaderKey(k), value: v})
		if strings.EqualFold(k, "Content-Type") {
			ep.hasCTypeGiven = true
		}
	}
	return ep, nil
}

// pick returns the index of the weighted choice u ∈ [0, total).
func pick(cum []float64, u float64) int {
	i, _ := slices.BinarySearchFunc(cum, u, func(c, u float64) int {
		if c <= u {
			return -1
		}
		return 1
	})
	return min(i, len(cum)-1)
}

// Next fills tgt with the next operation. It is a vegeta.Targeter.
func (t *Targeter) Next(tgt *vegeta.Target) error {
	t.mu.Lock()
	t.seq++
	seq := t.seq
	c := &t.clients[pick(t.cweights, t.rnd.Float64()*t.cweights[len(t.cweights)-1])]
	e := &t.endpoints[pick(t.eweights, t.rnd.Float64()*t.eweights[len(t.eweights)-1])]
	opID := newUUID(t.rnd)
	v := vars{seq: strconv.FormatUint(seq, 10), key: c.key, client: c.name}
	if e.path.uses(varUUID) || e.body.uses(varUUID) || e.headersUse(varUUID) {
		v.uuid = newUUID(t.rnd)
	}
	path := e.path.render(&v)
	if t.OnOp != nil {
		t.OnOp(Op{ID: opID, Seq: seq, Client: c.name, Endpoint: e.name, Method: e.method, Path: path})
	}
	t.mu.Unlock()

	tgt.Method = e.method
	tgt.URL = t.base + path
	tgt.Body = nil
	if e.hasBody {
		tgt.Body = []byte(e.body.render(&v))
	}
	h := make(http.Header, 4+len(e.headers))
	if c.auth != "" {
		h.Set("Authorization", c.auth)
	}
	if e.hasBody && !e.hasCTypeGiven {
		h.Set("Content-Type", "application/json")
	}
	for _, x := range e.headers {
		h.Set(x.name, x.value.render(&v))
	}
	h.Set(t.opHeader, opID)
	tgt.Header = h
	return nil
}

// OpHeader returns the header the operation id is sent in.
func (t *Targeter) OpHeader() string { return t.opHeader }

func (e *endpoint) headersUse(v int) bool {
	for _, h := range e.headers {
		if h.value.uses(v) {
			return true
		}
	}
	return false
}

// newUUID returns a version 4 UUID drawn from rnd.
func newUUID(rnd *rand.Rand) string {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[:8], rnd.Uint64())
	binary.BigEndian.PutUint64(u[8:], rnd.Uint64())
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

// Template variables.
const (
	varNone = iota
	varUUID
	varSeq
	varKey
	varClient
)

var varNames = map[string]int{"uuid": varUUID, "seq": varSeq, "key": varKey, "client": varClient}

// tmpl is a parsed template: literal text and {{uuid}} (a fresh UUID per operation, the
// same everywhere in it), {{seq}} (the operation's number, from 1), {{key}} (the client's
// API key) and {{client}} (the client's name).
type tmpl []part

type part struct {
	lit string
	v   int
}

type vars struct{ uuid, seq, key, client string }

func parseTemplate(s string) (tmpl, error) {
	var t tmpl
	for s != "" {
		i := strings.Index(s, "{{")
		if i < 0 {
			t = append(t, part{lit: s})
			break
		}
		if i > 0 {
			t = append(t, part{lit: s[:i]})
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("unclosed {{ in %q", s)
		}
		name := strings.TrimSpace(s[i+2 : i+j])
		v, ok := varNames[name]
		if !ok {
			return nil, fmt.Errorf("unknown template variable {{%s}} (want uuid, seq, key or client)", name)
		}
		t = append(t, part{v: v})
		s = s[i+j+2:]
	}
	return t, nil
}

func (t tmpl) uses(v int) bool {
	for _, p := range t {
		if p.v == v {
			return true
		}
	}
	return false
}

func (t tmpl) render(v *vars) string {
	if len(t) == 1 && t[0].v == varNone {
		return t[0].lit
	}
	var b strings.Builder
	for _, p := range t {
		switch p.v {
		case varNone:
			b.WriteString(p.lit)
		case varUUID:
			b.WriteString(v.uuid)
		case varSeq:
			b.WriteString(v.seq)
		case varKey:
			b.WriteString(v.key)
		case varClient:
			b.WriteString(v.client)
		}
	}
	return b.String()
}
