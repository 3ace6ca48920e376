package proxy

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
)

func TestPassThroughJournalsEveryField(t *testing.T) {
	h := newHarness(t, nil, nil)
	const key = "sk_live_secret_123"
	resp, body := h.mustDo(req{method: "POST", path: "/v1/calls?x=1", body: `{"to_number":"+14155550100"}`,
		headers: hdr("Authorization", "Bearer "+key, "Idempotency-Key", "idem-1", "X-Retrylab-Op", "op-1")})
	if resp.StatusCode != 201 || body != "ok POST /v1/calls?x=1" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Upstream-Host"); got != strings.TrimPrefix(h.upstream.URL, "http://") {
		t.Errorf("upstream saw Host %q, want the target's", got)
	}
	if resp.Header.Get("X-Upstream-Auth") != "Bearer "+key {
		t.Errorf("Authorization not forwarded to the target")
	}
	h.mustDo(req{path: "/v1/calls/1", headers: hdr("X-Api-Key", key, "X-Retrylab-Op", "op-1")})
	// Header names are case-insensitive.
	out := h.raw("GET /v1/calls/2 HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: bearer " + key + "\r\nx-retrylab-op: op-1\r\nconnection: close\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 200") {
		t.Fatalf("lowercase headers: %q", out)
	}
	recs := h.records()
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	if recs[2].Client != journal.HashKey(key) || recs[2].Attempt != 3 {
		t.Errorf("lowercase headers: record %+v", recs[2])
	}
	r := recs[0]
	want := journal.Record{Seq: 1, Client: journal.HashKey(key), Method: "POST", Path: "/v1/calls", Op: "op-1",
		IdemKey: "idem-1", BodyHash: fmt.Sprintf("%016x", fnv64([]byte(`{"to_number":"+14155550100"}`))), Attempt: 1,
		Action: "forward", Status: 201, RetryAfterMs: -1, UpstreamStatus: 201, Executed: true}
	r.Time, r.Mono, r.DurNs = 0, 0, 0
	if r != want {
		t.Errorf("record\n got %+v\nwant %+v", r, want)
	}
	if recs[0].Time == 0 || recs[0].DurNs <= 0 {
		t.Errorf("time %d dur %d", recs[0].Time, recs[0].DurNs)
	}
	// X-Api-Key is the same client; GET is never executed; same op = attempt 2.
	if g := recs[1]; g.Client != want.Client || g.Attempt != 2 || g.Executed || g.Method != "GET" || g.BodyHash != "" {
		t.Errorf("second record %+v", g)
	}
	if bytes.Contains(h.buf.Bytes(), []byte(key)) {
		t.Error("the API key reached the journal")
	}
}

func TestFingerprintCorrelation(t *testing.T) {
	h := newHarness(t, nil, nil)
	a := req{method: "POST", path: "/v1/agents", body: `{"name":"a"}`, headers: hdr("X-Api-Key", "k1")}
	h.mustDo(a)
	h.mustDo(a)
	b := a
	b.body = `{"name":"b"}`
	h.mustDo(b)
	c := a
	c.headers = hdr("X-Api-Key", "k2")
	h.mustDo(c)
	recs := h.records()
	got := []int{recs[0].Attempt, recs[1].Attempt, recs[2].Attempt, recs[3].Attempt}
	if fmt.Sprint(got) != "[1 2 1 1]" {
		t.Errorf("attempts %v, want [1 2 1 1]", got)
	}
	if recs[0].Op != recs[1].Op || recs[0].Op == recs[2].Op || recs[0].Op == recs[3].Op || !strings.HasPrefix(recs[0].Op, "fp_") {
		t.Errorf("ops %q %q %q %q", recs[0].Op, recs[1].Op, recs[2].Op, recs[3].Op)
	}
}

