package analysis

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
)

// simPolicy is a client's retry behaviour in the simulation below, modelled on the
// loadgen's reference clients.
type simPolicy struct {
	retry4xx    bool // retries 422 too
	ignoreRA    bool // does not wait for Retry-After
	immediate   bool // no backoff at all
	noJitter    bool // exact exponential delays
	newKey      bool // a new idempotency key per attempt
	maxAttempts int  // 0 = unbounded
	maxSpan     time.Duration
	every       time.Duration // operations start every this long (default 40ms: 25/s)
}

var simPolicies = map[string]simPolicy{
	"compliant":           {maxAttempts: 5, maxSpan: 30 * time.Second},
	"naive":               {immediate: true, ignoreRA: true, maxAttempts: 5, maxSpan: 30 * time.Second},
	"no-jitter":           {noJitter: true, maxAttempts: 5, maxSpan: 30 * time.Second},
	"ignores-retry-after": {ignoreRA: true, maxAttempts: 5, maxSpan: 30 * time.Second},
	"new-key-per-retry":   {newKey: true, maxAttempts: 5, maxSpan: 30 * time.Second},
	"retries-4xx":         {retry4xx: true, maxAttempts: 5, maxSpan: 30 * time.Second},
	"unbounded":           {maxAttempts: 0, maxSpan: 10 * time.Minute},
	"no-retry":            {maxAttempts: 1},
	"over-the-limit":      {maxAttempts: 5, maxSpan: 30 * time.Second, every: 4 * time.Millisecond},
}

// simulate returns the journal of 60 s of one client under policy: 25 operations/s
// (POST with an idempotency key) through a proxy injecting 8% 503s, 4% 429s with
// Retry-After 1s, 3% lost responses (executed, then 502), 2% 422s, and an outage (every
// attempt 503) from 20 s to 26 s, in front of a target that replays stored successes.
func simulate(name string, p simPolicy, seed uint64) []journal.Record {
	rng := rand.New(rand.NewPCG(seed, 99))
	stored := map[string]bool{} // idempotency keys whose side effect was executed
	var recs []journal.Record
	const client = "k_sim"
	const base = 100 * time.Millisecond
	every := p.every
	if every == 0 {
		every = 40 * time.Millisecond
	}
	for i := range int(60 * time.Second / every) {
		op := fmt.Sprintf("%s-%05d", name, i)
		start := time.Duration(i)*every + time.Duration(rng.IntN(10))*time.Millisecond
		t := start
		key := op + "-k1"
		prevDelay := time.Duration(0)
		for n := 1; ; n++ {
			r := journal.Record{Time: t0 + int64(t), Client: client, Method: "POST", Path: "/v1/calls", Op: op,
				IdemKey: key, BodyHash: "b" + op, Attempt: n, Action: journal.ActionForward,
				RetryAfterMs: journal.NoRetryAfter, DurNs: int64(5 * time.Millisecond)}
			x := rng.Float64()
			outage := t >= 20*time.Second && t < 26*time.Second
			switch {
			case outage || x < 0.08:
				r.Rule, r.Action, r.Status = "flaky", journal.ActionRespond, 503
			case x < 0.12:
				r.Rule, r.Action, r.Status, r.RetryAfterMs = "throttle", journal.ActionRespond, 429, 1000
			case x < 0.15:
				r.Rule, r.Action, r.Status = "lose", journal.ActionLoseResponse, 502
				r.Executed = !stored[key]
				stored[key] = true
			case x < 0.17:
				r.Rule, r.Action, r.Status = "invalid", journal.ActionRespond, 422
			default:
				r.Status, r.UpstreamStatus = 201, 201
				r.Replayed = stored[key]
				r.Executed = !stored[key]
				stored[key] = true
			}
			recs = append(recs, r)
			answered := t + time.Duration(r.DurNs)
			retryable := r.Status == 503 || r.Status == 502 || r.Status == 429 || (p.retry4xx && r.Status == 422)
			if !retryable || (p.maxAttempts > 0 && n >= p.maxAttempts) {
				break
			}
			var d time.Duration
			switch {
			case p.immediate:
				d = time.Millisecond
			case p.noJitter:
				d = base << (n - 1)
			default: // exponential with jitter in [d, 2d): never shorter than the previous delay
				lo := base << (n - 1)
				d = lo + time.Duration(rng.Int64N(int64(lo)))
				d = max(d, prevDelay)
			}
			prevDelay = d
			if r.RetryAfterMs >= 0 && !p.ignoreRA {
				d = max(d, time.Duration(r.RetryAfterMs)*time.Millisecond+20*time.Millisecond)
			}
			if answered+d-start > p.maxSpan {
				break
			}
			t = answered + d
			if p.newKey {
				key = fmt.Sprintf("%s-k%d", op, n+1)
			}
		}
	}
	// The proxy writes a record when its attempt completes.
	slices.SortStableFunc(recs, func(a, b journal.Record) int {
		return int((a.Time + a.DurNs) - (b.Time + b.DurNs))
	})
	return recs
}

// TestReferenceBehaviours checks the definitions against simulated reference clients:
// the compliant one has no violation, each broken one is caught by the check that
// names its defect.
func TestReferenceBehaviours(t *testing.T) {
	tests := []struct {
		policy string
		caught []string // the checks that must fail; every other must pass
	}{
		{"compliant", nil},
		{"naive", []string{CheckRetryAfter, CheckBackoff, CheckJitter}},
		{"no-jitter", []string{CheckJitter}},
		{"ignores-retry-after", []string{CheckRetryAfter}},
		{"new-key-per-retry", []string{CheckDuplicateSideEffects}},
		{"retries-4xx", []string{CheckNonRetryable}},
		{"unbounded", []string{CheckMaxAttempts}},
		{"no-retry", nil},
		{"over-the-limit", []string{CheckRateLimit}},
	}
	for _, tc := range tests {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("%s/seed%d", tc.policy, seed), func(t *testing.T) {
				rep := analyzeRecs(t, DefaultConfig(), simulate(tc.policy, simPolicies[tc.policy], seed)...)
				for _, c := range rep.Checks {
					want := slices.Contains(tc.caught, c.ID)
					if want == c.Passed {
						var first string
						if len(c.Evidence) > 0 {
							first = c.Evidence[0].Message
						}
						t.Errorf("%s: %s violations = %d (want failing: %v); first: %s", tc.policy, c.ID, c.Violations, want, first)
					}
				}
				if tc.caught == nil && rep.Verdict != "pass" {
					t.Errorf("%s verdict = %s", tc.policy, rep.Verdict)
				}
			})
		}
	}
}
