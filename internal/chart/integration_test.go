package chart

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/retrylab/retrylab/analysis"
	"github.com/retrylab/retrylab/internal/journal"
)

// TestChartsAgreeWithAnalysis draws a generated journal and checks the charts' counts
// against the analysis report computed from the same journal by the analysis package: two
// independent readings of one journal must agree.
func TestChartsAgreeWithAnalysis(t *testing.T) {
	dir := t.TempDir()
	jp := filepath.Join(dir, "journal.jsonl")
	f, err := os.Create(jp)
	if err != nil {
		t.Fatal(err)
	}
	if err := journal.Generate(f, 20000, 11); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := analysis.AnalyzeFiles(context.Background(), analysis.DefaultConfig(), jp)
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Dir: filepath.Join(dir, "out"), Journals: []string{jp}, Report: rep}
	paths, err := drawAll(context.Background(), in, smallPNG)
	if err != nil {
		t.Fatal(err)
	}
	tot := rep.Totals
	tests := []struct {
		chart string
		want  string
	}{
		{ChartLatency, countLabel("operation end-to-end", tot.Operations)},
		{ChartLatency, countLabel("limiter 429", tot.RateLimited)},
		{ChartRPS, "Retries per second by outcome (" + groupDigits(tot.Retries) + ")"},
		{ChartRPS, "First attempts per second by outcome (" + groupDigits(tot.Attempts-tot.Retries) + ")"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := svgLabels(t, filepath.Join(in.Dir, tt.chart+".svg"))
			if !slices.Contains(got, tt.want) {
				t.Errorf("%s.svg lacks %q (from report.json); texts: %q", tt.chart, tt.want, got)
			}
		})
	}
	out := filepath.Join(in.Dir, "report.html")
	if err := WriteHTML(out, in, paths); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, c := range rep.Checks {
		if !strings.Contains(page, `id="check-`+c.ID+`"`) {
			t.Errorf("report.html lacks check %s", c.ID)
		}
	}
	if want := `class="banner ` + rep.Verdict + `"`; !strings.Contains(page, want) {
		t.Errorf("report.html lacks %q", want)
	}
	assertNoExternalRefs(t, page)
}
