package analysis

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
)

// t0 is the base time of hand-written journals.
var t0 = time.Date(2026, 5, 6, 12, 0, 0, 0, time.UTC).UnixNano()

type recOpt func(*journal.Record)

func ra(ms int64) recOpt { return func(r *journal.Record) { r.RetryAfterMs = ms } }
func rule(n string) recOpt {
	return func(r *journal.Record) { r.Rule = n; r.Action = journal.ActionRespond }
}
func executed() recOpt           { return func(r *journal.Record) { r.Executed = true } }
func idem(k string) recOpt       { return func(r *journal.Record) { r.IdemKey = k } }
func body(h string) recOpt       { return func(r *journal.Record) { r.BodyHash = h } }
func withMethod(m string) recOpt { return func(r *journal.Record) { r.Method = m } }
func onPath(p string) recOpt     { return func(r *journal.Record) { r.Path = p } }
func action(a string) recOpt     { return func(r *journal.Record) { r.Action = a } }
func dur(d time.Duration) recOpt { return func(r *journal.Record) { r.DurNs = int64(d) } }

// rec is one attempt of op by client sent atMs after t0, answered with status after 10ms.
func rec(client, op string, atMs float64, status int, opts ...recOpt) journal.Record {
	r := journal.Record{
		Time: t0 + int64(atMs*float64(time.Millisecond)), Client: client, Method: "POST", Path: "/v1/calls",
		Op: op, Action: journal.ActionForward, Status: status, RetryAfterMs: journal.NoRetryAfter,
		DurNs: int64(10 * time.Millisecond),
	}
	if status >= 500 || status == 429 {
		r.Action, r.Rule = journal.ActionRespond, "fault"
	}
	for _, o := range opts {
		o(&r)
	}
	return r
}

// encode writes records as a journal in the order given, numbering seq and attempts.
func encode(recs []journal.Record) []byte {
	var buf []byte
	n := map[string]int{}
	for i := range recs {
		r := recs[i]
		r.Seq = uint64(i + 1)
		n[r.Op]++
		r.Attempt = n[r.Op]
		buf = journal.AppendRecord(buf, &r)
	}
	return buf
}

func analyzeRecs(t *testing.T, cfg Config, recs ...journal.Record) *Report {
	t.Helper()
	rep, err := Analyze(context.Background(), cfg, Source{Name: "test.jsonl", R: bytes.NewReader(encode(recs))})
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	return rep
}

func checkOf(t *testing.T, rep *Report, id string) CheckResult {
	t.Helper()
	for _, c := range rep.Checks {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no check %s in report", id)
	return CheckResult{}
}

// violatingOps lists the ops named in a check's evidence, sorted, with repeats.
func violatingOps(c CheckResult) []string {
	out := []string{}
	for _, v := range c.Evidence {
		out = append(out, v.Op)
	}
	slices.Sort(out)
	return out
}

// checkCase is one row of a check's table.
type checkCase struct {
	name    string
	cfg     func(*Config)
	recs    []journal.Record
	want    int      // violations
	wantOps []string // ops in the evidence, sorted (nil: not compared)
}

func runCheckCases(t *testing.T, id string, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			rep := analyzeRecs(t, cfg, tc.recs...)
			c := checkOf(t, rep, id)
			if c.Violations != tc.want {
				t.Errorf("%s violations = %d, want %d; evidence: %+v", id, c.Violations, tc.want, c.Evidence)
			}
			if c.Passed != (tc.want == 0) {
				t.Errorf("passed = %v with %d violations", c.Passed, c.Violations)
			}
			if tc.wantOps != nil {
				if got := violatingOps(c); !slices.Equal(got, tc.wantOps) {
					t.Errorf("%s violating ops = %v, want %v", id, got, tc.wantOps)
				}
			}
			for _, v := range c.Evidence {
				if v.Message == "" || v.Expected == "" {
					t.Errorf("evidence without message or expectation: %+v", v)
				}
			}
		})
	}
}
