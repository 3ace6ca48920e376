package proxy

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
	"github.com/retrylab/retrylab/internal/target"
)

// TestRetryAfterScenario: a client making 3 tries through a rule `attempts: [1, 2]` that
// answers 503 with Retry-After: 1, waiting what Retry-After says, leaves three records at
// least one second apart, the third forwarded.
func TestRetryAfterScenario(t *testing.T) {
	rules := []profile.Fault{{Name: "flaky", Action: "respond", Status: 503, Attempts: []int{1, 2},
		RetryAfter: profile.Duration(time.Second)}}
	h := newHarness(t, &profile.Profile{Faults: rules}, nil)
	var statuses []int
	for try := 1; try <= 3; try++ {
		resp, _ := h.mustDo(req{method: "POST", path: "/v1/calls", body: `{}`,
			headers: hdr("X-Retrylab-Op", "op-ra", "Authorization", "Bearer k")})
		statuses = append(statuses, resp.StatusCode)
		if resp.StatusCode != 503 {
			break
		}
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || secs != 1 {
			t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
		time.Sleep(time.Duration(secs) * time.Second)
	}
	recs := h.records()
	if len(recs) != 3 || statuses[2] != 201 {
		t.Fatalf("statuses %v, %d records", statuses, len(recs))
	}
	for i, r := range recs {
		if r.Attempt != i+1 || r.Op != "op-ra" {
			t.Errorf("record %d: attempt %d op %q", i, r.Attempt, r.Op)
		}
		if i < 2 && (r.Rule != "flaky" || r.Status != 503 || r.RetryAfterMs != 1000 || r.RetryAfter != "") {
			t.Errorf("record %d: %+v", i, r)
		}
		if i > 0 && recs[i].Time-recs[i-1].Time < int64(time.Second) {
			t.Errorf("records %d and %d are %v apart", i-1, i, time.Duration(recs[i].Time-recs[i-1].Time))
		}
	}
	if recs[2].Rule != "" || recs[2].Action != journal.ActionForward || !recs[2].Executed {
		t.Errorf("third record %+v", recs[2])
	}
}

// TestLoseResponseDuplicatesWithoutIdempotencyKey: lose_response on the first attempt of a
// POST without an Idempotency-Key, retried with the same op header against the built-in
// target, executes the side effect twice; with a key it executes once.
func TestLoseResponseDuplicatesWithoutIdempotencyKey(t *testing.T) {
	tests := []struct {
		name     string
		idemKey  string
		reset    bool
		executed int
	}{
		{"no key, 502", "", false, 2},
		{"no key, reset", "", true, 2},
		{"with a key", "8c7b3a4d-1e2f-4abc-9def-0123456789ab", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prof := &profile.Profile{Faults: []profile.Fault{{Name: "lose-first", Action: "lose_response",
				Match: profile.Match{Method: "POST"}, Attempts: []int{1}, Reset: tt.reset}}}
			tg := target.New(target.FromProfile(prof))
			h := newHarness(t, prof, tg, withReset(tg.Reset))
			headers := hdr("X-Retrylab-Op", "op-dup", "Authorization", "Bearer k", "Content-Type", "application/json")
			if tt.idemKey != "" {
				headers["Idempotency-Key"] = tt.idemKey
			}
			r := req{method: "POST", path: "/v1/calls", body: `{"to_number":"+14155550100"}`, headers: headers}
			resp, _, err := h.do(r)
			switch {
			case tt.reset && (err == nil || !errors.Is(err, syscall.ECONNRESET) && !strings.Contains(err.Error(), "reset") && !errors.Is(err, io.EOF)):
				t.Fatalf("first try: %v, want a reset", err)
			case !tt.reset && (err != nil || resp.StatusCode != 502):
				t.Fatalf("first try: %v %v, want 502", resp, err)
			}
			resp2, _ := h.mustDo(r)
			if resp2.StatusCode != 201 {
				t.Fatalf("retry: %d", resp2.StatusCode)
			}
			if got := tg.Ledger().ByOp["op-dup"]; got != tt.executed {
				t.Errorf("ledger: op executed %d times, want %d", got, tt.executed)
			}
			recs := h.records()
			if len(recs) != 2 {
				t.Fatalf("%d records", len(recs))
			}
			first, second := recs[0], recs[1]
			if first.Action != journal.ActionLoseResponse || !first.Executed || first.UpstreamStatus != 201 {
				t.Errorf("first record %+v", first)
			}
			if tt.reset && (first.Status != 0 || first.Err == "") {
				t.Errorf("first record %+v: want status 0 and an err", first)
			}
			if !tt.reset && first.Status != 502 {
				t.Errorf("first record status %d", first.Status)
			}
			wantExec := tt.executed == 2
			if second.Executed != wantExec || second.Replayed == wantExec || second.Attempt != 2 {
				t.Errorf("second record %+v: executed %v replayed %v", second, second.Executed, second.Replayed)
			}
		})
	}
}

