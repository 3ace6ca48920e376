package target

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/profile"
)

// fakeClock is a replaceable clock for TTL tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

// req describes one request to the target.
type req struct {
	method, path, body string
	key                string // API key sent as Bearer; "" sends none
	idem               string // Idempotency-Key
	op                 string // operation id header
	header             map[string]string
}

func newServer(t *testing.T, o Options) (*Target, *httptest.Server) {
	t.Helper()
	tg := New(o)
	srv := httptest.NewServer(tg)
	t.Cleanup(srv.Close)
	return tg, srv
}

func do(t *testing.T, srv *httptest.Server, q req) resp {
	t.Helper()
	return doCtx(t, context.Background(), srv, q)
}

func doCtx(t *testing.T, ctx context.Context, srv *httptest.Server, q req) resp {
	t.Helper()
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r, err := http.NewRequestWithContext(ctx, q.method, srv.URL+q.path, body)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if q.key != "" {
		r.Header.Set("Authorization", "Bearer "+q.key)
	}
	if q.idem != "" {
		r.Header.Set(HeaderIdempotencyKey, q.idem)
	}
	if q.op != "" {
		r.Header.Set(profile.DefaultOpHeader, q.op)
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	res, err := srv.Client().Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", q.method, q.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if res.Header.Get(HeaderRequestID) == "" || !strings.HasPrefix(res.Header.Get(HeaderRequestID), "req_") {
		t.Errorf("%s %s: X-Request-Id = %q, want req_...", q.method, q.path, res.Header.Get(HeaderRequestID))
	}
	return resp{res.StatusCode, res.Header, b}
}

// errorOf decodes an error body strictly in the seeds/000 shape.
func errorOf(t *testing.T, b []byte) ErrorDetail {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var e ErrorBody
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %s: %v", b, err)
	}
	if e.Error.Code == "" || e.Error.Message == "" || !strings.HasPrefix(e.Error.RequestID, "req_") {
		t.Errorf("error body %s: missing code, message or request_id", b)
	}
	return e.Error
}

const callBody = `{"to_number":"+14155550100","agent_id":"agent_1"}`

func TestCreateAndGet(t *testing.T) {
	tests := []struct {
		name, path, body, prefix, status string
	}{
		{"call", "/v1/calls", callBody, "call_", "queued"},
		{"agent", "/v1/agents", `{"name":"support","voice":"alloy"}`, "agent_", "active"},
		{"schedule", "/v1/schedules", `{"agent_id":"agent_1","at":"2026-05-06T10:00:00Z"}`, "sched_", "scheduled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, srv := newServer(t, Options{Seed: 1})
			got := do(t, srv, req{method: "POST", path: tt.path, body: tt.body, key: "k1", op: "op-1"})
			if got.status != http.StatusCreated {
				t.Fatalf("status = %d, want 201; body %s", got.status, got.body)
			}
			if got.header.Get(HeaderExecuted) != "true" {
				t.Errorf("%s = %q, want true", HeaderExecuted, got.header.Get(HeaderExecuted))
			}
			var res map[string]any
			if err := json.Unmarshal(got.body, &res); err != nil {
				t.Fatalf("decode %s: %v", got.body, err)
			}
			id, _ := res["id"].(string)
			if !strings.HasPrefix(id, tt.prefix) {
				t.Errorf("id = %q, want prefix %q", id, tt.prefix)
			}
			if loc, want := got.header.Get("Location"), tt.path+"/"+id; loc != want {
				t.Errorf("Location = %q, want %q", loc, want)
			}
			if res["status"] != tt.status {
				t.Errorf("status field = %v, want %q", res["status"], tt.status)
			}
			if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(res["created_at"])); err != nil {
				t.Errorf("created_at %v: %v", res["created_at"], err)
			}
			var in map[string]any
			_ = json.Unmarshal([]byte(tt.body), &in)
			for k, v := range in {
				if res[k] != v {
					t.Errorf("field %s = %v, want the input %v", k, res[k], v)
				}
			}

			back := do(t, srv, req{method: "GET", path: got.header.Get("Location"), key: "k1"})
			if back.status != http.StatusOK || !bytes.Equal(back.body, got.body) {
				t.Errorf("GET %s = %d %s, want 200 %s", got.header.Get("Location"), back.status, back.body, got.body)
			}
			if back.header.Get(HeaderExecuted) != "" {
				t.Errorf("GET marked executed")
			}
			missing := do(t, srv, req{method: "GET", path: tt.path + "/" + tt.prefix + "nope", key: "k1"})
			if missing.status != http.StatusNotFound || errorOf(t, missing.body).Code != CodeNotFound {
				t.Errorf("GET missing = %d %s, want 404 not_found", missing.status, missing.body)
			}
			l := tg.Ledger()
			if l.Executions != 1 || l.ByOp["op-1"] != 1 || l.Duplicates != 0 {
				t.Errorf("ledger = %+v, want 1 execution of op-1", l)
			}
		})
	}
}

