package proxy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/retrylab/retrylab/internal/profile"
)

func TestAdminAPI(t *testing.T) {
	var resets atomic.Int32
	prof := &profile.Profile{
		Clients:    []profile.Client{{Name: "alice", Key: "key-alice"}},
		RateLimits: []profile.RateLimit{{Name: "one", Limit: 1}},
		Faults: []profile.Fault{
			{Name: "boom", Action: "respond", Status: 500, Match: profile.Match{Path: "/boom"}},
			{Name: "secret-client", Action: "reset", Match: profile.Match{Client: "key-secret", Path: "/never"}},
		},
	}
	h := newHarness(t, prof, nil, withToken("s3cret"), withReset(func() { resets.Add(1) }), withClock(&fakeClock{t: epoch}))
	admin := httptest.NewServer(h.p.AdminHandler())
	defer admin.Close()

	call := func(method, path, body, token string) (int, string) {
		t.Helper()
		r, _ := http.NewRequest(method, admin.URL+path, strings.NewReader(body))
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	proxied := func(path string) int {
		resp, _ := h.mustDo(req{path: path, headers: hdr("X-Api-Key", "key-alice")})
		return resp.StatusCode
	}

	if got := proxied("/boom"); got != 500 {
		t.Fatalf("/boom %d", got)
	}
	tests := []struct {
		name     string
		method   string
		path     string
		body     string
		token    string
		status   int
		contains string
	}{
		{"no token", "GET", "/rules", "", "", 401, `"status": 401`},
		{"wrong token", "GET", "/rules", "", "nope", 401, `"error"`},
		{"list", "GET", "/rules", "", "s3cret", 200, `"name": "boom"`},
		{"list hides keys", "GET", "/rules", "", "s3cret", 200, `"client": "k_`},
		{"one rule", "GET", "/rules/boom", "", "s3cret", 200, `"status": 500`},
		{"disable", "POST", "/rules/boom/disable", "", "s3cret", 200, `"disabled": true`},
		{"disable unknown", "POST", "/rules/nope/disable", "", "s3cret", 404, `"status": 404`},
		{"bad verb", "POST", "/rules/boom/explode", "", "s3cret", 404, `"error"`},
		{"add JSON", "POST", "/rules", `{"name":"late","action":"respond","status":503,"retry_after":"2s","match":{"path":"/late"}}`, "s3cret", 201, `"retry_after": "2s"`},
		{"add duplicate", "POST", "/rules", `{"name":"late","action":"reset"}`, "s3cret", 409, `"status": 409`},
		{"add invalid", "POST", "/rules", `{"name":"bad","action":"explode"}`, "s3cret", 400, `rule.action: \"explode\" is not one of respond`},
		{"add respond without status", "POST", "/rules", `{"name":"bad","action":"respond"}`, "s3cret", 400, `rule.status: required for respond`},
		{"add field of another action", "POST", "/rules", `{"name":"bad","action":"respond","status":503,"bytes":3}`, "s3cret", 400, `rule.bytes: not used by action respond`},
		{"add probability out of range", "POST", "/rules", `{"name":"bad","action":"reset","probability":1.5}`, "s3cret", 400, `1.5 is out of range`},
		{"add unknown field", "POST", "/rules", `{"name":"bad","action":"reset","colour":"red"}`, "s3cret", 400, `colour`},
		{"add YAML", "POST", "/rules", "name: yaml\naction: delay\ndelay: 10ms\n", "s3cret", 201, `"delay": "10ms"`},
		{"delete", "DELETE", "/rules/yaml", "", "s3cret", 204, ""},
		{"delete again", "DELETE", "/rules/yaml", "", "s3cret", 404, `no rule`},
		{"wrong method", "PUT", "/rules", "", "s3cret", 405, `"status": 405`},
		{"unknown path", "GET", "/nope", "", "s3cret", 404, `"status": 404`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(tt.method, tt.path, tt.body, tt.token)
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("got %d %s, want %d containing %q", status, body, tt.status, tt.contains)
			}
			if strings.Contains(body, "key-secret") {
				t.Errorf("an API key in the admin API: %s", body)
			}
		})
	}
	// The disabled rule no longer fires; the added one does, and the limiter still runs first.
	if got := proxied("/late"); got != 429 {
		t.Errorf("/late right after /boom: %d, want 429 from the limiter", got)
	}
	status, _ := call("POST", "/reset", "", "s3cret")
	if status != 200 || resets.Load() != 1 {
		t.Fatalf("reset: %d, hook called %d times", status, resets.Load())
	}
	if got := proxied("/late"); got != 503 {
		t.Errorf("/late after reset: %d, want 503 from the added rule", got)
	}
	status, _ = call("POST", "/reset", "", "s3cret")
	if got := proxied("/boom"); got != 200 {
		t.Errorf("/boom after disable: %d, want 200", got)
	}

	status, body := call("GET", "/stats", "", "s3cret")
	var st Stats
	if err := json.Unmarshal([]byte(body), &st); err != nil || status != 200 {
		t.Fatalf("stats %d %s: %v", status, body, err)
	}
	if st.Requests != 4 || st.RateLimited != 1 || st.Faults != 2 || st.Forwarded != 1 || st.ByAction["respond"] != 2 {
		t.Errorf("stats %+v", st)
	}
	status, body = call("GET", "/metrics", "", "s3cret")
	for _, want := range []string{
		`retrylab_proxy_requests_total{action="respond",rule="boom",status="500"} 1`,
		`retrylab_proxy_requests_total{action="rate_limit",rule="one",status="429"} 1`,
		`retrylab_proxy_rate_limit_rejections_total 1`,
		`retrylab_proxy_upstream_duration_seconds_count 1`,
	} {
		if status != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

// TestFasthttpErrorsWithheld checks that fasthttp's connection errors, which quote the bytes a
// client sent, reach the log without them.
func TestFasthttpErrorsWithheld(t *testing.T) {
	var logged []string
	p := &Proxy{logf: func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }}
	fasthttpLogger{p}.Printf("error when reading request headers: %v", `malformed mime header: "Authorization Bearer rl_live_SECRET"`)
	if len(logged) != 1 || strings.Contains(logged[0], "SECRET") || !strings.Contains(logged[0], "error when reading request headers") {
		t.Errorf("logged %q", logged)
	}
}
