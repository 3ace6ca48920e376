package analysis

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
)

func TestAnalyzeMergesJournalsByTime(t *testing.T) {
	// One operation whose attempts went through two proxies: each journal alone shows
	// one attempt; merged, the retry is 20ms after a Retry-After of 1s.
	a := encode([]journal.Record{rec("k1", "op", 0, 429, ra(1000)), rec("k1", "x", 500, 200)})
	b := encode([]journal.Record{rec("k1", "y", 10, 200), rec("k1", "op", 30, 200)})
	rep, err := Analyze(context.Background(), DefaultConfig(),
		Source{Name: "a.jsonl", R: bytes.NewReader(a)}, Source{Name: "b.jsonl", R: bytes.NewReader(b)})
	if err != nil {
		t.Fatal(err)
	}
	c := checkOf(t, rep, CheckRetryAfter)
	if c.Violations != 1 {
		t.Fatalf("retry_after violations = %d, want 1", c.Violations)
	}
	got := []string{}
	for _, at := range c.Evidence[0].Attempts {
		got = append(got, at.Journal)
	}
	if strings.Join(got, ",") != "a.jsonl,b.jsonl" {
		t.Errorf("evidence journals = %v, want a.jsonl,b.jsonl", got)
	}
	if rep.Totals.Operations != 3 || rep.Run.Records != 4 || len(rep.Run.Journals) != 2 {
		t.Errorf("operations = %d, records = %d, journals = %v", rep.Totals.Operations, rep.Run.Records, rep.Run.Journals)
	}
}

func TestAnalyzeReordersLateRecords(t *testing.T) {
	// The proxy writes a record when the attempt completes: a hung first attempt is
	// written after its retry. Analysed in time order, the retry is judged correctly.
	hung := rec("k1", "op", 0, 0, action(journal.ActionHang), dur(6*time.Second))
	retry := rec("k1", "op", 5200, 200)
	other := rec("k2", "p", 5100, 429, ra(1000))
	otherRetry := rec("k2", "p", 5500, 200) // 390ms after the 429's response: violation
	rep := analyzeRecs(t, DefaultConfig(), other, retry, otherRetry, hung)
	if rep.Totals.Operations != 2 || rep.Totals.MaxAttempts != 2 {
		t.Fatalf("operations = %d (max attempts %d), want 2 operations of 2 attempts", rep.Totals.Operations, rep.Totals.MaxAttempts)
	}
	if c := checkOf(t, rep, CheckRetryAfter); c.Violations != 1 || c.Evidence[0].Op != "p" {
		t.Errorf("retry_after = %+v, want one violation of p", c)
	}
	if c := checkOf(t, rep, CheckBackoff); c.Violations != 0 {
		t.Errorf("backoff judged a retry of a hung attempt: %+v", c.Evidence)
	}
	if len(rep.Run.Warnings) != 0 {
		t.Errorf("warnings = %v, want none inside the reorder window", rep.Run.Warnings)
	}
}

func TestAnalyzeWarnsAboutVeryLateRecords(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ReorderWindow = 100 * time.Millisecond
	// Records are reordered a batch at a time; the late one must come after the first batch.
	recs := paced("k1", "a", 3*batchSize, 1000, 10)
	recs = append(recs, rec("k1", "late", 0, 200))
	rep := analyzeRecs(t, cfg, recs...)
	if rep.Totals.Operations != 3*batchSize+1 {
		t.Errorf("operations = %d, want %d", rep.Totals.Operations, 3*batchSize+1)
	}
	if len(rep.Run.Warnings) != 1 || !strings.Contains(rep.Run.Warnings[0], "1 records arrived more than 100ms out of time order") {
		t.Errorf("warnings = %v", rep.Run.Warnings)
	}
}

