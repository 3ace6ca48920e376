// Package target is retrylab's built-in target: an in-process mock of the voice-call API
// described in seeds/000 (create and read calls, agents and schedules), with the parts of
// that contract a retrying client can get wrong made observable.
//
// The API it serves:
//
//	POST /v1/calls          {"to_number": "+14155550100", ...}   to_number required, E.164
//	POST /v1/agents         {"name": "support", ...}             name required
//	POST /v1/schedules      {"agent_id": "agent_...", "at": "..."} agent_id and at required
//	GET  /v1/calls/{id}     GET /v1/agents/{id}     GET /v1/schedules/{id}
//	GET  /healthz           (no authentication)
//
// Every /v1 request needs an API key, as "Authorization: Bearer KEY" or "X-Api-Key: KEY"
// (any non-empty key is accepted). A create answers 201 with a Location header and the
// resource as JSON; every error answers with the seeds/000 body
//
//	{"error":{"code":"validation_failed","message":"...","field":"to_number","request_id":"req_..."}}
//
// and every response carries X-Request-Id.
//
// A create is a side effect. Each executed create is counted in the Ledger under the
// request's operation id (the OpHeader value) and answered with the header
// X-Retrylab-Executed: true, which the fault proxy journals as "executed". The ledger is
// what the duplicate_side_effects check is proved against.
//
// Creates honor an Idempotency-Key header, stored per API key for Options.IdempotencyTTL:
// the same key with the same request replays the stored answer (with
// Idempotent-Replayed: true and no side effect), the same key while the first request is
// still being processed answers 409 idempotency_in_flight, and the same key with a
// different request answers 422 idempotency_key_reused. Two contracts are available:
// IdempotencyReplaySuccess (seeds/000) stores only 2xx answers, so a failed attempt may be
// retried with the same key; IdempotencyReplayAll (seeds/001) stores every answer, errors
// included, so a retry after an error needs a new key.
//
// Memory stays bounded on long runs: stored answers are evicted when their TTL expires
// (and, past 524,288 of them, oldest first), and past 262,144 resources the oldest are
// forgotten. The ledger keeps one counter per executed operation id.
//
// The target never injects faults on its own (that is the fault proxy's job); it only adds
// the configured processing latency. A request carrying X-Retrylab-Fail: 5xx is failed
// with that status instead of being executed, so that the proxy can make the target
// itself answer 5xx and the two idempotency contracts differ where they matter: under
// replay-all that failure is stored and replayed to a retry with the same key.
package target

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/retrylab/retrylab/internal/profile"
)

// Idempotency contracts.
const (
	// IdempotencyReplaySuccess stores and replays only successful (2xx) answers (seeds/000).
	IdempotencyReplaySuccess = "replay-success"
	// IdempotencyReplayAll stores and replays every answer, errors included (seeds/001).
	IdempotencyReplayAll = "replay-all"
)

// Headers the target reads or sets.
const (
	HeaderRequestID      = "X-Request-Id"
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderReplayed       = "Idempotent-Replayed"
	HeaderExecuted       = "X-Retrylab-Executed"
	HeaderAPIKey         = "X-Api-Key"
	// HeaderFail asks the target to fail the request with the given 5xx status instead of
	// executing it, as a real API's internal error would (the request is still reserved
	// and stored under its Idempotency-Key as the contract says). The fault proxy sets it
	// to exercise the replay-all contract; the target ignores any other value.
	HeaderFail = "X-Retrylab-Fail"
)

// MaxBodyBytes is the largest request body accepted; a larger one is answered with 413.
const MaxBodyBytes = 1 << 20

// Memory bounds for long runs. Past maxResources the oldest resources are forgotten (a
// GET of one answers 404). Past maxIdemKeys stored answers the oldest are forgotten before
// their TTL: at 2,000 creates per second that still covers more than four minutes, far
// beyond any sane retry span. Variables so that tests can lower them.
var (
	maxResources = 1 << 18
	maxIdemKeys  = 1 << 19
)

// Error codes of the error bodies.
const (
	CodeValidationFailed     = "validation_failed"
	CodeInvalidJSON          = "invalid_json"
	CodeUnauthorized         = "unauthorized"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodePayloadTooLarge      = "payload_too_large"
	CodeIdempotencyInFlight  = "idempotency_in_flight"
	CodeIdempotencyKeyReused = "idempotency_key_reused"
)