func TestGetWrongKindIsNotFound(t *testing.T) {
	_, srv := newServer(t, Options{})
	got := do(t, srv, req{method: "POST", path: "/v1/agents", body: `{"name":"a"}`, key: "k"})
	id := strings.TrimPrefix(got.header.Get("Location"), "/v1/agents/")
	if res := do(t, srv, req{method: "GET", path: "/v1/calls/" + id, key: "k"}); res.status != http.StatusNotFound {
		t.Errorf("GET agent id under /v1/calls = %d, want 404", res.status)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		q      req
		status int
		code   string
		field  string
		allow  string
	}{
		{"unknown path", req{method: "GET", path: "/v2/calls", key: "k"}, 404, CodeNotFound, "", ""},
		{"unknown collection", req{method: "GET", path: "/v1/wallets/x", key: "k"}, 404, CodeNotFound, "", ""},
		{"nested id", req{method: "GET", path: "/v1/calls/a/b", key: "k"}, 404, CodeNotFound, "", ""},
		{"list not allowed", req{method: "GET", path: "/v1/calls", key: "k"}, 405, CodeMethodNotAllowed, "", "POST"},
		{"delete item", req{method: "DELETE", path: "/v1/calls/call_1", key: "k"}, 405, CodeMethodNotAllowed, "", "GET, HEAD"},
		{"post healthz", req{method: "POST", path: "/healthz"}, 405, CodeMethodNotAllowed, "", "GET, HEAD"},
		{"no auth", req{method: "POST", path: "/v1/calls", body: callBody}, 401, CodeUnauthorized, "", ""},
		{"basic auth", req{method: "POST", path: "/v1/calls", body: callBody,
			header: map[string]string{"Authorization": "Basic a2V5Og=="}}, 401, CodeUnauthorized, "", ""},
		{"empty bearer", req{method: "GET", path: "/v1/calls/x",
			header: map[string]string{"Authorization": "Bearer  "}}, 401, CodeUnauthorized, "", ""},
		{"malformed json", req{method: "POST", path: "/v1/calls", body: `{"to_number":`, key: "k"}, 400, CodeInvalidJSON, "", ""},
		{"json array", req{method: "POST", path: "/v1/calls", body: `[1]`, key: "k"}, 400, CodeInvalidJSON, "", ""},
		{"json null", req{method: "POST", path: "/v1/calls", body: `null`, key: "k"}, 400, CodeInvalidJSON, "", ""},
		{"empty body", req{method: "POST", path: "/v1/agents", key: "k"}, 400, CodeInvalidJSON, "", ""},
		{"agent without name", req{method: "POST", path: "/v1/agents", body: `{"voice":"x"}`, key: "k"}, 400, CodeValidationFailed, "name", ""},
		{"agent name number", req{method: "POST", path: "/v1/agents", body: `{"name":3}`, key: "k"}, 400, CodeValidationFailed, "name", ""},
		{"schedule without at", req{method: "POST", path: "/v1/schedules", body: `{"agent_id":"a"}`, key: "k"}, 400, CodeValidationFailed, "at", ""},
		{"schedule without agent", req{method: "POST", path: "/v1/schedules", body: `{"at":"2026-01-01T00:00:00Z"}`, key: "k"}, 400, CodeValidationFailed, "agent_id", ""},
		{"body too large", req{method: "POST", path: "/v1/calls", key: "k",
			body: `{"to_number":"+14155550100","pad":"` + strings.Repeat("x", MaxBodyBytes) + `"}`}, 413, CodePayloadTooLarge, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, srv := newServer(t, Options{})
			got := do(t, srv, tt.q)
			if got.status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", got.status, tt.status, got.body)
			}
			e := errorOf(t, got.body)
			if e.Code != tt.code || e.Field != tt.field {
				t.Errorf("error = %+v, want code %q field %q", e, tt.code, tt.field)
			}
			if tt.field == "" && bytes.Contains(got.body, []byte(`"field"`)) {
				t.Errorf("body %s carries a field, want it omitted", got.body)
			}
			if a := got.header.Get("Allow"); a != tt.allow {
				t.Errorf("Allow = %q, want %q", a, tt.allow)
			}
			if e.RequestID != got.header.Get(HeaderRequestID) {
				t.Errorf("request_id %q differs from X-Request-Id %q", e.RequestID, got.header.Get(HeaderRequestID))
			}
			if l := tg.Ledger(); l.Executions != 0 {
				t.Errorf("ledger = %+v, want no execution", l)
			}
		})
	}
}