func TestAnalyzeTornAndBadLines(t *testing.T) {
	data := encode([]journal.Record{rec("k1", "a", 0, 503), rec("k1", "a", 200, 200)})
	data = append(data, "{not json\n"...)
	data = append(data, encode([]journal.Record{rec("k1", "b", 300, 200)})...)
	data = append(data, `{"seq":9,"ts":12`...) // torn last line
	rep, err := Analyze(context.Background(), DefaultConfig(), Source{Name: "j.jsonl", R: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Run.Records != 3 || rep.Run.TornLines != 1 || rep.Run.BadLines != 1 {
		t.Errorf("records %d torn %d bad %d, want 3 1 1", rep.Run.Records, rep.Run.TornLines, rep.Run.BadLines)
	}
	if len(rep.Run.Warnings) != 1 || !strings.Contains(rep.Run.Warnings[0], "j.jsonl:3") {
		t.Errorf("warnings = %v, want the bad line named j.jsonl:3", rep.Run.Warnings)
	}
}

func TestCorrelationModes(t *testing.T) {
	// Two attempts without an op id but with the same request (fingerprint), and two
	// with different op ids but one idempotency key.
	recs := []journal.Record{
		rec("k1", "", 0, 503, body("b1")), rec("k1", "", 200, 201, body("b1")),
		rec("k1", "o1", 50, 503, idem("K"), body("b2")), rec("k1", "o2", 300, 201, idem("K"), body("b2")),
	}
	tests := []struct {
		mode string
		want int64
	}{
		{CorrelateHeader, 3},
		{CorrelateFingerprint, 2},
		{CorrelateIdemKey, 2},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Correlation = tc.mode
			rep := analyzeRecs(t, cfg, recs...)
			if rep.Totals.Operations != tc.want {
				t.Errorf("operations = %d, want %d", rep.Totals.Operations, tc.want)
			}
		})
	}
}

func TestEvictionBoundsOperationsInFlight(t *testing.T) {
	// 20 minutes of one operation per 100ms; only those of the last horizon may be in flight.
	var recs []journal.Record
	for i := range 12000 {
		op := "op" + string(rune('a'+i%26)) + time.Duration(i).String()
		recs = append(recs, rec("k1", op, float64(i)*100, 503), rec("k1", op, float64(i)*100+50, 200))
	}
	cfg := DefaultConfig().withDefaults()
	e := newEngine(&cfg, []string{"t"})
	peak := 0
	for i := range recs {
		e.process(&recs[i], 0)
		peak = max(peak, e.ops.len())
	}
	// Succeeded operations stay horizonSlack (5s = 50 ops); open ones 35s.
	if peak > 60 {
		t.Errorf("peak operations in flight = %d, want <= 60", peak)
	}
	rep := e.report(&merger{}, false)
	if rep.Totals.Operations != 12000 {
		t.Errorf("operations = %d, want 12000", rep.Totals.Operations)
	}
}

func TestOpenOperationsStayForTheHorizon(t *testing.T) {
	// An operation whose last attempt failed may be retried 33s later and is still one
	// operation (a max_attempts span violation), even with other traffic in between.
	recs := []journal.Record{rec("k1", "a", 0, 503)}
	for i := range 400 {
		recs = append(recs, rec("k2", "fill"+time.Duration(i).String(), float64(i)*100, 200))
	}
	recs = append(recs, rec("k1", "a", 33000, 200))
	rep := analyzeRecs(t, DefaultConfig(), recs...)
	if c := checkOf(t, rep, CheckMaxAttempts); c.Violations != 1 {
		t.Errorf("max_attempts violations = %d, want 1 (span 33s)", c.Violations)
	}
}

func TestAnalyzeCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	pr, pw := io.Pipe()
	defer pw.Close()
	rep, err := Analyze(ctx, DefaultConfig(), Source{Name: "pipe", R: pr})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if rep == nil || !rep.Partial {
		t.Errorf("report = %+v, want a partial report", rep)
	}
}

func TestAnalyzeFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "j.jsonl")
	if err := os.WriteFile(p, encode([]journal.Record{rec("k1", "a", 0, 200)}), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := AnalyzeFiles(context.Background(), DefaultConfig(), p)
	if err != nil || rep.Totals.Operations != 1 {
		t.Fatalf("AnalyzeFiles = %+v, %v", rep, err)
	}
	if _, err := AnalyzeFiles(context.Background(), DefaultConfig(), filepath.Join(dir, "missing.jsonl")); err == nil ||
		!strings.Contains(err.Error(), "missing.jsonl") {
		t.Errorf("missing journal error = %v, want it named", err)
	}
	cfg := DefaultConfig()
	cfg.Thresholds = []string{"latency.p99 <"}
	if _, err := AnalyzeFiles(context.Background(), cfg, p); err == nil || !strings.Contains(err.Error(), "latency.p99 <") {
		t.Errorf("bad threshold error = %v", err)
	}
}