// Options configures a Target. Zero values take the defaults noted on each field.
type Options struct {
	Latency, LatencyJitter time.Duration // processing latency per request; jitter adds [0, jitter)
	Idempotency            string        // IdempotencyReplaySuccess (default; also any unknown value) or IdempotencyReplayAll
	IdempotencyTTL         time.Duration // how long a stored answer is replayed (default 24h)
	OpHeader               string        // correlation header (default X-Retrylab-Op)
	Seed                   int64         // seeds ids, request ids and latency jitter
	Now                    func() time.Time
}

// FromProfile returns the Options a profile asks for: its builtin section, its seed and the
// proxy's operation header.
func FromProfile(p *profile.Profile) Options {
	if p == nil {
		return Options{}
	}
	return Options{
		Latency:        p.Builtin.Latency.D(),
		LatencyJitter:  p.Builtin.LatencyJitter.D(),
		Idempotency:    p.Builtin.Idempotency,
		IdempotencyTTL: p.Builtin.IdempotencyTTL.D(),
		OpHeader:       p.Proxy.OpHeader,
		Seed:           p.Seed,
	}
}

// Ledger is a snapshot of the side effects a Target executed.
type Ledger struct {
	Executions int64          // side effects executed in total
	ByOp       map[string]int // executions per operation id (OpHeader value; "" keyed by "-")
	Duplicates int64          // operations (other than "-") executed more than once
}

// NoOp is the Ledger.ByOp key of executions whose request carried no operation id.
const NoOp = "-"

// resource kinds served under /v1/.
type kind struct {
	name     string   // collection name in the path
	prefix   string   // id prefix
	status   string   // status of a fresh resource
	required []string // fields a create must carry
}

var kinds = map[string]*kind{
	"calls":     {name: "calls", prefix: "call_", status: "queued", required: []string{"to_number"}},
	"agents":    {name: "agents", prefix: "agent_", status: "active", required: []string{"name"}},
	"schedules": {name: "schedules", prefix: "sched_", status: "scheduled", required: []string{"agent_id", "at"}},
}

var e164 = regexp.MustCompile(`^\+[1-9]\d{1,14}$`)

// idemKey scopes an Idempotency-Key to the API key that sent it.
type idemKey struct{ apiKey, key string }

// idemEntry is one Idempotency-Key's state: in flight until done, then a stored answer.
type idemEntry struct {
	fingerprint [sha256.Size]byte
	done        bool
	status      int
	location    string
	body        []byte
	expires     time.Time
}

// expiry is one stored answer in store order, for eviction.
type expiry struct {
	k idemKey
	e *idemEntry
}

// Target is the built-in target. It is an http.Handler safe for concurrent use.
type Target struct {
	o Options

	mu        sync.Mutex
	rng       *rand.Rand
	idem      map[idemKey]*idemEntry
	expiries  []expiry // stored answers in the order they expire (the TTL is constant)
	resources map[string][]byte
	resRing   []string // resource ids in creation order, at most maxResources
	resNext   int      // the oldest id in resRing once it is full
	ledger    Ledger
}

var _ http.Handler = (*Target)(nil)

// New returns a Target configured by o.
func New(o Options) *Target {
	if o.Idempotency == "" {
		o.Idempotency = IdempotencyReplaySuccess
	}
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = profile.DefaultIdempotencyTTL
	}
	if o.OpHeader == "" {
		o.OpHeader = profile.DefaultOpHeader
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Target{
		o:         o,
		rng:       rand.New(rand.NewSource(o.Seed)),
		idem:      make(map[idemKey]*idemEntry),
		resources: make(map[string][]byte),
		ledger:    Ledger{ByOp: make(map[string]int)},
	}
}

// Ledger returns a consistent snapshot of the side effects executed so far.
func (t *Target) Ledger() Ledger {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := Ledger{Executions: t.ledger.Executions, Duplicates: t.ledger.Duplicates,
		ByOp: make(map[string]int, len(t.ledger.ByOp))}
	for k, v := range t.ledger.ByOp {
		l.ByOp[k] = v
	}
	return l
}

// Reset forgets the idempotency store and every resource. The ledger is kept: it is the
// record of side effects already executed. Requests in flight during a Reset complete
// normally but their answers are not stored.
func (t *Target) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.idem = make(map[idemKey]*idemEntry)
	t.expiries = nil
	t.resources = make(map[string][]byte)
	t.resRing, t.resNext = nil, 0
}

