package chart

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/retrylab/retrylab/analysis"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// renderReport draws the scenario's charts and writes report.html; it returns the HTML.
func renderReport(t *testing.T, in Input) string {
	t.Helper()
	in, paths := drawScenario(t, in, smallPNG)
	out := filepath.Join(in.Dir, "report.html")
	if err := WriteHTML(out, in, paths); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	reStructure = regexp.MustCompile(`<(h2|h3|section|figure|div class="banner[^"]*"|details|table|img)([^>]*)>([^<]*)`)
	reID        = regexp.MustCompile(`\bid="([^"]+)"`)
	reAttrURL   = regexp.MustCompile(`\b(?:src|href|action|xlink:href|poster)\s*=\s*"([^"]*)"`)
	reCSSURL    = regexp.MustCompile(`url\(|@import`)
)

// structure reduces a report to its skeleton: the sections, headings, figures, banners and
// tables in order, so a golden file catches a dropped or reordered part without pinning
// every number.
func structure(html string) string {
	var b strings.Builder
	for _, m := range reStructure.FindAllStringSubmatch(html, -1) {
		tag := m[1]
		if strings.HasPrefix(tag, "div") {
			tag = strings.TrimSuffix(strings.TrimPrefix(tag, `div class="`), `"`)
		}
		b.WriteString(tag)
		if id := reID.FindStringSubmatch(m[2]); id != nil {
			b.WriteString(" #" + id[1])
		}
		if txt := strings.TrimSpace(m[3]); txt != "" && (tag == "h2" || tag == "h3") {
			b.WriteString(" " + txt)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestWriteHTMLContents(t *testing.T) {
	rep := testReport()
	page := renderReport(t, Input{Report: rep, Profile: testProfile()})
	tests := []struct {
		name string
		want []string
	}{
		{"verdict banner", []string{`<div class="banner fail" id="verdict"><div class="word">FAIL</div>`, "2 of 8 checks failed"}},
		{"gates", []string{"<code>retry_after.violations == 0</code>", "<code>success_rate &gt;= 0.95</code>"}},
		{"evidence", []string{"<details>", "retry 200ms after a 503 that said Retry-After: 1s", "wait at least 1000ms"}},
		{"totals", []string{">387<", "98.97%"}},
		{"latency", []string{"1.32 s", "25 ms"}},
		{"clients", []string{"alice", "bob", `<span class="badge fail">OVER</span>`}},
		{"run metadata", []string{"run-test-1", "reference/ignores-retry-after", "v0.1.0-test"}},
		{"profile", []string{"scenario-test", "rate_limits:", "[redacted]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("report.html lacks %q", w)
				}
			}
		})
	}
	t.Run("every check id", func(t *testing.T) {
		for _, id := range analysis.CheckIDs {
			if !strings.Contains(page, `id="check-`+id+`"`) || !strings.Contains(page, "<code>"+id+"</code>") {
				t.Errorf("report.html lacks check %s", id)
			}
		}
	})
	t.Run("charts embedded", func(t *testing.T) {
		for _, n := range ChartNames {
			if !strings.Contains(page, `id="chart-`+n+`"`) {
				t.Errorf("report.html lacks chart %s", n)
			}
		}
		if got := strings.Count(page, `<img src="data:image/png;base64,`); got != len(ChartNames) {
			t.Errorf("%d embedded PNGs, want %d", got, len(ChartNames))
		}
	})
	t.Run("self-contained", func(t *testing.T) {
		for _, bad := range []string{"http://", "https://", "<script", "<link", "<iframe"} {
			if strings.Contains(page, bad) {
				t.Errorf("report.html contains %q", bad)
			}
		}
		assertNoExternalRefs(t, page)
	})
	t.Run("secrets", func(t *testing.T) {
		for _, k := range []string{keyAlice, keyBob} {
			if strings.Contains(page, k) {
				t.Errorf("report.html leaks API key %q", k)
			}
		}
	})
	t.Run("structure", func(t *testing.T) {
		got := structure(page)
		golden := filepath.Join("testdata", "report_structure.golden")
		if *update {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("report structure changed (run go test -update if intended):\n--- got\n%s\n--- want\n%s", got, want)
		}
	})
}

// assertNoExternalRefs fails when any attribute or CSS of page names a resource that is
// not inline (data:) or in the page (#fragment).
func assertNoExternalRefs(t *testing.T, page string) {
	t.Helper()
	for _, m := range reAttrURL.FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "data:") && !strings.HasPrefix(m[1], "#") {
			t.Errorf("external reference %q", m[1])
		}
	}
	if reCSSURL.MatchString(page) {
		t.Error("CSS loads something (url( or @import)")
	}
}