func TestAuthHeaders(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"bearer", map[string]string{"Authorization": "Bearer sk_1"}, 201},
		{"bearer lower case", map[string]string{"Authorization": "bearer sk_1"}, 201},
		{"x-api-key", map[string]string{"X-Api-Key": "sk_1"}, 201},
		{"none", nil, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newServer(t, Options{})
			if got := do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, header: tt.header}); got.status != tt.want {
				t.Errorf("status = %d, want %d; body %s", got.status, tt.want, got.body)
			}
		})
	}
	_, srv := newServer(t, Options{})
	if got := do(t, srv, req{method: "GET", path: "/healthz"}); got.status != 200 {
		t.Errorf("healthz = %d, want 200 without a key", got.status)
	}
}

func TestE164(t *testing.T) {
	tests := []struct {
		name, number string
		want         int
	}{
		{"us", `"+14155550100"`, 201},
		{"shortest", `"+12"`, 201},
		{"fifteen digits", `"+123456789012345"`, 201},
		{"sixteen digits", `"+1234567890123456"`, 400},
		{"no plus", `"14155550100"`, 400},
		{"leading zero", `"+04155550100"`, 400},
		{"one digit", `"+1"`, 400},
		{"spaces", `"+1 415 555 0100"`, 400},
		{"trailing newline", `"+14155550100\n"`, 400},
		{"number", `14155550100`, 400},
		{"empty", `""`, 400},
		{"null", `null`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newServer(t, Options{})
			got := do(t, srv, req{method: "POST", path: "/v1/calls", key: "k", body: `{"to_number":` + tt.number + `}`})
			if got.status != tt.want {
				t.Fatalf("status = %d, want %d; body %s", got.status, tt.want, got.body)
			}
			if tt.want == 400 {
				if e := errorOf(t, got.body); e.Code != CodeValidationFailed || e.Field != "to_number" {
					t.Errorf("error = %+v, want validation_failed on to_number", e)
				}
			}
		})
	}
	_, srv := newServer(t, Options{})
	got := do(t, srv, req{method: "POST", path: "/v1/calls", key: "k", body: `{"agent_id":"a"}`})
	if e := errorOf(t, got.body); got.status != 400 || e.Field != "to_number" {
		t.Errorf("missing to_number = %d %+v, want 400 on to_number", got.status, e)
	}
}

func TestIdempotentReplay(t *testing.T) {
	tg, srv := newServer(t, Options{})
	first := do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k1", idem: "key-1", op: "op-1"})
	if first.status != 201 || first.header.Get(HeaderReplayed) != "" {
		t.Fatalf("first = %d replayed=%q, want a fresh 201", first.status, first.header.Get(HeaderReplayed))
	}
	for i := range 3 {
		again := do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k1", idem: "key-1", op: "op-1"})
		if again.status != 201 || !bytes.Equal(again.body, first.body) {
			t.Errorf("replay %d = %d %s, want 201 %s", i, again.status, again.body, first.body)
		}
		if again.header.Get(HeaderReplayed) != "true" || again.header.Get(HeaderExecuted) != "" {
			t.Errorf("replay %d headers: replayed=%q executed=%q, want true and none", i,
				again.header.Get(HeaderReplayed), again.header.Get(HeaderExecuted))
		}
		if again.header.Get("Location") != first.header.Get("Location") {
			t.Errorf("replay Location = %q, want %q", again.header.Get("Location"), first.header.Get("Location"))
		}
	}
	// The key is scoped to the API key: another client with the same key executes.
	other := do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k2", idem: "key-1", op: "op-2"})
	if other.status != 201 || other.header.Get(HeaderReplayed) != "" {
		t.Errorf("other API key = %d replayed=%q, want a fresh 201", other.status, other.header.Get(HeaderReplayed))
	}
	if l := tg.Ledger(); l.Executions != 2 || l.ByOp["op-1"] != 1 || l.Duplicates != 0 {
		t.Errorf("ledger = %+v, want op-1 and op-2 executed once each", l)
	}
}

