package main

import (
	"context"
	"io"
	"os"
	"path/filepath"

	"github.com/retrylab/retrylab/analysis"
	"github.com/retrylab/retrylab/internal/profile"
	"github.com/retrylab/retrylab/internal/scenario"
)

const analyzeUsage = `Usage: loadgen analyze JOURNAL... [options]

Reads one or more proxy journals (merged by time) in one streaming pass, evaluates every
check, writes report.json, report.md and junit.xml, prints the verdict and applies the gates.

Arguments:
  JOURNAL   a journal written by faultproxy or loadgen run (JSON Lines); - reads stdin
` + "\x00" + `
Examples:
  loadgen analyze results/latest/journal.jsonl
  loadgen analyze proxy-a.jsonl proxy-b.jsonl --profile profiles/brownout.yaml --out ci-report
  loadgen analyze results/latest/journal.jsonl --cut-short   # a run stopped with Ctrl-C
  faultproxy ... --journal - | loadgen analyze - --gate 'duplicate_side_effects == 0'

Exit status: 0 all gates pass, 1 a gate failed, 2 bad usage or invalid profile, 3 runtime failure.
`

func analyzeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("analyze", analyzeUsage, stderr)
	prof := fs.String("profile", "", "profile whose analysis parameters, limits and thresholds apply")
	out := fs.String("out", "", "directory for the reports (default: the first journal's directory)")
	gates := fs.StringArray("gate", nil, "gate expression, repeatable (e.g. 'amplification <= 2.5')")
	cutShort := fs.Bool("cut-short", false, "the journals end where a run was interrupted: operations still failing at their end count as cut, not failed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageErrorf("analyze: want at least one JOURNAL (see 'loadgen analyze --help')")
	}
	if err := checkGates(*gates); err != nil {
		return err
	}
	cfg := analysis.DefaultConfig()
	if *prof != "" {
		p, err := profile.Load(*prof)
		if err != nil {
			return err
		}
		cfg = analysis.ConfigFromProfile(p)
		// The journal may come from any client and any seed: the profile only supplies the
		// limits, the analysis parameters and the thresholds.
		cfg.Run.Profile, cfg.Run.File, cfg.Run.Client, cfg.Run.Seed = p.Name, p.Path, "", 0
	}
	cfg.CutShort = *cutShort
	var srcs []analysis.Source
	for _, path := range fs.Args() {
		if path == "-" {
			srcs = append(srcs, analysis.Source{Name: "stdin", R: os.Stdin})
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		srcs = append(srcs, analysis.Source{Name: path, R: f})
	}
	rep, err := analysis.Analyze(ctx, cfg, srcs...)
	if err != nil {
		return err
	}
	if err := rep.ApplyGates(*gates, "flag"); err != nil {
		return usageErrorf("%v", err)
	}
	dir := *out
	if dir == "" {
		dir = filepath.Dir(fs.Arg(0))
		if fs.Arg(0) == "-" {
			dir = "."
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := scenario.WriteReports(dir, rep); err != nil {
		return err
	}
	return finish(stdout, rep, dir)
}
