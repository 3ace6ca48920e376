package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/retrylab/retrylab/analysis"
	"github.com/retrylab/retrylab/internal/journal"
)

// runCLI runs loadgen with args and returns its exit status, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	code := exitCode(err, &stderr)
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUsageAndInvalidProfiles(t *testing.T) {
	dir := t.TempDir()
	good := "version: 1\nduration: 2s\nload:\n  rate: 10/s\nfaults:\n  - action: respond\n    status: 503\n    probability: 0.5\n"
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr []string
	}{
		{"no command", nil, 2, []string{"Error: no command given"}},
		{"unknown command", []string{"explode"}, 2, []string{`unknown command "explode"`}},
		{"run without profile", []string{"run"}, 2, []string{"want exactly one PROFILE"}},
		{"unknown flag", []string{"run", "--nope", "x.yaml"}, 2, []string{"unknown flag: --nope"}},
		{"missing file", []string{"run", filepath.Join(dir, "none.yaml")}, 3, []string{"read profile", "no such file"}},
		{"misspelled field", []string{"run", writeFile(t, dir, "a.yaml", strings.Replace(good, "rate:", "rat:", 1))}, 2,
			[]string{"a.yaml:4: load.rat: unknown field (did you mean \"rate\"?)"}},
		{"negative rate", []string{"run", writeFile(t, dir, "b.yaml", strings.Replace(good, "10/s", "-5/s", 1))}, 2,
			[]string{"b.yaml:4: load.rate: \"-5/s\" is negative"}},
		{"probability above one", []string{"run", writeFile(t, dir, "c.yaml", strings.Replace(good, "0.5", "1.5", 1))}, 2,
			[]string{"c.yaml:8: faults[0].probability: 1.5 is out of range [0, 1]"}},
		{"bad threshold", []string{"run", writeFile(t, dir, "d.yaml", good+"thresholds:\n  - retry_afterr.violations == 0\n")}, 2,
			[]string{"d.yaml:10: thresholds[0]:", "unknown metric"}},
		{"bad gate flag", []string{"run", writeFile(t, dir, "e.yaml", good), "--gate", "latency.p99 <<< 2s"}, 2,
			[]string{"--gate \"latency.p99 <<< 2s\""}},
		{"bad rate flag", []string{"run", writeFile(t, dir, "f.yaml", good), "--rate", "fast"}, 2, []string{"--rate \"fast\""}},
		{"unknown policy flag", []string{"run", writeFile(t, dir, "g.yaml", good), "--policy", "yolo"}, 2,
			[]string{"--policy \"yolo\": not a reference client"}},
		{"attack off loopback", []string{"attack", writeFile(t, dir, "h.yaml", good), "--url", "http://10.1.2.3:80"}, 2,
			[]string{"not on loopback"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"run", "attack", "analyze", "plot", "gate", "check"} {
		t.Run(cmd, func(t *testing.T) {
			code, _, stderr := runCLI(t, cmd, "--help")
			if code != 0 {
				t.Errorf("exit %d, want 0", code)
			}
			for _, w := range []string{"Usage: loadgen " + cmd, "Arguments:", "Options:", "Examples:"} {
				if !strings.Contains(stderr, w) {
					t.Errorf("help lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestCheck: every shipped profile is valid; an invalid one is named with each problem
// located, and the others are still checked.
func TestCheck(t *testing.T) {
	profiles, _ := filepath.Glob("../../profiles/*.yaml")
	if len(profiles) < 8 {
		t.Fatalf("found %d profiles", len(profiles))
	}
	code, stdout, stderr := runCLI(t, append([]string{"check"}, profiles...)...)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	if n := strings.Count(stdout, ": ok  "); n != len(profiles) {
		t.Errorf("%d ok lines for %d profiles:\n%s", n, len(profiles), stdout)
	}
	if !strings.Contains(stdout, `quickstart.yaml: ok  "quickstart" · constant 40/s for 20s · 9 fault rules · 1 rate limit · 8 thresholds · client reference/compliant · target builtin`) {
		t.Errorf("quickstart line:\n%s", stdout)
	}

	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", "version: 1\nduration: 2s\nload:\n  rat: 10/s\nfaults:\n  - action: respond\n    probability: 1.5\n")
	indent := writeFile(t, dir, "indent.yaml", "name: x\nload:\n  rate: 10/s\n  duration: 5s\n burst: 20/s\n")
	code, stdout, stderr = runCLI(t, "check", bad, profiles[0], indent)
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, w := range []string{
		"bad.yaml:4: load.rat: unknown field (did you mean \"rate\"?)",
		"bad.yaml:7: faults[0].probability: 1.5 is out of range [0, 1]",
		"indent.yaml:5: YAML syntax: this line is indented 1 space",
		"check: 2 of 3 profiles invalid",
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if strings.Count(stdout, ": ok  ") != 1 {
		t.Errorf("the valid profile among invalid ones is not reported ok:\n%s", stdout)
	}
}

func writeReport(t *testing.T, dir string, rep *analysis.Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := analysis.WriteJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, "report.json", b.String())
}

func TestGateNotAReport(t *testing.T) {
	dir := t.TempDir()
	j := writeFile(t, dir, "j.jsonl", `{"seq":1,"ts":1,"method":"GET","path":"/"}`+"\n")
	code, _, stderr := runCLI(t, "gate", j, "--gate", "success_rate >= 99%")
	if code != 2 || !strings.Contains(stderr, "is not a report.json") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestGate(t *testing.T) {
	dir := t.TempDir()
	rep := &analysis.Report{Version: 1, Verdict: "pass", Metrics: map[string]float64{
		"duplicate_side_effects": 0, "duplicate_side_effects.violations": 0, "latency.p99": 2500, "success_rate": 0.999,
		"retry_after.violations": 3,
	}}
	path := writeReport(t, dir, rep)
	tests := []struct {
		name  string
		gates []string
		code  int
		out   []string
	}{
		{"all pass", []string{"duplicate_side_effects == 0", "success_rate >= 99.5%"}, 0, []string{"PASS  duplicate_side_effects == 0", "verdict: pass"}},
		{"latency fails", []string{"latency.p99 < 2s"}, 1, []string{"FAIL  latency.p99 < 2s", "verdict: fail"}},
		{"violations fail", []string{"retry_after.violations == 0"}, 1, []string{"FAIL  retry_after.violations == 0"}},
		{"bad expression", []string{"latency.p99 <"}, 2, nil},
		{"unit mismatch", []string{"retries < 1m"}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"gate", path}
			for _, g := range tt.gates {
				args = append(args, "--gate", g)
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.out {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
}

// TestAnalyze analyses a hand-written journal: one operation retried 200 ms after a 503 that
// announced Retry-After: 1 (a retry_after violation), one that behaved.
func TestAnalyze(t *testing.T) {
	dir := t.TempDir()
	const s = int64(1_700_000_000_000_000_000)
	recs := []journal.Record{
		{Time: s, Client: "k_a", Method: "POST", Path: "/v1/calls", Op: "op-1", Attempt: 1, Action: "respond", Rule: "b", Status: 503, RetryAfterMs: 1000, DurNs: 1e6},
		{Time: s + 201e6, Client: "k_a", Method: "POST", Path: "/v1/calls", Op: "op-1", Attempt: 2, Action: "forward", Status: 201, UpstreamStatus: 201, Executed: true, RetryAfterMs: -1, DurNs: 1e6},
		{Time: s + 300e6, Client: "k_a", Method: "POST", Path: "/v1/calls", Op: "op-2", Attempt: 1, Action: "respond", Rule: "b", Status: 503, RetryAfterMs: 1000, DurNs: 1e6},
		{Time: s + 1400e6, Client: "k_a", Method: "POST", Path: "/v1/calls", Op: "op-2", Attempt: 2, Action: "forward", Status: 201, UpstreamStatus: 201, Executed: true, RetryAfterMs: -1, DurNs: 1e6},
	}
	var buf []byte
	for i := range recs {
		recs[i].Seq = uint64(i + 1)
		buf = journal.AppendRecord(buf, &recs[i])
	}
	jpath := writeFile(t, dir, "journal.jsonl", string(buf))
	out := filepath.Join(dir, "out")

	code, stdout, stderr := runCLI(t, "analyze", jpath, "--out", out, "--gate", "retry_after.violations == 0")
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Verdict string `json:"verdict"`
		Checks  []struct {
			ID         string `json:"id"`
			Violations int    `json:"violations"`
		} `json:"checks"`
		Totals struct {
			Operations int `json:"operations"`
			Attempts   int `json:"attempts"`
		} `json:"totals"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != "fail" || rep.Totals.Operations != 2 || rep.Totals.Attempts != 4 {
		t.Errorf("verdict %q operations %d attempts %d, want fail 2 4", rep.Verdict, rep.Totals.Operations, rep.Totals.Attempts)
	}
	for _, c := range rep.Checks {
		want := 0
		if c.ID == "retry_after" {
			want = 1
		}
		if c.Violations != want {
			t.Errorf("%s: %d violations, want %d", c.ID, c.Violations, want)
		}
	}
	for _, f := range []string{"report.json", "report.md", "junit.xml"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
}

// TestRunEndToEnd is the foundation's promise: the compliant reference client passes a
// brownout and a client that ignores Retry-After fails it with retry_after violations.
func TestRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	tests := []struct {
		policy   string
		wantCode int
		wantRA   bool
	}{
		{"compliant", 0, false},
		{"ignores-retry-after", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			t.Parallel()
			out := t.TempDir()
			code, stdout, stderr := runCLI(t, "run", "testdata/brownout-short.yaml", "--policy", tt.policy, "--out", out, "--quiet", "--no-charts")
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			dirs, _ := filepath.Glob(filepath.Join(out, "*-brownout-short"))
			if len(dirs) != 1 {
				t.Fatalf("results directories: %v", dirs)
			}
			for _, f := range []string{"journal.jsonl", "results.bin", "report.json", "report.md", "junit.xml", "profile.yaml"} {
				if _, err := os.Stat(filepath.Join(dirs[0], f)); err != nil {
					t.Errorf("missing %s", f)
				}
			}
			rep := readReportIn(t, dirs[0])
			ra := rep.Metrics["retry_after.violations"]
			if (ra > 0) != tt.wantRA {
				t.Errorf("retry_after.violations = %v, want > 0: %v", ra, tt.wantRA)
			}
			if !strings.Contains(stdout, "retry_after") {
				t.Errorf("summary lacks the checks:\n%s", stdout)
			}
		})
	}
}

// TestPlotElsewhere draws from files named by flags: a journal written by faultproxy into a
// directory that is not a results directory.
func TestPlotElsewhere(t *testing.T) {
	dir := t.TempDir()
	const s = int64(1_700_000_000_000_000_000)
	var buf []byte
	for i := range 20 {
		r := journal.Record{Seq: uint64(i + 1), Time: s + int64(i)*50e6, Client: "k_a", Method: "POST", Path: "/v1/calls",
			Op: fmt.Sprintf("op-%d", i), Attempt: 1, Action: "forward", Status: 201, UpstreamStatus: 201, RetryAfterMs: -1, DurNs: 2e6}
		buf = journal.AppendRecord(buf, &r)
	}
	j := writeFile(t, dir, "j.jsonl", string(buf))
	out := filepath.Join(dir, "charts")
	code, stdout, stderr := runCLI(t, "plot", out, "--journal", j)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"latency.png", "rps.svg", "report.html"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	if code, _, stderr := runCLI(t, "plot", dir); code != 2 || !strings.Contains(stderr, "give one with --journal") {
		t.Errorf("plot of a directory without journal: exit %d, stderr %q", code, stderr)
	}
}

// TestRunInterrupted: a run stopped by a signal writes its partial report and exits 130.
func TestRunInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(700 * time.Millisecond)
		cancel()
	}()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"run", "testdata/brownout-short.yaml", "--duration", "10s", "--out", out, "--quiet", "--no-charts"}, &stdout, &stderr)
	if code := exitCode(err, &stderr); code != 130 {
		t.Fatalf("exit %d, want 130\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "*-brownout-short", "report.json"))
	if len(dirs) != 1 {
		t.Fatalf("reports: %v", dirs)
	}
	rep := readReportIn(t, filepath.Dir(dirs[0]))
	if !rep.Partial || rep.Totals.Operations == 0 {
		t.Errorf("partial %v, operations %d: want a partial report with the operations so far", rep.Partial, rep.Totals.Operations)
	}
	tt := rep.Totals
	if tt.Succeeded+tt.Failed+tt.Cut != tt.Operations {
		t.Errorf("totals %+v: succeeded + failed + cut != operations", tt)
	}
	// The same journal analysed again: with --cut-short the totals are the run's own; without
	// it, the cut operations are failures.
	t.Logf("totals of the interrupted run: %+v", tt)
	journal := filepath.Join(filepath.Dir(dirs[0]), "journal.jsonl")
	for _, cut := range []bool{true, false} {
		args := []string{"analyze", journal, "--out", t.TempDir(), "--profile", "testdata/brownout-short.yaml"}
		if cut {
			args = append(args, "--cut-short")
		}
		var so, se bytes.Buffer
		err := run(context.Background(), args, &so, &se)
		if code := exitCode(err, &se); code != 0 && code != 1 {
			t.Fatalf("analyze %v: exit %d\n%s", args, code, se.String())
		}
		again := readReportIn(t, args[3])
		want := tt
		if !cut {
			want.Failed, want.Cut = tt.Failed+tt.Cut, 0
		}
		got := again.Totals
		if got.Operations != want.Operations || got.Succeeded != want.Succeeded || got.Failed != want.Failed || got.Cut != want.Cut {
			t.Errorf("analyze --cut-short=%v: totals %+v, want operations %d succeeded %d failed %d cut %d",
				cut, got, want.Operations, want.Succeeded, want.Failed, want.Cut)
		}
	}
}

// readReportIn reads dir/report.json.
func readReportIn(t *testing.T, dir string) *analysis.Report {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := analysis.ReadReport(f)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