// ServeHTTP serves the API described in the package documentation.
func (t *Target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := t.requestID()
	w.Header().Set(HeaderRequestID, reqID)

	if r.URL.Path == "/healthz" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			t.methodNotAllowed(w, reqID, "GET, HEAD")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"status":"ok"}`)
		return
	}

	k, id, ok := route(r.URL.Path)
	if !ok {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such endpoint: "+r.URL.Path, "", reqID)
		return
	}
	if id == "" && r.Method != http.MethodPost {
		t.methodNotAllowed(w, reqID, http.MethodPost)
		return
	}
	if id != "" && r.Method != http.MethodGet && r.Method != http.MethodHead {
		t.methodNotAllowed(w, reqID, "GET, HEAD")
		return
	}
	apiKey := apiKeyOf(r)
	if apiKey == "" {
		writeError(w, http.StatusUnauthorized, CodeUnauthorized,
			"missing API key: send Authorization: Bearer KEY or X-Api-Key: KEY", "", reqID)
		return
	}
	if id != "" {
		if !t.wait(r) {
			return
		}
		if status, ok := failStatus(r); ok {
			writeAnswer(w, failAnswer(status, reqID))
			return
		}
		t.get(w, k, id, reqID)
		return
	}
	t.create(w, r, k, apiKey, reqID)
}

// route splits /v1/{collection}[/{id}].
func route(path string) (k *kind, id string, ok bool) {
	rest, found := strings.CutPrefix(path, "/v1/")
	if !found {
		return nil, "", false
	}
	coll, id, hasID := strings.Cut(rest, "/")
	k, ok = kinds[coll]
	if !ok || (hasID && (id == "" || strings.Contains(id, "/"))) {
		return nil, "", false
	}
	return k, id, true
}

func apiKeyOf(r *http.Request) string {
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, key, found := strings.Cut(auth, " ")
		if found && strings.EqualFold(scheme, "Bearer") {
			if key = strings.TrimSpace(key); key != "" {
				return key
			}
		}
	}
	return strings.TrimSpace(r.Header.Get(HeaderAPIKey))
}

func (t *Target) methodNotAllowed(w http.ResponseWriter, reqID, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed; allowed: "+allow, "", reqID)
}

func (t *Target) get(w http.ResponseWriter, k *kind, id, reqID string) {
	t.mu.Lock()
	body, ok := t.resources[id]
	t.mu.Unlock()
	if !ok || !strings.HasPrefix(id, k.prefix) {
		writeError(w, http.StatusNotFound, CodeNotFound, k.name+" "+id+" not found", "", reqID)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// answer is one create's result, as stored for replays.
type answer struct {
	status   int
	location string
	body     []byte
}

// failStatus reads HeaderFail: a status in 500..599.
func failStatus(r *http.Request) (int, bool) {
	v := r.Header.Get(HeaderFail)
	if v == "" {
		return 0, false
	}
	status, err := strconv.Atoi(v)
	if err != nil || status < 500 || status > 599 {
		return 0, false
	}
	return status, true
}

// failAnswer is the error a HeaderFail request gets.
func failAnswer(status int, reqID string) answer {
	code := "internal_error"
	switch status {
	case http.StatusBadGateway:
		code = "bad_gateway"
	case http.StatusServiceUnavailable:
		code = "service_unavailable"
	case http.StatusGatewayTimeout:
		code = "gateway_timeout"
	}
	return errorAnswer(status, code, "the request failed on the platform side; retry with backoff", "", reqID)
}

func (t *Target) create(w http.ResponseWriter, r *http.Request, k *kind, apiKey, reqID string) {
	if r.ContentLength > MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, CodePayloadTooLarge,
			fmt.Sprintf("request body over %d bytes", MaxBodyBytes), "", reqID)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidJSON, "read request body: "+err.Error(), "", reqID)
		return
	}
	if len(body) > MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, CodePayloadTooLarge,
			fmt.Sprintf("request body over %d bytes", MaxBodyBytes), "", reqID)
		return
	}

	key := r.Header.Get(HeaderIdempotencyKey)
	var (
		ik    idemKey
		entry *idemEntry
	)
	if key != "" {
		ik = idemKey{apiKey, key}
		fp := fingerprint(r.Method, r.URL.Path, body)
		var replay *idemEntry
		var code int
		entry, replay, code = t.reserve(ik, fp)
		switch {
		case replay != nil:
			writeReplay(w, replay)
			return
		case code == http.StatusConflict:
			writeError(w, code, CodeIdempotencyInFlight,
				"a request with this Idempotency-Key is still being processed; retry later", "", reqID)
			return
		case code == http.StatusUnprocessableEntity:
			writeError(w, code, CodeIdempotencyKeyReused,
				"this Idempotency-Key was used with a different request", "", reqID)
			return
		}
	}
	if !t.wait(r) {
		if entry != nil {
			t.release(ik, entry)
		}
		return
	}

	var a answer
	if status, ok := failStatus(r); ok {
		a = failAnswer(status, reqID)
	} else {
		a = t.execute(r, k, body, reqID)
	}
	if entry != nil {
		t.complete(ik, entry, a)
	}
	if a.status == http.StatusCreated {
		w.Header().Set(HeaderExecuted, "true")
	}
	writeAnswer(w, a)
}

// writeAnswer writes a fresh (not replayed) answer.
func writeAnswer(w http.ResponseWriter, a answer) {
	w.Header().Set("Content-Type", "application/json")
	if a.location != "" {
		w.Header().Set("Location", a.location)
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// execute validates a create and, when valid, performs its side effect.
func (t *Target) execute(r *http.Request, k *kind, body []byte, reqID string) answer {
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil || in == nil {
		msg := "request body must be a JSON object"
		if err != nil {
			msg += ": " + err.Error()
		}
		return errorAnswer(http.StatusBadRequest, CodeInvalidJSON, msg, "", reqID)
	}
	for _, f := range k.required {
		v, present := in[f]
		if s, isString := v.(string); !present || v == nil || (isString && s == "") {
			return errorAnswer(http.StatusBadRequest, CodeValidationFailed, f+" is required", f, reqID)
		}
	}
	if k.name == "calls" {
		if s, ok := in["to_number"].(string); !ok || !e164.MatchString(s) {
			return errorAnswer(http.StatusBadRequest, CodeValidationFailed,
				"to_number must be in E.164 format", "to_number", reqID)
		}
	}
	if k.name == "agents" {
		if _, ok := in["name"].(string); !ok {
			return errorAnswer(http.StatusBadRequest, CodeValidationFailed, "name must be a string", "name", reqID)
		}
	}
	if k.name == "schedules" {
		if _, ok := in["agent_id"].(string); !ok {
			return errorAnswer(http.StatusBadRequest, CodeValidationFailed, "agent_id must be a string", "agent_id", reqID)
		}
	}

	op := r.Header.Get(t.o.OpHeader)
	if op == "" {
		op = NoOp
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	id := k.prefix + t.newUUID()
	in["id"] = id
	in["status"] = k.status
	in["created_at"] = t.o.Now().UTC().Format(time.RFC3339Nano)
	out, err := json.Marshal(in)
	if err != nil { // values came from json.Unmarshal, so they marshal back
		return errorAnswer(http.StatusBadRequest, CodeInvalidJSON, "encode resource: "+err.Error(), "", reqID)
	}
	t.resources[id] = out
	if len(t.resRing) < maxResources {
		t.resRing = append(t.resRing, id)
	} else {
		delete(t.resources, t.resRing[t.resNext])
		t.resRing[t.resNext] = id
		t.resNext = (t.resNext + 1) % maxResources
	}
	t.ledger.Executions++
	t.ledger.ByOp[op]++
	if op != NoOp && t.ledger.ByOp[op] == 2 {
		t.ledger.Duplicates++
	}
	return answer{status: http.StatusCreated, location: "/v1/" + k.name + "/" + id, body: out}
}

// reserve looks an Idempotency-Key up. It returns the new in-flight entry when the key is
// free, the stored entry to replay, or the status of a conflict (409 in flight, 422 reused).
func (t *Target) reserve(ik idemKey, fp [sha256.Size]byte) (entry, replay *idemEntry, code int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.o.Now()
	t.evict(now)
	if e, ok := t.idem[ik]; ok {
		if e.done && !now.Before(e.expires) {
			delete(t.idem, ik)
		} else {
			switch {
			case e.fingerprint != fp:
				return nil, nil, http.StatusUnprocessableEntity
			case !e.done:
				return nil, nil, http.StatusConflict
			default:
				return nil, e, 0
			}
		}
	}
	e := &idemEntry{fingerprint: fp}
	t.idem[ik] = e
	return e, nil, 0
}

// release forgets an in-flight entry whose request was abandoned.
func (t *Target) release(ik idemKey, e *idemEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.idem[ik] == e {
		delete(t.idem, ik)
	}
}

// complete stores a's answer under the key when the contract says so, else frees the key.
func (t *Target) complete(ik idemKey, e *idemEntry, a answer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.idem[ik] != e {
		return // Reset while in flight
	}
	store := t.o.Idempotency == IdempotencyReplayAll || (a.status >= 200 && a.status < 300)
	if !store {
		delete(t.idem, ik)
		return
	}
	e.done = true
	e.status, e.location, e.body = a.status, a.location, a.body
	e.expires = t.o.Now().Add(t.o.IdempotencyTTL)
	t.expiries = append(t.expiries, expiry{ik, e})
	if len(t.expiries) > maxIdemKeys {
		t.dropOldest(len(t.expiries) - maxIdemKeys)
	}
}

// evict drops the stored answers that expired by now. Answers are stored with a constant
// TTL, so they expire in store order and eviction only looks at the front of the queue.
func (t *Target) evict(now time.Time) {
	n := 0
	for n < len(t.expiries) && !now.Before(t.expiries[n].e.expires) {
		n++
	}
	t.dropOldest(n)
}

// dropOldest forgets the n oldest stored answers.
func (t *Target) dropOldest(n int) {
	if n == 0 {
		return
	}
	for _, x := range t.expiries[:n] {
		if t.idem[x.k] == x.e {
			delete(t.idem, x.k)
		}
	}
	rest := len(t.expiries) - n
	if rest < n || rest < 1024 {
		// Compact so the backing array does not grow without bound.
		copy(t.expiries, t.expiries[n:])
		clear(t.expiries[rest:])
		t.expiries = t.expiries[:rest]
		return
	}
	clear(t.expiries[:n])
	t.expiries = t.expiries[n:]
}

// wait sleeps the configured latency; it returns false when the client went away first.
func (t *Target) wait(r *http.Request) bool {
	d := t.o.Latency
	if t.o.LatencyJitter > 0 {
		t.mu.Lock()
		d += time.Duration(t.rng.Int63n(int64(t.o.LatencyJitter)))
		t.mu.Unlock()
	}
	if d <= 0 {
		return r.Context().Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// newUUID returns a UUID drawn from the seeded source; t.mu must be held.
func (t *Target) newUUID() string {
	u, err := uuid.NewRandomFromReader(t.rng)
	if err != nil { // math/rand's Read never fails
		panic(fmt.Errorf("draw uuid: %w", err))
	}
	return u.String()
}

func (t *Target) requestID() string {
	var b [8]byte
	t.mu.Lock()
	_, _ = t.rng.Read(b[:])
	t.mu.Unlock()
	return "req_" + hex.EncodeToString(b[:])
}

// fingerprint identifies a request for idempotency: method, path and body.
func fingerprint(method, path string, body []byte) [sha256.Size]byte {
	h := sha256.New()
	_, _ = io.WriteString(h, method)
	_, _ = h.Write([]byte{0})
	_, _ = io.WriteString(h, path)
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(body)
	var fp [sha256.Size]byte
	h.Sum(fp[:0])
	return fp
}

func writeReplay(w http.ResponseWriter, e *idemEntry) {
	w.Header().Set("Content-Type", "application/json")
	if e.location != "" {
		w.Header().Set("Location", e.location)
	}
	w.Header().Set(HeaderReplayed, "true")
	w.WriteHeader(e.status)
	_, _ = w.Write(e.body)
}

// ErrorBody is the error shape of seeds/000.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the content of an ErrorBody.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id"`
}

func errorAnswer(status int, code, msg, field, reqID string) answer {
	b, err := json.Marshal(ErrorBody{ErrorDetail{Code: code, Message: msg, Field: field, RequestID: reqID}})
	if err != nil { // cannot happen for plain strings
		panic(fmt.Errorf("marshal error body: %w", err))
	}
	return answer{status: status, body: b}
}

func writeError(w http.ResponseWriter, status int, code, msg, field, reqID string) {
	a := errorAnswer(status, code, msg, field, reqID)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(a.body)
}
