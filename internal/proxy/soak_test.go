//go:build soak

package proxy

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/profile"
	"github.com/retrylab/retrylab/internal/target"
)

// TestSoakMixedFaults sends many requests through every fault at once and checks the
// journal's invariants: one record per request, and the executed records equal the side
// effects in the built-in target's ledger. Run with: go test -tags soak -run Soak ./internal/proxy
func TestSoakMixedFaults(t *testing.T) {
	prof := &profile.Profile{
		RateLimits: []profile.RateLimit{{Name: "per-key", Limit: 2000, Burst: 4000, BurstDuration: profile.Duration(2 * time.Second)}},
		Faults: []profile.Fault{
			{Name: "lost", Action: "lose_response", Match: profile.Match{Method: "POST"}, Probability: profile.Probability{P: 0.1, Set: true}},
			{Name: "lost-rst", Action: "lose_response", Reset: true, Match: profile.Match{Method: "POST"}, Probability: profile.Probability{P: 0.05, Set: true}},
			{Name: "503", Action: "respond", Status: 503, RetryAfter: profile.Duration(time.Second), Probability: profile.Probability{P: 0.1, Set: true}},
			{Name: "rst", Action: "reset", Probability: profile.Probability{P: 0.05, Set: true}},
			{Name: "hang", Action: "hang", HangFor: profile.Duration(20 * time.Millisecond), Probability: profile.Probability{P: 0.02, Set: true}},
			{Name: "cut", Action: "truncate", Bytes: 5, Probability: profile.Probability{P: 0.05, Set: true}},
			{Name: "slow", Action: "slow_body", Bytes: 64, Interval: profile.Duration(time.Millisecond), Probability: profile.Probability{P: 0.05, Set: true}},
			{Name: "delay", Action: "delay", Delay: profile.Duration(time.Millisecond), DelayMax: profile.Duration(5 * time.Millisecond), Probability: profile.Probability{P: 0.1, Set: true}},
		},
	}
	tg := target.New(target.FromProfile(prof))
	h := newHarness(t, prof, tg)
	const workers, perWorker = 32, 300
	var sent atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				// One raw request per connection: Go's http.Transport would silently re-send
				// some requests after a reset, and each re-send is (rightly) another record.
				head := fmt.Sprintf("Host: 127.0.0.1\r\nX-Api-Key: key-%d\r\nX-Retrylab-Op: op-%d-%d\r\nConnection: close\r\n", w%4, w, i/2)
				raw := "GET /v1/calls/none HTTP/1.1\r\n" + head + "\r\n"
				if i%2 == 0 {
					body := `{"to_number":"+14155550100"}`
					raw = fmt.Sprintf("POST /v1/calls HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s", head, len(body), body)
				}
				sent.Add(1)
				h.raw(raw)
			}
		})
	}
	wg.Wait()
	recs := h.records()
	if int64(len(recs)) != sent.Load() {
		t.Fatalf("%d records for %d requests", len(recs), sent.Load())
	}
	executed := 0
	for _, r := range recs {
		if r.Executed {
			executed++
		}
	}
	if l := tg.Ledger(); int64(executed) != l.Executions {
		t.Errorf("journal says %d executed, the ledger %d", executed, l.Executions)
	}
	t.Logf("%d records, %d executed, stats %+v", len(recs), executed, h.p.Stats())
}
