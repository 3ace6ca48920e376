package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/retrylab/retrylab/internal/load"
)

const attackUsage = `Usage: loadgen attack PROFILE --url URL [options]

Drives the profile's load only (shape, clients, endpoints, client under test) against a
running faultproxy or your own service, and writes the attack results in vegeta's own encoding,
so 'vegeta report' and 'vegeta plot' read them. Analyse the proxy's journal afterwards with
'loadgen analyze'.

Arguments:
  PROFILE   a profile file; its target and faults are not used here (the proxy has its own)
` + "\x00" + `
Examples:
  faultproxy --target builtin --profile profiles/brownout.yaml --journal j.jsonl --listen 127.0.0.1:8080 &
  loadgen attack profiles/brownout.yaml --url http://127.0.0.1:8080 --output results.bin
  vegeta report results.bin && loadgen analyze j.jsonl --profile profiles/brownout.yaml
`

func attackCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("attack", attackUsage, stderr)
	var ov overrides
	ov.register(fs)
	url := fs.String("url", "", "where requests go: the faultproxy (reference client) or your service (required, loopback)")
	output := fs.StringP("output", "o", "results.bin", "vegeta results file; - writes to stdout")
	outcomes := fs.String("outcomes", "", "also write per-operation outcomes (JSON lines) to this file")
	quiet := fs.BoolP("quiet", "q", false, "no progress line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErrorf("attack: want exactly one PROFILE (see 'loadgen attack --help')")
	}
	if *url == "" {
		return usageErrorf("attack: --url is required (the faultproxy's or your service's address)")
	}
	if !strings.HasPrefix(*url, "http://127.") && !strings.HasPrefix(*url, "http://localhost") && !strings.HasPrefix(*url, "http://[::1]") {
		return usageErrorf("attack: --url %q is not on loopback: retrylab only sends traffic to 127.0.0.0/8 and ::1", *url)
	}
	p, err := ov.apply(fs.Arg(0))
	if err != nil {
		return err
	}
	var results io.Writer = stdout
	if *output != "-" {
		f, err := os.Create(*output)
		if err != nil {
			return err
		}
		defer f.Close()
		results = f
	}
	var oc io.Writer
	if *outcomes != "" {
		f, err := os.Create(*outcomes)
		if err != nil {
			return err
		}
		defer f.Close()
		oc = f
	}
	var progress io.Writer = stderr
	if *quiet {
		progress = nil
	}
	sum, err := load.Run(ctx, load.Config{Profile: p, BaseURL: strings.TrimRight(*url, "/"), Results: results, Outcomes: oc, Progress: progress})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "planned %d, sent %d, dropped %d, succeeded %d, failed %d, %.1f ops/s over %s\n",
		sum.Planned, sum.Sent, sum.Dropped, sum.Succeeded, sum.Failed, sum.Rate, sum.Duration.Round(1e6))
	return nil
}