func TestIdempotencyKeyReusedWithDifferentBody(t *testing.T) {
	tests := []struct {
		name, path, body string
	}{
		{"different body", "/v1/calls", `{"to_number":"+14155550199"}`},
		{"different path", "/v1/agents", callBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, srv := newServer(t, Options{})
			do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k", idem: "key-1"})
			got := do(t, srv, req{method: "POST", path: tt.path, body: tt.body, key: "k", idem: "key-1"})
			if got.status != http.StatusUnprocessableEntity || errorOf(t, got.body).Code != CodeIdempotencyKeyReused {
				t.Errorf("reuse = %d %s, want 422 idempotency_key_reused", got.status, got.body)
			}
			if l := tg.Ledger(); l.Executions != 1 {
				t.Errorf("executions = %d, want 1", l.Executions)
			}
		})
	}
}

func TestIdempotencyInFlight(t *testing.T) {
	tg, srv := newServer(t, Options{Latency: 300 * time.Millisecond})
	var wg sync.WaitGroup
	var first resp
	wg.Go(func() {
		first = do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k", idem: "key-1", op: "op-1"})
	})
	waitFor(t, func() bool {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		return len(tg.idem) == 1
	})
	second := do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k", idem: "key-1", op: "op-1"})
	if second.status != http.StatusConflict || errorOf(t, second.body).Code != CodeIdempotencyInFlight {
		t.Errorf("second = %d %s, want 409 idempotency_in_flight", second.status, second.body)
	}
	wg.Wait()
	if first.status != 201 {
		t.Errorf("first = %d, want 201", first.status)
	}
	third := do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k", idem: "key-1", op: "op-1"})
	if third.status != 201 || third.header.Get(HeaderReplayed) != "true" {
		t.Errorf("after completion = %d replayed=%q, want a 201 replay", third.status, third.header.Get(HeaderReplayed))
	}
	if l := tg.Ledger(); l.Executions != 1 {
		t.Errorf("executions = %d, want 1", l.Executions)
	}
}

func TestAbandonedRequestReleasesKey(t *testing.T) {
	tg, srv := newServer(t, Options{Latency: 2 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	r, err := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/calls", strings.NewReader(callBody))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer k")
	r.Header.Set(HeaderIdempotencyKey, "key-1")
	done := make(chan error, 1)
	go func() {
		res, err := srv.Client().Do(r)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	waitFor(t, func() bool {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		return len(tg.idem) == 1
	})
	cancel()
	if err := <-done; err == nil {
		t.Fatalf("cancelled request succeeded")
	}
	waitFor(t, func() bool {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		return len(tg.idem) == 0
	})
	if l := tg.Ledger(); l.Executions != 0 {
		t.Errorf("abandoned request executed: %+v", l)
	}
}

func TestIdempotencyTTL(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 5, 6, 10, 0, 0, 0, time.UTC)}
	tg, srv := newServer(t, Options{IdempotencyTTL: time.Hour, Now: clock.Now})
	post := func() resp {
		return do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k", idem: "key-1", op: "op-1"})
	}
	tests := []struct {
		name       string
		advance    time.Duration
		replayed   bool
		executions int64
	}{
		{"first", 0, false, 1},
		{"within ttl", 59 * time.Minute, true, 1},
		{"just before expiry", time.Minute - time.Nanosecond, true, 1},
		{"at expiry", time.Nanosecond, false, 2},
		{"stored again", 30 * time.Minute, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Advance(tt.advance)
			got := post()
			if got.status != 201 || (got.header.Get(HeaderReplayed) == "true") != tt.replayed {
				t.Errorf("status %d replayed=%q, want 201 replayed=%v", got.status, got.header.Get(HeaderReplayed), tt.replayed)
			}
			if l := tg.Ledger(); l.Executions != tt.executions {
				t.Errorf("executions = %d, want %d", l.Executions, tt.executions)
			}
		})
	}
	if l := tg.Ledger(); l.Duplicates != 1 || l.ByOp["op-1"] != 2 {
		t.Errorf("ledger = %+v, want op-1 executed twice (the key expired)", l)
	}
}