func TestConfigFromProfile(t *testing.T) {
	p := &profile.Profile{Name: "demo", Seed: 42, Path: "demo.yaml",
		Clients:    []profile.Client{{Name: "alice", Key: "sk_alice"}},
		RateLimits: []profile.RateLimit{{Limit: 50}},
		Thresholds: []string{"success_rate >= 99%"},
		Client:     profile.ClientUnderTest{Kind: "reference", Policy: "naive"},
		Analysis:   profile.Analysis{MaxAttempts: 3, RetryAfterScope: "client"},
	}
	c := ConfigFromProfile(p)
	if c.MaxAttempts != 3 || c.RetryAfterScope != ScopeClient || c.MaxRetrySpan != profile.DefaultMaxRetrySpan ||
		c.MinBackoff != profile.DefaultMinBackoff || len(c.NonRetryable) != 6 || c.Amplification != 2.5 {
		t.Errorf("config = %+v", c)
	}
	if len(c.RateLimits) != 1 || c.RateLimits[0].Window.D() != time.Second || c.RateLimits[0].Burst != 50 {
		t.Errorf("rate limits = %+v, want 50/s with a 1s window and no burst", c.RateLimits)
	}
	if c.ClientNames[journal.HashKey("sk_alice")] != "alice" {
		t.Errorf("client names = %v", c.ClientNames)
	}
	if c.Run.Profile != "demo" || c.Run.Seed != 42 || c.Run.Client != "reference/naive" || c.Run.File != "demo.yaml" {
		t.Errorf("run = %+v", c.Run)
	}
	if len(c.Thresholds) != 1 {
		t.Errorf("thresholds = %v", c.Thresholds)
	}
	d := ConfigFromProfile(&profile.Profile{})
	if len(d.RateLimits) != 1 || d.RateLimits[0].Limit != 100 || d.RateLimits[0].Burst != 200 {
		t.Errorf("default rate limits = %+v, want the seeds' 100/s burst 200/s", d.RateLimits)
	}
}

func TestAnalyzeEmptyJournal(t *testing.T) {
	rep, err := Analyze(context.Background(), DefaultConfig(), Source{Name: "empty", R: strings.NewReader("")})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Operations != 0 || len(rep.Checks) != len(CheckIDs) || len(rep.Gates) != len(CheckIDs) {
		t.Errorf("report = %+v", rep)
	}
	if len(rep.Run.Warnings) != 1 || !strings.Contains(rep.Run.Warnings[0], "no records") {
		t.Errorf("warnings = %v", rep.Run.Warnings)
	}
	if _, err := Analyze(context.Background(), DefaultConfig()); err == nil {
		t.Error("Analyze without a journal succeeded")
	}
}