func TestWriteHTMLVerdicts(t *testing.T) {
	pass := testReport()
	pass.Verdict = "pass"
	for i := range pass.Checks {
		pass.Checks[i].Passed, pass.Checks[i].Violations, pass.Checks[i].Evidence = true, 0, nil
	}
	pass.Gates = nil
	tests := []struct {
		name  string
		in    Input
		want  []string
		avoid []string
	}{
		{"pass", Input{Report: pass}, []string{`class="banner pass"`, ">PASS<", "all 8 checks passed", "No gates were configured."}, []string{`class="banner fail"`, "Evidence:"}},
		{"no report", Input{}, []string{`class="banner none"`, "NO VERDICT", `id="chart-latency"`}, []string{`id="checks"`, `id="profile"`}},
		{"partial with warnings", Input{Report: func() *analysis.Report {
			r := testReport()
			r.Partial = true
			r.Run.Warnings = []string{"journal.jsonl:17: malformed line skipped"}
			return r
		}()}, []string{"PARTIAL", "journal.jsonl:17: malformed line skipped"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := renderReport(t, tt.in)
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("report.html lacks %q", w)
				}
			}
			for _, a := range tt.avoid {
				if strings.Contains(page, a) {
					t.Errorf("report.html has %q", a)
				}
			}
			assertNoExternalRefs(t, page)
		})
	}
}

func TestWriteHTMLProfileSources(t *testing.T) {
	dir := t.TempDir()
	raw := "version: 1\nname: from-file\ntarget: http://127.0.0.1:9000\nclients:\n  - name: alice\n    key: " + keyAlice + "\n"
	file := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(file, []byte(raw), 0o644); err != nil {
		t.Fatal(err)
	}
	fromFile := testProfile()
	fromFile.Path = file
	missing := testProfile()
	missing.Path = filepath.Join(dir, "gone.yaml")
	tests := []struct {
		name string
		p    Input
		want []string
	}{
		{"raw file", Input{Profile: fromFile}, []string{"name: from-file", file}},
		{"marshalled when the file is gone", Input{Profile: missing}, []string{"name: scenario-test", "profile as loaded", "limit: 20/s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "sub", "report.html")
			if err := WriteHTML(out, tt.p, nil); err != nil {
				t.Fatalf("WriteHTML: %v", err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			page := string(b)
			for _, w := range append(tt.want, "[redacted]") {
				if !strings.Contains(page, w) {
					t.Errorf("report.html lacks %q", w)
				}
			}
			if strings.Contains(page, keyAlice) {
				t.Error("report.html leaks an API key")
			}
			// A loopback target URL in the profile is text, never a reference.
			assertNoExternalRefs(t, page)
		})
	}
}

func TestWriteHTMLErrors(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		path   string
		charts []string
	}{
		{"missing chart", filepath.Join(dir, "r.html"), []string{filepath.Join(dir, "absent.png")}},
		{"unwritable path", filepath.Join(blocker, "r.html"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteHTML(tt.path, Input{}, tt.charts)
			if err == nil {
				t.Fatal("WriteHTML succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestEmbedChartPrefersPNG(t *testing.T) {
	dir := t.TempDir()
	in := Input{Dir: dir}
	paths, err := drawAll(context.Background(), in, smallPNG)
	if err != nil {
		t.Fatal(err)
	}
	var svgs []string
	for _, p := range paths {
		if strings.HasSuffix(p, ".svg") {
			svgs = append(svgs, p)
		}
	}
	tests := []struct {
		name            string
		charts          []string
		wantPNG, wantSV int
	}{
		{"png and svg", paths, len(ChartNames), 0},
		{"svg only", svgs, 0, len(ChartNames)},
		{"other files ignored", []string{filepath.Join(dir, "report.json")}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := buildHTMLData(in, tt.charts)
			if err != nil {
				t.Fatal(err)
			}
			var png, svg int
			for _, c := range d.Charts {
				switch {
				case strings.HasPrefix(string(c.Src), "data:image/png;base64,"):
					png++
				case strings.HasPrefix(string(c.Src), "data:image/svg+xml;base64,"):
					svg++
				}
			}
			if png != tt.wantPNG || svg != tt.wantSV {
				t.Errorf("embedded %d PNG + %d SVG, want %d + %d", png, svg, tt.wantPNG, tt.wantSV)
			}
		})
	}
}
