// Command loadgen drives vegeta load through a client under test and a fault proxy, analyses
// the proxy's journal, draws charts and gates a release on the result.
//
//	loadgen run PROFILE          one whole scenario in one process
//	loadgen attack PROFILE       load only, against a running proxy or service
//	loadgen analyze JOURNAL...   checks, reports and gates from journals
//	loadgen plot RESULTS_DIR     redraw the charts and report.html
//	loadgen gate REPORT.json     gate an existing report
//
// Exit status: 0 all gates pass, 1 a gate failed, 2 bad usage or invalid profile, 3 a
// runtime failure, 130 interrupted (the partial report is written).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/retrylab/retrylab/internal/cli"
	"github.com/retrylab/retrylab/internal/version"
)

// Exit statuses of loadgen's own (DESIGN.md); 0, 2 and 3 come from cli.ExitCode.
const (
	exitFail   = 1
	exitSignal = 130 // interrupted (128 + SIGINT): a partial report was written
)

const usage = `loadgen: prove that an HTTP client survives a rate-limited, flaky API.

Usage:
  loadgen <command> [arguments] [options]

Commands:
  run PROFILE              run a whole scenario: target, fault proxy, load, analysis, charts, gates
  attack PROFILE           drive load only, against a running faultproxy or your service
  analyze JOURNAL...       analyse proxy journals: checks, reports, gates
  plot RESULTS_DIR         redraw every chart and report.html from a results directory
  gate REPORT.json         apply gates to an existing report without re-running anything
  check PROFILE...         validate profiles without running anything
  version                  print the version

Run 'loadgen <command> --help' for a command's arguments, options and examples.

Exit status:
  0 all gates pass   1 a gate failed   2 bad usage or invalid profile   3 runtime failure
  130 interrupted (Ctrl-C, SIGTERM): the partial report is written
`

func main() {
	cli.TuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// run dispatches to one subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageErrorf("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return runCommand(ctx, rest, stdout, stderr)
	case "attack":
		return attackCommand(ctx, rest, stdout, stderr)
	case "analyze", "analyse":
		return analyzeCommand(ctx, rest, stdout, stderr)
	case "plot":
		return plotCommand(ctx, rest, stdout, stderr)
	case "gate":
		return gateCommand(ctx, rest, stdout, stderr)
	case "check", "validate":
		return checkCommand(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "loadgen", version.Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageErrorf("unknown command %q", cmd)
}

var usageErrorf = cli.Usagef

// errGateFailed reports a failed verdict whose details were already printed: exit 1.
var errGateFailed = errors.New("a gate failed")

// errInterrupted reports a run stopped by Ctrl-C or SIGTERM whose partial report was
// written: exit 130, whatever its verdict, so a script never takes part of a run for all of it.
var errInterrupted = errors.New("interrupted")

// errHelp is returned after --help was printed: exit 0.
var errHelp = cli.ErrHelp

func exitCode(err error, stderr io.Writer) int {
	switch {
	case errors.Is(err, errGateFailed):
		return exitFail
	case errors.Is(err, errInterrupted):
		return exitSignal
	}
	return cli.ExitCode(err, stderr)
}