func TestEvictionBoundsMemory(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 5, 6, 10, 0, 0, 0, time.UTC)}
	tg := New(Options{IdempotencyTTL: time.Minute, Now: clock.Now})
	for i := range 5000 {
		r := httptest.NewRequest("POST", "/v1/calls", strings.NewReader(callBody))
		r.Header.Set("Authorization", "Bearer k")
		r.Header.Set(HeaderIdempotencyKey, fmt.Sprintf("key-%d", i))
		w := httptest.NewRecorder()
		tg.ServeHTTP(w, r)
		if w.Code != 201 {
			t.Fatalf("create %d = %d", i, w.Code)
		}
		clock.Advance(time.Second)
	}
	tg.mu.Lock()
	n, q := len(tg.idem), len(tg.expiries)
	tg.mu.Unlock()
	// One key per second with a one-minute TTL: about 60 keys live at any time.
	if n > 61 || q > 61 {
		t.Errorf("store holds %d keys (%d queued), want at most 61", n, q)
	}
}

// TestContracts runs the same sequence under both idempotency contracts: a request that
// fails validation, the same request again with the same key, then a corrected request
// with the same key.
func TestContracts(t *testing.T) {
	bad := `{"to_number":"4155550100"}`
	tests := []struct {
		name           string
		contract       string
		retryReplayed  bool // the identical retry is answered from the store
		fixedStatus    int  // the corrected request with the same key
		wantExecutions int64
	}{
		{"replay-success", IdempotencyReplaySuccess, false, 201, 1},
		{"default is replay-success", "", false, 201, 1},
		{"replay-all", IdempotencyReplayAll, true, 422, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, srv := newServer(t, Options{Idempotency: tt.contract})
			first := do(t, srv, req{method: "POST", path: "/v1/calls", body: bad, key: "k", idem: "key-1"})
			if first.status != 400 {
				t.Fatalf("first = %d, want 400", first.status)
			}
			retry := do(t, srv, req{method: "POST", path: "/v1/calls", body: bad, key: "k", idem: "key-1"})
			if retry.status != 400 || (retry.header.Get(HeaderReplayed) == "true") != tt.retryReplayed {
				t.Errorf("retry = %d replayed=%q, want 400 replayed=%v", retry.status, retry.header.Get(HeaderReplayed), tt.retryReplayed)
			}
			if sameID := errorOf(t, retry.body).RequestID == errorOf(t, first.body).RequestID; sameID != tt.retryReplayed {
				t.Errorf("retry request_id equal to the first: %v, want %v", sameID, tt.retryReplayed)
			}
			fixed := do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k", idem: "key-1"})
			if fixed.status != tt.fixedStatus {
				t.Errorf("corrected request = %d %s, want %d", fixed.status, fixed.body, tt.fixedStatus)
			}
			if l := tg.Ledger(); l.Executions != tt.wantExecutions {
				t.Errorf("executions = %d, want %d", l.Executions, tt.wantExecutions)
			}
		})
	}
}