func TestFaultsThroughTheProxy(t *testing.T) {
	tests := []struct {
		name   string
		rule   profile.Fault
		check  func(t *testing.T, resp *http.Response, body string, err error)
		status int
		action string
	}{
		{
			name: "reset", rule: profile.Fault{Action: "reset"}, status: 0, action: journal.ActionReset,
			check: func(t *testing.T, resp *http.Response, body string, err error) {
				if err == nil {
					t.Errorf("got %d, want a connection error", resp.StatusCode)
				}
			},
		},
		{
			name: "hang", rule: profile.Fault{Action: "hang", HangFor: profile.Duration(50 * time.Millisecond)}, status: 0, action: journal.ActionHang,
			check: func(t *testing.T, resp *http.Response, body string, err error) {
				if err == nil {
					t.Errorf("got %d, want a connection error", resp.StatusCode)
				}
			},
		},
		{
			name: "truncate", rule: profile.Fault{Action: "truncate", Bytes: 3}, status: 200, action: journal.ActionTruncate,
			check: func(t *testing.T, resp *http.Response, body string, err error) {
				if err == nil || body != "ok " {
					t.Errorf("got %q, %v: want an unexpected EOF", body, err)
				}
			},
		},
		{
			name: "slow_body", rule: profile.Fault{Action: "slow_body", Bytes: 4, Interval: profile.Duration(time.Millisecond)}, status: 200, action: journal.ActionSlowBody,
			check: func(t *testing.T, resp *http.Response, body string, err error) {
				if err != nil || body != "ok GET /x" {
					t.Errorf("got %q, %v", body, err)
				}
			},
		},
		{
			name: "delay", rule: profile.Fault{Action: "delay", Delay: profile.Duration(20 * time.Millisecond)}, status: 200, action: journal.ActionDelay,
			check: func(t *testing.T, resp *http.Response, body string, err error) {
				if err != nil || body != "ok GET /x" {
					t.Errorf("got %q, %v", body, err)
				}
			},
		},
		{
			name: "respond seed002 with a malformed Retry-After", status: 429, action: journal.ActionRespond,
			rule: profile.Fault{Action: "respond", Status: 429, RetryAfterForm: "garbage", Body: "seed002"},
			check: func(t *testing.T, resp *http.Response, body string, err error) {
				if err != nil || !strings.Contains(body, `"error":"rate_limited"`) {
					t.Errorf("got %q, %v", body, err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rule.Name = tt.name
			h := newHarness(t, &profile.Profile{Faults: []profile.Fault{tt.rule}}, nil)
			start := time.Now()
			resp, body, err := h.do(req{path: "/x"})
			elapsed := time.Since(start)
			tt.check(t, resp, body, err)
			recs := h.records()
			if len(recs) != 1 {
				t.Fatalf("%d records", len(recs))
			}
			r := recs[0]
			if r.Action != tt.action || r.Status != tt.status || r.Rule != tt.name {
				t.Errorf("record %+v: want action %s status %d", r, tt.action, tt.status)
			}
			if tt.name == "delay" && (elapsed < 20*time.Millisecond || r.DurNs < int64(20*time.Millisecond)) {
				t.Errorf("delay: took %v, journaled %v", elapsed, time.Duration(r.DurNs))
			}
			if tt.action == journal.ActionRespond && (r.RetryAfterMs != -1 || r.RetryAfter != "soon") {
				t.Errorf("retry after %d %q", r.RetryAfterMs, r.RetryAfter)
			}
		})
	}
}
