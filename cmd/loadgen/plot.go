package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/retrylab/retrylab/analysis"
	"github.com/retrylab/retrylab/internal/chart"
	"github.com/retrylab/retrylab/internal/profile"
	"github.com/retrylab/retrylab/internal/scenario"
)

const plotUsage = `Usage: loadgen plot RESULTS_DIR [--journal FILE]... [--results FILE] [--report FILE] [--profile FILE]

Redraws every chart (PNG and SVG) and report.html into a directory: from its journal.jsonl,
results.bin, report.json and profile.yaml (what loadgen run writes there), or from the files
the options name (what faultproxy, loadgen attack and loadgen analyze wrote elsewhere).

Arguments:
  RESULTS_DIR   a directory written by loadgen run (e.g. results/latest), or where to draw
` + "\x00" + `
Examples:
  loadgen plot results/latest
  loadgen plot ci-report --journal j.jsonl --results results.bin --profile profiles/brownout.yaml
  loadgen plot results/20261123-101500-quickstart && xdg-open results/20261123-101500-quickstart/report.html
`

func plotCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plot", plotUsage, stderr)
	journals := fs.StringArray("journal", nil, "journal to draw, repeatable (default RESULTS_DIR/journal.jsonl)")
	resultsPath := fs.String("results", "", "vegeta results file (default RESULTS_DIR/results.bin)")
	reportPath := fs.String("report", "", "report.json (default RESULTS_DIR/report.json)")
	profilePath := fs.String("profile", "", "profile, for the limits and the profile section (default RESULTS_DIR/profile.yaml)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErrorf("plot: want exactly one RESULTS_DIR (see 'loadgen plot --help')")
	}
	dir := fs.Arg(0)
	or := func(v, name string) string {
		if v != "" {
			return v
		}
		return filepath.Join(dir, name)
	}
	if len(*journals) == 0 {
		*journals = []string{filepath.Join(dir, scenario.JournalFile)}
	}
	for _, j := range *journals {
		if _, err := os.Stat(j); err != nil {
			return usageErrorf("plot: no journal %s (give one with --journal)", j)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	in := chart.Input{Dir: dir, Journals: *journals, Results: or(*resultsPath, scenario.ResultsFile)}
	if f, err := os.Open(or(*reportPath, scenario.ReportJSON)); err == nil {
		rep, err := analysis.ReadReport(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("read report.json: %w", err)
		}
		in.Report = rep
	}
	if *profilePath != "" {
		p, err := profile.Load(*profilePath)
		if err != nil {
			return err
		}
		in.Profile = p
	} else if p, err := profile.Load(filepath.Join(dir, scenario.ProfileCopy)); err == nil {
		in.Profile = p
	}
	charts, err := chart.DrawAll(ctx, in)
	if err != nil {
		return err
	}
	if err := chart.WriteHTML(filepath.Join(dir, scenario.ReportHTML), in, charts); err != nil {
		return err
	}
	for _, c := range charts {
		fmt.Fprintln(stdout, c)
	}
	fmt.Fprintln(stdout, filepath.Join(dir, scenario.ReportHTML))
	return nil
}