func TestLedgerDuplicates(t *testing.T) {
	tests := []struct {
		name       string
		reqs       []req
		executions int64
		duplicates int64
		byOp       map[string]int
	}{
		{
			name: "same op, two keys",
			reqs: []req{
				{idem: "a", op: "op-1"}, {idem: "b", op: "op-1"},
			},
			executions: 2, duplicates: 1, byOp: map[string]int{"op-1": 2},
		},
		{
			name: "same op, same key",
			reqs: []req{
				{idem: "a", op: "op-1"}, {idem: "a", op: "op-1"},
			},
			executions: 1, duplicates: 0, byOp: map[string]int{"op-1": 1},
		},
		{
			name: "same op, no key, three times",
			reqs: []req{
				{op: "op-1"}, {op: "op-1"}, {op: "op-1"}, {op: "op-2"},
			},
			executions: 4, duplicates: 1, byOp: map[string]int{"op-1": 3, "op-2": 1},
		},
		{
			name: "no op header",
			reqs: []req{
				{}, {},
			},
			executions: 2, duplicates: 0, byOp: map[string]int{NoOp: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, srv := newServer(t, Options{})
			for _, q := range tt.reqs {
				q.method, q.path, q.body, q.key = "POST", "/v1/calls", callBody, "k"
				if got := do(t, srv, q); got.status != 201 {
					t.Fatalf("create = %d %s", got.status, got.body)
				}
			}
			l := tg.Ledger()
			if l.Executions != tt.executions || l.Duplicates != tt.duplicates {
				t.Errorf("ledger = %+v, want %d executions, %d duplicates", l, tt.executions, tt.duplicates)
			}
			if fmt.Sprint(l.ByOp) != fmt.Sprint(tt.byOp) {
				t.Errorf("ByOp = %v, want %v", l.ByOp, tt.byOp)
			}
			l.ByOp["mutated"] = 1
			if _, leaked := tg.Ledger().ByOp["mutated"]; leaked {
				t.Errorf("Ledger returned the live map, want a snapshot")
			}
		})
	}
}

func TestOpHeaderOption(t *testing.T) {
	tg, srv := newServer(t, Options{OpHeader: "X-Corr"})
	do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k", header: map[string]string{"X-Corr": "c-1"}})
	if l := tg.Ledger(); l.ByOp["c-1"] != 1 {
		t.Errorf("ByOp = %v, want c-1 counted", l.ByOp)
	}
}

func TestReset(t *testing.T) {
	tg, srv := newServer(t, Options{})
	first := do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k", idem: "key-1", op: "op-1"})
	tg.Reset()
	if got := do(t, srv, req{method: "GET", path: first.header.Get("Location"), key: "k"}); got.status != 404 {
		t.Errorf("GET after reset = %d, want 404", got.status)
	}
	again := do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k", idem: "key-1", op: "op-1"})
	if again.header.Get(HeaderReplayed) != "" || again.header.Get("Location") == first.header.Get("Location") {
		t.Errorf("after reset: replayed=%q Location=%q, want a fresh resource", again.header.Get(HeaderReplayed), again.header.Get("Location"))
	}
	if l := tg.Ledger(); l.Executions != 2 || l.Duplicates != 1 {
		t.Errorf("ledger = %+v, want it kept across Reset", l)
	}
}

func TestDeterministicUniqueIDs(t *testing.T) {
	ids := func(seed int64) []string {
		tg := New(Options{Seed: seed})
		var out []string
		for range 200 {
			r := httptest.NewRequest("POST", "/v1/agents", strings.NewReader(`{"name":"a"}`))
			r.Header.Set("X-Api-Key", "k")
			w := httptest.NewRecorder()
			tg.ServeHTTP(w, r)
			out = append(out, w.Header().Get("Location"))
		}
		return out
	}
	a, b, c := ids(7), ids(7), ids(8)
	seen := map[string]bool{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("id %d differs for the same seed: %s vs %s", i, a[i], b[i])
		}
		if seen[a[i]] {
			t.Fatalf("id %s repeated", a[i])
		}
		seen[a[i]] = true
	}
	if a[0] == c[0] {
		t.Errorf("seeds 7 and 8 gave the same first id %s", a[0])
	}
}

func TestLatency(t *testing.T) {
	_, srv := newServer(t, Options{Latency: 40 * time.Millisecond, LatencyJitter: 20 * time.Millisecond})
	start := time.Now()
	do(t, srv, req{method: "GET", path: "/v1/calls/call_x", key: "k"})
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("request took %v, want at least the 40ms latency", d)
	}
}

