package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/retrylab/retrylab/analysis"
	"github.com/retrylab/retrylab/internal/profile"
	"github.com/retrylab/retrylab/internal/scenario"
)

const runUsage = `Usage: loadgen run PROFILE [options]

Runs a whole scenario in one process: the built-in target (or the profile's target URL),
the fault proxy with its journal, vegeta load through the client under test, the analysis,
the reports, the charts and the gates. Everything lands in results/<run-id>/.

Arguments:
  PROFILE   a profile file (see profiles/README.md), e.g. profiles/quickstart.yaml
` + "\x00" + `
Examples:
  loadgen run profiles/quickstart.yaml
  loadgen run profiles/quickstart.yaml --policy ignores-retry-after     # exits 1
  loadgen run profiles/brownout.yaml --rate 200/s --duration 1m --gate 'latency.p99 < 2s'

Exit status: 0 all gates pass, 1 a gate failed, 2 bad usage or invalid profile, 3 runtime failure.
`

func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", runUsage, stderr)
	var ov overrides
	ov.register(fs)
	out := fs.String("out", "results", "directory under which the run's results directory is created")
	gates := fs.StringArray("gate", nil, "gate expression, repeatable (e.g. 'retry_after.violations == 0')")
	noCharts := fs.Bool("no-charts", false, "skip charts and report.html")
	quiet := fs.BoolP("quiet", "q", false, "no progress line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErrorf("run: want exactly one PROFILE, got %d arguments (see 'loadgen run --help')", fs.NArg())
	}
	p, err := ov.apply(fs.Arg(0))
	if err != nil {
		return err
	}
	if p.Client.Kind == profile.KindGo {
		return usageErrorf("run: %s: client kind go runs through the Go package (retrylab.Run with your *http.Client), not loadgen", p.Position("client.kind"))
	}
	if err := checkGates(*gates); err != nil {
		return err
	}
	var progress io.Writer = stderr
	if *quiet {
		progress = nil
	}
	res, err := scenario.Run(ctx, scenario.Options{
		Profile:     p,
		ResultsRoot: *out,
		Gates:       *gates,
		Progress:    progress,
		Log:         stderr,
		NoCharts:    *noCharts,
	})
	if err != nil {
		return err
	}
	return finish(stdout, res.Report, res.Dir)
}

// finish prints the one-screen summary and where the reports are, and turns the verdict
// into the exit status.
func finish(stdout io.Writer, rep *analysis.Report, dir string) error {
	if err := analysis.WriteSummary(stdout, rep); err != nil {
		return err
	}
	if dir != "" {
		fmt.Fprintf(stdout, "\nresults: %s\n", dir)
		for _, f := range []string{scenario.ReportHTML, scenario.ReportJSON, scenario.ReportMD, scenario.JUnitFile} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				fmt.Fprintf(stdout, "  %s\n", filepath.Join(dir, f))
			}
		}
	}
	if rep.Partial {
		fmt.Fprintln(stdout, "\ninterrupted: the report covers only part of the run (\"partial\": true)")
		return errInterrupted
	}
	if rep.Verdict != "pass" {
		return errGateFailed
	}
	return nil
}

// checkGates refuses a bad --gate before anything runs.
func checkGates(exprs []string) error {
	for _, e := range exprs {
		if _, err := analysis.ParseGate(e); err != nil {
			return usageErrorf("--gate %q: %v", e, err)
		}
	}
	return nil
}

func parseDuration(s string, d *profile.Duration) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = profile.Duration(v)
	return nil
}
