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

const plotUsage = `Usage: loadgen plot RESULTS_DIR

Redraws every chart (PNG and SVG) and report.html from a results directory: its journal,
vegeta results, report.json and profile copy.

Arguments:
  RESULTS_DIR   a directory written by loadgen run (e.g. results/latest)
` + "\x00" + `
Examples:
  loadgen plot results/latest
  loadgen plot results/20261123-101500-quickstart && xdg-open results/20261123-101500-quickstart/report.html
`

func plotCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plot", plotUsage, stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErrorf("plot: want exactly one RESULTS_DIR (see 'loadgen plot --help')")
	}
	dir := fs.Arg(0)
	journalPath := filepath.Join(dir, scenario.JournalFile)
	if _, err := os.Stat(journalPath); err != nil {
		return usageErrorf("plot: %s has no %s: is it a results directory?", dir, scenario.JournalFile)
	}
	in := chart.Input{Dir: dir, Journals: []string{journalPath}, Results: filepath.Join(dir, scenario.ResultsFile)}
	if f, err := os.Open(filepath.Join(dir, scenario.ReportJSON)); err == nil {
		rep, err := analysis.ReadReport(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("read report.json: %w", err)
		}
		in.Report = rep
	}
	if p, err := profile.Load(filepath.Join(dir, scenario.ProfileCopy)); err == nil {
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