func TestFromProfile(t *testing.T) {
	p := &profile.Profile{Seed: 42}
	p.Builtin.Latency = profile.Duration(2 * time.Millisecond)
	p.Builtin.LatencyJitter = profile.Duration(time.Millisecond)
	p.Builtin.Idempotency = IdempotencyReplayAll
	p.Builtin.IdempotencyTTL = profile.Duration(time.Hour)
	p.Proxy.OpHeader = "X-Op"
	got := FromProfile(p)
	want := Options{Latency: 2 * time.Millisecond, LatencyJitter: time.Millisecond, Idempotency: IdempotencyReplayAll,
		IdempotencyTTL: time.Hour, OpHeader: "X-Op", Seed: 42}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("FromProfile = %+v, want %+v", got, want)
	}
	if got := FromProfile(nil); got.Seed != 0 || got.Idempotency != "" {
		t.Errorf("FromProfile(nil) = %+v, want zero Options", got)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCountBounds(t *testing.T) {
	oldRes, oldKeys := maxResources, maxIdemKeys
	maxResources, maxIdemKeys = 50, 30
	t.Cleanup(func() { maxResources, maxIdemKeys = oldRes, oldKeys })

	tg, srv := newServer(t, Options{})
	var locs []string
	for i := range 120 {
		got := do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k", idem: fmt.Sprintf("key-%d", i)})
		if got.status != 201 {
			t.Fatalf("create %d = %d", i, got.status)
		}
		locs = append(locs, got.header.Get("Location"))
	}
	tg.mu.Lock()
	nres, nkeys := len(tg.resources), len(tg.idem)
	tg.mu.Unlock()
	if nres != 50 || nkeys != 30 {
		t.Errorf("holding %d resources and %d keys, want 50 and 30", nres, nkeys)
	}
	tests := []struct {
		name string
		i    int
		want int
	}{
		{"oldest forgotten", 0, 404},
		{"last forgotten", 69, 404},
		{"oldest kept", 70, 200},
		{"newest kept", 119, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := do(t, srv, req{method: "GET", path: locs[tt.i], key: "k"}); got.status != tt.want {
				t.Errorf("GET resource %d = %d, want %d", tt.i, got.status, tt.want)
			}
		})
	}
	// The newest keys still replay; the oldest were forgotten and execute again.
	if got := do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k", idem: "key-119"}); got.header.Get(HeaderReplayed) != "true" {
		t.Errorf("newest key not replayed")
	}
	if got := do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k", idem: "key-0"}); got.header.Get(HeaderReplayed) != "" {
		t.Errorf("oldest key still replayed past the bound")
	}
}

// TestFailHeader: a target-side 5xx is stored and replayed under replay-all only.
func TestFailHeader(t *testing.T) {
	fail := map[string]string{HeaderFail: "503"}
	tests := []struct {
		name          string
		contract      string
		retryStatus   int
		retryReplayed bool
		executions    int64
	}{
		{"replay-success retries execute", IdempotencyReplaySuccess, 201, false, 1},
		{"replay-all replays the failure", IdempotencyReplayAll, 503, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, srv := newServer(t, Options{Idempotency: tt.contract})
			first := do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k", idem: "key-1", op: "op-1", header: fail})
			if first.status != 503 || errorOf(t, first.body).Code != "service_unavailable" || first.header.Get(HeaderExecuted) != "" {
				t.Fatalf("failed create = %d %s executed=%q, want 503 service_unavailable, not executed",
					first.status, first.body, first.header.Get(HeaderExecuted))
			}
			retry := do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k", idem: "key-1", op: "op-1"})
			if retry.status != tt.retryStatus || (retry.header.Get(HeaderReplayed) == "true") != tt.retryReplayed {
				t.Errorf("retry = %d replayed=%q, want %d replayed=%v", retry.status, retry.header.Get(HeaderReplayed),
					tt.retryStatus, tt.retryReplayed)
			}
			if l := tg.Ledger(); l.Executions != tt.executions {
				t.Errorf("executions = %d, want %d", l.Executions, tt.executions)
			}
		})
	}
	_, srv := newServer(t, Options{})
	for _, tc := range []struct {
		value string
		want  int
	}{{"500", 500}, {"504", 504}, {"404", 201}, {"x", 201}} {
		got := do(t, srv, req{method: "POST", path: "/v1/calls", body: callBody, key: "k", header: map[string]string{HeaderFail: tc.value}})
		if got.status != tc.want {
			t.Errorf("%s: %s = %d, want %d", HeaderFail, tc.value, got.status, tc.want)
		}
	}
	if got := do(t, srv, req{method: "GET", path: "/v1/calls/call_x", key: "k", header: fail}); got.status != 503 {
		t.Errorf("GET with %s = %d, want 503", HeaderFail, got.status)
	}
}