func TestSlowAttemptWrittenLateStaysInItsOperation(t *testing.T) {
	// A hung attempt (30s at the proxy) is written 30s after it arrived, long after the
	// client's retry succeeded; the proxy numbered the retry 2, so the operation waits for
	// attempt 1 instead of being finalised as done.
	hung := rec("k1", "op", 0, 0, action(journal.ActionHang), dur(30*time.Second))
	hung.Attempt = 1
	retry := rec("k1", "op", 5200, 200)
	retry.Attempt = 2
	recs := []journal.Record{retry}
	for i := range 1500 { // 30s of other traffic, more than a batch
		recs = append(recs, rec("k2", fmt.Sprintf("f%d", i), 5300+float64(i)*20, 200))
	}
	recs = append(recs, hung)
	var buf []byte
	for i := range recs {
		recs[i].Seq = uint64(i + 1)
		if recs[i].Attempt == 0 {
			recs[i].Attempt = 1
		}
		buf = journal.AppendRecord(buf, &recs[i])
	}
	rep, err := Analyze(context.Background(), DefaultConfig(), Source{Name: "j", R: bytes.NewReader(buf)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Operations != 1501 || rep.Totals.MaxAttempts != 2 {
		t.Errorf("operations = %d, max attempts = %d; want 1501 and 2 (the hung attempt joined its operation)",
			rep.Totals.Operations, rep.Totals.MaxAttempts)
	}
}

// TestTruncatedBodyIsAFailure: a 2xx whose body the proxy cut short is an operation the
// client saw fail (a broken connection), unless a retry then succeeded.
func TestTruncatedBodyIsAFailure(t *testing.T) {
	rep := analyzeRecs(t, DefaultConfig(),
		rec("k1", "cut", 0, 201, action(journal.ActionTruncate)),
		rec("k1", "retried", 0, 201, action(journal.ActionTruncate)), rec("k1", "retried", 300, 201),
		rec("k1", "whole", 0, 201),
	)
	tot := rep.Totals
	if tot.Operations != 3 || tot.Succeeded != 2 || tot.Failed != 1 || tot.Abandoned != 1 {
		t.Errorf("totals %+v, want 3 operations, 2 succeeded, 1 failed and abandoned", tot)
	}
}

// TestRejectedNotJudged: requests the proxy refused by its safety rules (absolute-form URIs,
// foreign Host, oversized headers) are not attempts of any operation.
func TestRejectedNotJudged(t *testing.T) {
	rep := analyzeRecs(t, DefaultConfig(),
		rec("", "r", 0, 400, action(journal.ActionReject)), rec("", "r", 5, 400, action(journal.ActionReject)),
		rec("k1", "a", 0, 201),
	)
	if rep.Totals.Operations != 1 || rep.Totals.Attempts != 1 || rep.Totals.Rejected != 2 {
		t.Errorf("totals %+v, want 1 operation, 1 attempt, 2 rejected", rep.Totals)
	}
	for _, c := range rep.Checks {
		if c.Violations != 0 {
			t.Errorf("%s: %d violations", c.ID, c.Violations)
		}
	}
}

// An interrupted run's journal ends while operations are still failing: with CutShort
// they count as cut (not failed, not abandoned, not in the success rate), while one that
// failed for good long before the end stays a failure.
func TestCutShortJournal(t *testing.T) {
	recs := []journal.Record{
		rec("k_a", "a", 0, 503),
		rec("k_a", "b", 100, 503), // never retried: evicted as failed after the horizon
		rec("k_a", "a", 500, 201),
		rec("k_a", "d", 60_000, 201),
		rec("k_a", "c", 60_100, 503), // still failing where the journal ends
	}
	for _, tc := range []struct {
		cutShort                          bool
		succeeded, failed, abandoned, cut int64
		rate                              float64
		latencies                         int64
	}{
		{false, 2, 2, 2, 0, 0.5, 4},
		{true, 2, 1, 1, 1, 2.0 / 3, 3},
	} {
		cfg := DefaultConfig()
		cfg.CutShort = tc.cutShort
		rep := analyzeRecs(t, cfg, recs...)
		tt := rep.Totals
		if tt.Operations != 4 || tt.Succeeded != tc.succeeded || tt.Failed != tc.failed ||
			tt.Abandoned != tc.abandoned || tt.Cut != tc.cut || tt.SuccessRate != tc.rate {
			t.Errorf("cutShort=%v: totals %+v, want succeeded %d failed %d abandoned %d cut %d success_rate %v",
				tc.cutShort, tt, tc.succeeded, tc.failed, tc.abandoned, tc.cut, tc.rate)
		}
		if rep.Latency.Count != tc.latencies {
			t.Errorf("cutShort=%v: latency count %d, want %d (a cut operation has no end)", tc.cutShort, rep.Latency.Count, tc.latencies)
		}
		if got := rep.Metrics["cut"]; got != float64(tc.cut) || rep.Metrics["totals.cut"] != float64(tc.cut) {
			t.Errorf("cutShort=%v: metric cut = %v, want %d", tc.cutShort, got, tc.cut)
		}
		if err := rep.ApplyGates([]string{"cut == " + fmt.Sprint(tc.cut)}, "flag"); err != nil {
			t.Fatal(err)
		}
		if !rep.Gates[len(rep.Gates)-1].Passed {
			t.Errorf("cutShort=%v: gate on cut failed: %+v", tc.cutShort, rep.Gates)
		}
		var md bytes.Buffer
		if err := WriteMarkdown(&md, rep); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(md.String(), "cut short"); got != tc.cutShort {
			t.Errorf("cutShort=%v: report.md mentions the cut: %v", tc.cutShort, got)
		}
	}
}

// Operations are told apart by two hashes of their key: two operations whose first hashes
// collide are still two operations (the second one goes to the collision map), each retry
// finds its own, and both are judged and evicted.
func TestEngineFirstHashCollision(t *testing.T) {
	cfg := DefaultConfig().withDefaults()
	e := newEngine(&cfg, []string{"j"})
	var recs []journal.Record
	for _, r := range []journal.Record{
		rec("k_a", "a", 0, 503, ra(1000)),
		rec("k_a", "b", 5, 503, ra(1000)),
		rec("k_a", "b", 100, 201), // too early after its 503: a retry_after violation of b alone
		rec("k_a", "a", 1100, 201),
	} {
		recs = append(recs, r)
	}
	for i := range recs {
		var it item
		e.conv.fill(&it, &recs[i])
		it.h = 42 // every operation's first hash collides
		e.processItem(&it, 0)
	}
	if n := e.ops.len() + len(e.opsCollided); n != 2 {
		t.Fatalf("%d operations in flight, want 2", n)
	}
	rep := e.report(&merger{}, false)
	if rep.Totals.Operations != 2 || rep.Totals.Retries != 2 || rep.Totals.Succeeded != 2 {
		t.Errorf("totals %+v, want 2 operations, 2 retries, 2 succeeded", rep.Totals)
	}
	for _, c := range rep.Checks {
		want := 0
		if c.ID == CheckRetryAfter {
			want = 1
		}
		if c.Violations != want {
			t.Errorf("%s: %d violations, want %d", c.ID, c.Violations, want)
		}
		if c.ID == CheckRetryAfter && len(c.Evidence) == 1 && c.Evidence[0].Op != "b" {
			t.Errorf("retry_after blames operation %q, want b", c.Evidence[0].Op)
		}
	}
	if e.ops.len() != 0 || len(e.opsCollided) != 0 {
		t.Errorf("after the report: %d operations in the table, %d in the collision map", e.ops.len(), len(e.opsCollided))
	}
}

// The parsers hand the engine records whose strings point into buffers that are read into
// again: everything the report cites must have been copied. A journal of many buffers'
// worth, analysed by the pipeline, gives the report the engine gives when it is fed the
// same records (decoded into strings of their own) in time order, evidence included.
func TestAnalyzeKeepsNoBufferStrings(t *testing.T) {
	var buf bytes.Buffer
	if err := journal.Generate(&buf, 60_000, 5); err != nil { // about 25 MB: ~100 buffers
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.MaxEvidence = 1000
	got, err := Analyze(context.Background(), cfg, Source{Name: "j", R: bytes.NewReader(buf.Bytes())})
	if err != nil {
		t.Fatal(err)
	}

	var recs []journal.Record
	rd := journal.NewReader(bytes.NewReader(buf.Bytes()), "j")
	for {
		var r journal.Record
		if err := rd.Next(&r); err != nil {
			break
		}
		recs = append(recs, r)
	}
	slices.SortStableFunc(recs, func(a, b journal.Record) int { return cmp.Compare(a.Time, b.Time) })
	wcfg := cfg.withDefaults()
	e := newEngine(&wcfg, []string{"j"})
	for i := range recs {
		e.process(&recs[i], 0)
	}
	want := e.report(&merger{}, false)

	evidence := 0
	for i := range want.Checks {
		evidence += len(want.Checks[i].Evidence)
		if !reflect.DeepEqual(got.Checks[i], want.Checks[i]) {
			t.Errorf("%s: the pipeline's result differs from the engine's fed directly:\n got %+v\nwant %+v",
				want.Checks[i].ID, got.Checks[i], want.Checks[i])
		}
	}
	if evidence == 0 {
		t.Fatal("the generated journal gives no evidence to compare")
	}
	if !reflect.DeepEqual(got.Totals, want.Totals) || !reflect.DeepEqual(got.Clients, want.Clients) {
		t.Errorf("totals or clients differ:\n got %+v %+v\nwant %+v %+v", got.Totals, got.Clients, want.Totals, want.Clients)
	}
}