func TestHostileRequestsAreRejected(t *testing.T) {
	prof := &profile.Profile{Proxy: profile.Proxy{MaxHeaderBytes: 4096, MaxBodyBytes: 1024}}
	h := newHarness(t, prof, nil)
	tests := []struct {
		name   string
		raw    string
		status int
	}{
		{"absolute-form URI", "GET http://169.254.169.254/latest HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 400},
		{"absolute-form URI to the target's own address", "GET " + h.upstream.URL + "/v1/calls HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 400},
		{"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n", 400},
		{"Host header naming another host", "GET /v1/calls HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", 400},
		{"Host header with a loopback-looking name", "GET /v1/calls HTTP/1.1\r\nHost: 127.0.0.1.evil.com\r\nConnection: close\r\n\r\n", 400},
		{"scheme-relative path", "GET //example.com/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 400},
		{"header larger than the limit", "GET /v1/calls HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer secret-in-big-header\r\nX-Big: " + strings.Repeat("a", 5000) + "\r\nConnection: close\r\n\r\n", 431},
		{"body larger than the limit", "POST /v1/calls HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n" + strings.Repeat("b", 2000), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := h.raw(tt.raw)
			if !strings.HasPrefix(out, fmt.Sprintf("HTTP/1.1 %d ", tt.status)) {
				t.Errorf("got %q, want status %d", out, tt.status)
			}
		})
	}
	// A loopback Host is fine.
	if resp, _ := h.mustDo(req{path: "/ok"}); resp.StatusCode != 200 {
		t.Errorf("loopback request got %d", resp.StatusCode)
	}
	recs := h.records()
	if len(recs) != len(tests)+1 {
		t.Fatalf("%d records, want %d", len(recs), len(tests)+1)
	}
	for i, tt := range tests {
		if recs[i].Action != journal.ActionReject || recs[i].Status != tt.status || recs[i].Err == "" {
			t.Errorf("%s: record %+v", tt.name, recs[i])
		}
	}
	if n := h.hits.count(); n != 1 {
		t.Errorf("target saw %d requests, want 1", n)
	}
	if bytes.Contains(h.buf.Bytes(), []byte("secret-in-big-header")) {
		t.Error("a credential reached the journal")
	}
	if st := h.p.Stats(); st.Rejected != int64(len(tests)) || st.Requests != int64(len(tests)+1) || st.Forwarded != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestLoopbackHost(t *testing.T) {
	tests := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1", true}, {"127.0.0.1:8080", true}, {"127.1.2.3:1", true}, {"localhost", true},
		{"LOCALHOST:99", true}, {"[::1]", true}, {"[::1]:8080", true},
		{"", false}, {"example.com", false}, {"127.0.0.1.nip.io", false}, {"127.0.0.256", false},
		{"127.0.0.1:80x", false}, {"[::2]:80", false}, {"[::1", false}, {"10.0.0.1", false}, {"127.0.0", false}, {"127.00.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if got := loopbackHost([]byte(tt.host)); got != tt.ok {
				t.Errorf("loopbackHost(%q) = %v, want %v", tt.host, got, tt.ok)
			}
		})
	}
}

