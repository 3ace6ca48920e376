package analysis

import (
	"bytes"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/retrylab/retrylab/internal/journal"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// sampleReport analyses a small journal with a compliant client (k1) and a naive one (k2)
// that retries 4xx immediately and ignores Retry-After.
func sampleReport(t *testing.T) *Report {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ClientNames = map[string]string{"k_compliant": "compliant", "k_naive": "naive"}
	cfg.Run = RunInfo{Profile: "sample", Client: "reference/mixed", Seed: 7}
	recs := []journal.Record{
		rec("k_compliant", "op-1", 0, 503), rec("k_compliant", "op-1", 150, 201, executed()),
		rec("k_compliant", "op-2", 100, 429, ra(1000)), rec("k_compliant", "op-2", 1200, 201, executed()),
		rec("k_naive", "op-3", 200, 422), rec("k_naive", "op-3", 211, 422),
		rec("k_naive", "op-4", 300, 429, ra(2000)), rec("k_naive", "op-4", 320, 201, executed()),
		rec("k_naive", "op-5", 400, 502, executed(), action(journal.ActionLoseResponse)),
		rec("k_naive", "op-5", 411, 201, executed()),
	}
	rep := analyzeRecs(t, cfg, recs...)
	rep.Run.AnalyzedIn = 0
	return rep
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./analysis -run %s -update to accept):\n%s", name, t.Name(), got)
	}
}

func TestWriteMarkdownGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, sampleReport(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.md", buf.Bytes())
}

func TestWriteSummaryGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSummary(&buf, sampleReport(t)); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n > 40 {
		t.Errorf("summary is %d lines, want one screen (<= 40)", n)
	}
	golden(t, "summary.txt", buf.Bytes())
}

func TestSampleReportVerdict(t *testing.T) {
	rep := sampleReport(t)
	want := map[string]int{
		CheckRateLimit: 0, CheckRetryAfter: 1, CheckBackoff: 2, // op-3 and op-5 retried at once
		CheckJitter: 0, CheckMaxAttempts: 0,
		CheckNonRetryable: 1, CheckDuplicateSideEffects: 1, CheckAmplification: 0,
	}
	for _, c := range rep.Checks {
		if c.Violations != want[c.ID] {
			t.Errorf("%s violations = %d, want %d", c.ID, c.Violations, want[c.ID])
		}
	}
	if rep.Verdict != "fail" {
		t.Errorf("verdict = %s, want fail", rep.Verdict)
	}
	tot := rep.Totals
	if tot.Operations != 5 || tot.Attempts != 10 || tot.Retries != 5 || tot.Succeeded != 4 || tot.Failed != 1 ||
		tot.Abandoned != 0 || tot.SideEffects != 5 || tot.Duplicates != 1 || tot.Clients != 2 || tot.RateLimited != 0 {
		t.Errorf("totals = %+v", tot)
	}
	if got := rep.Metrics["duplicate_side_effects"]; got != 1 {
		t.Errorf("duplicate_side_effects metric = %v, want 1", got)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	rep := sampleReport(t)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"verdict": "fail"`, `"checks": [`, `"totals": {`, `"gates": [`, `"operations": 5`} {
		if !strings.Contains(buf.String(), key) {
			t.Errorf("report.json lacks %s", key)
		}
	}
	got, err := ReadReport(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Checks, rep.Checks) && len(got.Checks) != len(rep.Checks) {
		t.Errorf("checks differ after a round trip")
	}
	if got.Verdict != rep.Verdict || got.Totals != rep.Totals || !reflect.DeepEqual(got.Metrics, rep.Metrics) ||
		!reflect.DeepEqual(got.Gates, rep.Gates) {
		t.Errorf("report differs after a round trip")
	}
	// Gates can be applied again to a report read back (loadgen gate).
	if err := got.ApplyGates([]string{"latency.p99 < 10s"}, GateSourceFlag); err != nil {
		t.Fatal(err)
	}
	if got.Verdict != "pass" {
		t.Errorf("verdict after replacing the default gates = %s, want pass", got.Verdict)
	}
	if _, err := ReadReport(strings.NewReader("{")); err == nil {
		t.Error("ReadReport accepted a truncated report")
	}
}

func TestWriteJUnit(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, sampleReport(t)); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name      string `xml:"name,attr"`
				Classname string `xml:"classname,attr"`
				Failure   *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("junit.xml does not parse: %v\n%s", err, buf.String())
	}
	if len(doc.Suites) != 1 || doc.Suites[0].Name != "retrylab" {
		t.Fatalf("suites = %+v, want one named retrylab", doc.Suites)
	}
	s := doc.Suites[0]
	if s.Tests != 16 || len(s.Cases) != 16 {
		t.Errorf("tests = %d (%d cases), want 8 checks + 8 default gates", s.Tests, len(s.Cases))
	}
	if s.Failures != 8 {
		t.Errorf("failures = %d, want 4 checks + 4 gates", s.Failures)
	}
	for _, c := range s.Cases {
		if c.Name == CheckRetryAfter && c.Classname == "retrylab.checks" {
			if c.Failure == nil || !strings.Contains(c.Failure.Text, "op-4") || !strings.Contains(c.Failure.Text, "Retry-After 2000ms") {
				t.Errorf("retry_after failure lacks its evidence: %+v", c.Failure)
			}
		}
		if c.Name == CheckRateLimit && c.Failure != nil {
			t.Errorf("passing check rate_limit has a failure")
		}
	}
}

// TestMarkdownGateCodeSpan checks that gate expressions keep < and > inside their code span:
// Markdown does not decode entities there.
func TestMarkdownGateCodeSpan(t *testing.T) {
	r := &Report{Verdict: "pass", Gates: []GateResult{{Expr: "latency.p99 < 2s", Metric: "latency.p99", Value: 120, Passed: true}, {Expr: "a | b", Passed: true}}}
	var b strings.Builder
	if err := WriteMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"`latency.p99 < 2s`", "`a \\| b`"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("markdown lacks %s:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "&lt;") {
		t.Errorf("markdown has an entity in a code span:\n%s", b.String())
	}
}
