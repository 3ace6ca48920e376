package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/retrylab/retrylab/internal/profile"
)

const checkUsage = `Usage: loadgen check PROFILE... [options]

Validates profiles without running anything: every field, rule, rate limit and threshold, with
the same checks 'loadgen run' applies before it starts. Prints one line per valid profile and
every problem of an invalid one as FILE:LINE: field: problem.

Arguments:
  PROFILE   a profile file (see profiles/README.md)
` + "\x00" + `
Examples:
  loadgen check profiles/*.yaml
  loadgen check my-profile.yaml && loadgen run my-profile.yaml

Exit status: 0 every profile is valid, 2 bad usage or an invalid profile.
`

func checkCommand(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", checkUsage, stderr)
	quiet := fs.BoolP("quiet", "q", false, "print only the problems, nothing for a valid profile")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageErrorf("check: want at least one PROFILE (see 'loadgen check --help')")
	}
	var bad []string
	for _, path := range fs.Args() {
		p, err := profile.Load(path)
		if err != nil {
			var pe *profile.Error
			if errors.As(err, &pe) {
				for _, prob := range pe.Problems {
					fmt.Fprintln(stderr, prob)
				}
			} else {
				fmt.Fprintln(stderr, err)
			}
			bad = append(bad, path)
			continue
		}
		if !*quiet {
			fmt.Fprintf(stdout, "%s: ok  %s\n", path, describeProfile(p))
		}
	}
	if len(bad) > 0 {
		return usageErrorf("check: %d of %d profiles invalid: %s", len(bad), fs.NArg(), strings.Join(bad, ", "))
	}
	return nil
}

// describeProfile is a one-line summary of a valid profile.
func describeProfile(p *profile.Profile) string {
	parts := []string{fmt.Sprintf("%q", p.Name)}
	load := p.Load.Shape
	if load == "" {
		load = profile.ShapeConstant
	}
	if p.Load.Rate > 0 {
		load += " " + p.Load.Rate.String()
	}
	parts = append(parts, fmt.Sprintf("%s for %s", load, p.Duration))
	parts = append(parts, plural(len(p.Faults), "fault rule"), plural(len(p.RateLimits), "rate limit"),
		plural(len(p.Thresholds), "threshold"))
	kind := p.Client.Kind
	if kind == "" {
		kind = profile.KindReference
	}
	client := "client " + kind
	if p.Client.Policy != "" {
		client += "/" + p.Client.Policy
	}
	if kind == profile.KindGo {
		client += " (runs through retrylab.Run, not loadgen run)"
	}
	parts = append(parts, client)
	if p.Target != "" {
		parts = append(parts, "target "+p.Target)
	}
	return strings.Join(parts, " · ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