func TestMatching(t *testing.T) {
	clients := []profile.Client{{Name: "alice", Key: "key-alice"}, {Name: "bob", Key: "key-bob"}}
	respond := func(name string, m profile.Match) profile.Fault {
		return profile.Fault{Name: name, Action: "respond", Status: 503, Match: m}
	}
	tests := []struct {
		name  string
		rules []profile.Fault
		req   req
		rule  string // "" = forwarded
	}{
		{"method matches", []profile.Fault{respond("r", profile.Match{Method: "POST"})}, req{method: "POST", path: "/v1/calls"}, "r"},
		{"method differs", []profile.Fault{respond("r", profile.Match{Method: "POST"})}, req{path: "/v1/calls"}, ""},
		{"path prefix", []profile.Fault{respond("r", profile.Match{Path: "/v1/calls"})}, req{path: "/v1/calls/42"}, "r"},
		{"path prefix differs", []profile.Fault{respond("r", profile.Match{Path: "/v1/calls"})}, req{path: "/v1/agents"}, ""},
		{"path glob", []profile.Fault{respond("r", profile.Match{Path: "/v1/*/status"})}, req{path: "/v1/calls/status"}, "r"},
		{"path glob is anchored", []profile.Fault{respond("r", profile.Match{Path: "/v1/*/status"})}, req{path: "/v1/calls/42/status"}, ""},
		{"glob character class", []profile.Fault{respond("r", profile.Match{Path: "/v[12]/calls"})}, req{path: "/v2/calls"}, "r"},
		{"header present", []profile.Fault{respond("r", profile.Match{Headers: hdr("X-Debug", "*")})}, req{path: "/", headers: hdr("X-Debug", "0")}, "r"},
		{"header absent", []profile.Fault{respond("r", profile.Match{Headers: hdr("X-Debug", "*")})}, req{path: "/"}, ""},
		{"header value", []profile.Fault{respond("r", profile.Match{Headers: hdr("X-Tier", "gold")})}, req{path: "/", headers: hdr("X-Tier", "gold")}, "r"},
		{"header value differs", []profile.Fault{respond("r", profile.Match{Headers: hdr("X-Tier", "gold")})}, req{path: "/", headers: hdr("X-Tier", "silver")}, ""},
		{"client by name", []profile.Fault{respond("r", profile.Match{Client: "alice"})}, req{path: "/", headers: hdr("Authorization", "Bearer key-alice")}, "r"},
		{"client by name, other client", []profile.Fault{respond("r", profile.Match{Client: "alice"})}, req{path: "/", headers: hdr("Authorization", "Bearer key-bob")}, ""},
		{"client by key", []profile.Fault{respond("r", profile.Match{Client: "key-carol"})}, req{path: "/", headers: hdr("X-Api-Key", "key-carol")}, "r"},
		{"client by hash", []profile.Fault{respond("r", profile.Match{Client: journal.HashKey("key-bob")})}, req{path: "/", headers: hdr("X-Api-Key", "key-bob")}, "r"},
		{"first matching rule wins", []profile.Fault{respond("a", profile.Match{Path: "/x"}), respond("b", profile.Match{}), respond("c", profile.Match{})}, req{path: "/y"}, "b"},
		{"disabled rule is skipped", []profile.Fault{{Name: "a", Action: "respond", Disabled: true}, respond("b", profile.Match{})}, req{path: "/"}, "b"},
		{"probability 0 never fires", []profile.Fault{{Name: "a", Action: "respond", Probability: profile.Probability{P: 0, Set: true}}}, req{path: "/"}, ""},
		{"attempts: first attempt only", []profile.Fault{{Name: "a", Action: "respond", Attempts: []int{1}}}, req{path: "/"}, "a"},
		{"attempts: not the first", []profile.Fault{{Name: "a", Action: "respond", Attempts: []int{2}}}, req{path: "/"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, &profile.Profile{Clients: clients, Faults: tt.rules}, nil)
			resp, _ := h.mustDo(tt.req)
			recs := h.records()
			if len(recs) != 1 {
				t.Fatalf("%d records", len(recs))
			}
			if recs[0].Rule != tt.rule {
				t.Errorf("rule %q, want %q", recs[0].Rule, tt.rule)
			}
			wantStatus := 503
			if tt.rule == "" {
				wantStatus = 200
			}
			if resp.StatusCode != wantStatus || recs[0].Status != wantStatus {
				t.Errorf("status %d journaled %d, want %d", resp.StatusCode, recs[0].Status, wantStatus)
			}
		})
	}
}

