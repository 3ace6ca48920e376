package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/retrylab/retrylab/analysis"
)

const gateUsage = `Usage: loadgen gate REPORT.json [--gate EXPR]...

Applies gates to an existing report.json without re-running anything. With --gate, those
expressions are evaluated (the report's own gates are replaced); without, the gates recorded
in the report are evaluated again. Prints one line per gate.

Arguments:
  REPORT.json   a report written by loadgen run or loadgen analyze; - reads stdin
` + "\x00" + `
Examples:
  loadgen gate results/latest/report.json --gate 'duplicate_side_effects == 0' --gate 'latency.p99 < 2s'
  loadgen gate report.json --gate 'success_rate >= 99.5%' && deploy

Gate expressions: METRIC OP VALUE with OP one of < <= > >= == !=; VALUE a number, a
percentage (99.5%) or a duration (2s, 250ms; latency metrics are in ms). A bare check id means
its violations. Metrics are listed in docs/CHECKS.md.

Exit status: 0 all gates pass, 1 a gate failed, 2 bad usage or a bad expression, 3 runtime failure.
`

func gateCommand(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gate", gateUsage, stderr)
	gates := fs.StringArray("gate", nil, "gate expression, repeatable")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErrorf("gate: want exactly one REPORT.json (see 'loadgen gate --help')")
	}
	if err := checkGates(*gates); err != nil {
		return err
	}
	var r io.Reader = os.Stdin
	if fs.Arg(0) != "-" {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	rep, err := analysis.ReadReport(r)
	if err != nil {
		return usageErrorf("gate: %s is not a report.json: %v", fs.Arg(0), err)
	}
	if rep.Verdict == "" || rep.Metrics == nil {
		return usageErrorf("gate: %s is not a report.json (no verdict or metrics): write one with loadgen run or loadgen analyze", fs.Arg(0))
	}
	exprs := *gates
	if len(exprs) == 0 {
		for _, g := range rep.Gates {
			exprs = append(exprs, g.Expr)
		}
	}
	rep.Gates = nil
	if err := rep.ApplyGates(exprs, "flag"); err != nil {
		return usageErrorf("%v", err)
	}
	for _, g := range rep.Gates {
		mark := "PASS"
		if !g.Passed {
			mark = "FAIL"
		}
		fmt.Fprintf(stdout, "%s  %-40s (%s = %.6g)\n", mark, g.Expr, g.Metric, g.Value)
	}
	fmt.Fprintf(stdout, "verdict: %s\n", rep.Verdict)
	if rep.Verdict != "pass" {
		return errGateFailed
	}
	return nil
}
