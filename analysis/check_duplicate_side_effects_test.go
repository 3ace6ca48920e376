package analysis

import (
	"testing"

	"github.com/retrylab/retrylab/internal/journal"
)

func TestDuplicateSideEffectsCheck(t *testing.T) {
	lost := func(r *journal.Record) {
		r.Action, r.Rule, r.Status, r.Executed = journal.ActionLoseResponse, "lose", 502, true
	}
	runCheckCases(t, CheckDuplicateSideEffects, []checkCase{
		{name: "one attempt", recs: []journal.Record{rec("k1", "a", 0, 201, executed())}, want: 0},
		{name: "same key replayed", recs: []journal.Record{
			rec("k1", "a", 0, 502, idem("K1"), lost), rec("k1", "a", 300, 201, idem("K1"), func(r *journal.Record) { r.Replayed = true }),
		}, want: 0},
		{name: "new key per retry executes twice", recs: []journal.Record{
			rec("k1", "a", 0, 502, idem("K1"), lost), rec("k1", "a", 300, 201, idem("K2"), executed()),
			rec("k1", "b", 0, 502, idem("K3"), lost), rec("k1", "b", 300, 201, idem("K3")),
		}, want: 1, wantOps: []string{"a"}},
		{name: "retry without a key executes three times", recs: []journal.Record{
			rec("k1", "a", 0, 502, lost), rec("k1", "a", 300, 502, lost), rec("k1", "a", 900, 201, executed()),
		}, want: 1, wantOps: []string{"a"}},
	})
}

func TestIdempotencyFindings(t *testing.T) {
	tests := []struct {
		name string
		recs []journal.Record
		want Idempotency
	}{
		{name: "clean", recs: []journal.Record{
			rec("k1", "a", 0, 503, idem("K1"), body("b1")), rec("k1", "a", 200, 201, idem("K1"), body("b1")),
			rec("k1", "b", 0, 200, withMethod("GET")), rec("k1", "b", 200, 200, withMethod("GET")),
		}},
		{name: "post retried without a key", recs: []journal.Record{
			rec("k1", "a", 0, 503), rec("k1", "a", 200, 201), rec("k1", "b", 0, 201),
		}, want: Idempotency{PostRetriedWithoutKey: 1}},
		{name: "client changes its key mid-operation", recs: []journal.Record{
			rec("k1", "a", 0, 503, idem("K1")), rec("k1", "a", 200, 503, idem("K1")), rec("k1", "a", 500, 201, idem("K2")),
		}, want: Idempotency{KeyChangedOnRetry: 1}},
		{name: "key reused across bodies", recs: []journal.Record{
			rec("k1", "a", 0, 201, idem("K1"), body("b1")), rec("k1", "b", 100, 409, idem("K1"), body("b2")),
			rec("k1", "c", 200, 409, idem("K1"), body("b3")), rec("k2", "d", 300, 201, idem("K1"), body("b4")),
		}, want: Idempotency{KeyReusedAcrossBodies: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := analyzeRecs(t, DefaultConfig(), tc.recs...)
			if rep.Idempotency != tc.want {
				t.Errorf("idempotency = %+v, want %+v", rep.Idempotency, tc.want)
			}
		})
	}
}

func TestIdempotencyKeysAreForgottenAfterTheWindow(t *testing.T) {
	// A key reused with another body within keyWindow is a finding; after it, not.
	recs := []journal.Record{
		rec("k1", "a", 0, 201, idem("K1"), body("b1")),
		rec("k1", "b", 9000, 201, idem("K1"), body("b2")), // 9s later: found
		rec("k1", "c", 0, 201, idem("K2"), body("b1")),
		rec("k1", "d", 10500, 201, idem("K2"), body("b2")), // 10.5s later: forgotten
	}
	rep := analyzeRecs(t, DefaultConfig(), recs...)
	if rep.Idempotency.KeyReusedAcrossBodies != 1 {
		t.Errorf("key_reused_across_bodies = %d, want 1", rep.Idempotency.KeyReusedAcrossBodies)
	}
}