func TestWindowsAndFlaps(t *testing.T) {
	clk := &fakeClock{t: epoch}
	rules := []profile.Fault{
		{Name: "window", Action: "respond", Status: 502, Match: profile.Match{Path: "/w"},
			From: profile.Duration(10 * time.Second), To: profile.Duration(20 * time.Second)},
		{Name: "flap", Action: "respond", Status: 503, Match: profile.Match{Path: "/f"},
			From: profile.Duration(5 * time.Second), Every: profile.Duration(10 * time.Second), For: profile.Duration(2 * time.Second)},
	}
	h := newHarness(t, &profile.Profile{Faults: rules}, nil, withClock(clk))
	tests := []struct {
		at     time.Duration
		path   string
		status int
	}{
		{0, "/w", 200}, {10*time.Second - 1, "/w", 200}, {10 * time.Second, "/w", 502},
		{20*time.Second - 1, "/w", 502}, {20 * time.Second, "/w", 200},
		{0, "/f", 200}, {5 * time.Second, "/f", 503}, {7*time.Second - 1, "/f", 503}, {7 * time.Second, "/f", 200},
		{15 * time.Second, "/f", 503}, {16 * time.Second, "/f", 503}, {17 * time.Second, "/f", 200},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s at %v", tt.path, tt.at), func(t *testing.T) {
			clk.Set(epoch.Add(tt.at))
			resp, _ := h.mustDo(req{path: tt.path, headers: hdr("X-Retrylab-Op", fmt.Sprint(tt.path, tt.at))})
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
	recs := h.records()
	if recs[2].Mono != int64(10*time.Second) {
		t.Errorf("mono %d, want %d", recs[2].Mono, int64(10*time.Second))
	}
}

// decisions sends n operations, in the given order, concurrently with the given
// parallelism, and returns for each op whether the probabilistic rule fired.
func decisions(t *testing.T, seed int64, order []int, parallel int) map[string]string {
	rules := []profile.Fault{
		{Name: "coin", Action: "respond", Status: 503, Probability: profile.Probability{P: 0.5, Set: true}},
	}
	h := newHarness(t, &profile.Profile{Faults: rules}, nil, withSeed(seed))
	var wg sync.WaitGroup
	ch := make(chan int)
	for range parallel {
		wg.Go(func() {
			for i := range ch {
				op := fmt.Sprintf("op-%d", i)
				h.mustDo(req{path: "/", headers: hdr("X-Retrylab-Op", op)})
				h.mustDo(req{path: "/", headers: hdr("X-Retrylab-Op", op)})
			}
		})
	}
	for _, i := range order {
		ch <- i
	}
	close(ch)
	wg.Wait()
	out := map[string]string{}
	for _, r := range h.records() {
		out[fmt.Sprintf("%s#%d", r.Op, r.Attempt)] = r.Rule
	}
	return out
}

func TestSameSeedSameDecisions(t *testing.T) {
	const n = 100
	fwd, rev := make([]int, n), make([]int, n)
	for i := range n {
		fwd[i], rev[i] = i, n-1-i
	}
	a := decisions(t, 42, fwd, 1)
	b := decisions(t, 42, rev, 8)
	c := decisions(t, 43, fwd, 4)
	if len(a) != 2*n || len(b) != 2*n {
		t.Fatalf("%d and %d decisions, want %d", len(a), len(b), 2*n)
	}
	fired, differ := 0, 0
	for k, v := range a {
		if b[k] != v {
			t.Errorf("%s: %q with one order, %q with another", k, v, b[k])
		}
		if v != "" {
			fired++
		}
		if c[k] != v {
			differ++
		}
	}
	if fired < n/2 || fired > 3*n/2 {
		t.Errorf("probability 0.5 fired %d of %d times", fired, 2*n)
	}
	if differ == 0 {
		t.Error("another seed gave exactly the same decisions")
	}
}

func TestShutdownLosesNoRecord(t *testing.T) {
	rules := []profile.Fault{{Name: "slow", Action: "delay", Delay: profile.Duration(300 * time.Millisecond), When: "after"}}
	h := newHarness(t, &profile.Profile{Faults: rules}, nil)
	const n = 20
	recs, statuses := h.shutdownWhileInFlight(n) // Shutdown while all n wait in their delay
	if len(recs) != n {
		t.Fatalf("%d records after shutdown, want %d", len(recs), n)
	}
	for _, r := range recs {
		if r.Status != 200 || r.Rule != "slow" {
			t.Errorf("record %+v", r)
		}
	}
	for _, s := range statuses {
		if s != 200 {
			t.Errorf("client got %d", s)
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name   string
		target string
		prof   *profile.Profile
	}{
		{"no target", "", nil},
		{"https target", "https://127.0.0.1:1", nil},
		{"target with a path", "http://127.0.0.1:1/base", nil},
		{"target off loopback", "http://10.0.0.1:80", nil},
		{"unknown fault", "http://127.0.0.1:1", &profile.Profile{Faults: []profile.Fault{{Name: "x", Action: "explode"}}}},
		{"duplicate rule", "http://127.0.0.1:1", &profile.Profile{Faults: []profile.Fault{{Name: "x", Action: "reset"}, {Name: "x", Action: "reset"}}}},
		{"bad glob", "http://127.0.0.1:1", &profile.Profile{Faults: []profile.Fault{{Name: "x", Action: "reset", Match: profile.Match{Path: "/["}}}}},
		{"bad attempts", "http://127.0.0.1:1", &profile.Profile{Faults: []profile.Fault{{Name: "x", Action: "reset", Attempts: []int{0}}}}},
		{"bad limit", "http://127.0.0.1:1", &profile.Profile{RateLimits: []profile.RateLimit{{Limit: 0}}}},
		{"bad header mode", "http://127.0.0.1:1", &profile.Profile{Proxy: profile.Proxy{RateLimitHeaders: "all"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(Config{Target: tt.target, Profile: tt.prof}); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestForwardFailureIs502(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.upstream.Close()
	resp, body := h.mustDo(req{path: "/x"})
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "bad_gateway") {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	recs := h.records()
	if len(recs) != 1 || recs[0].Err == "" || recs[0].UpstreamStatus != 0 || recs[0].Status != 502 {
		t.Errorf("records %+v", recs)
	}
}

// FuzzLoopbackHost checks that every Host the proxy accepts names a loopback address.
func FuzzLoopbackHost(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "127.0.0.1:80", "[::1]:8080", "localhost", "example.com", "127.0.0.1.evil", "[::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if !loopbackHost([]byte(host)) {
			return
		}
		h := host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			h = hh
		} else {
			h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		}
		if strings.EqualFold(h, "localhost") {
			return
		}
		ip := net.ParseIP(h)
		if ip == nil || !ip.IsLoopback() {
			t.Fatalf("accepted %q, which is not loopback", host)
		}
	})
}
