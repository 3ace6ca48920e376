package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/retrylab/retrylab/internal/profile"
)

// newFlagSet returns a FlagSet that prints usage text (Arguments, Options, Examples) on --help.
func newFlagSet(name, text string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.Usage = func() {
		head, tail, _ := strings.Cut(text, "\x00")
		fmt.Fprint(stderr, head)
		if opts := fs.FlagUsages(); opts != "" {
			fmt.Fprintln(stderr, "\nOptions:")
			fmt.Fprint(stderr, opts)
		}
		fmt.Fprint(stderr, tail)
	}
	return fs
}

// parseFlags parses args and turns pflag's errors into usage errors.
func parseFlags(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return errHelp
		}
		return usageErrorf("%s: %v (see 'loadgen %s --help')", fs.Name(), err, fs.Name())
	}
	return nil
}

// overrides are the profile fields the command line may override.
type overrides struct {
	rate     string
	duration string
	seed     int64
	policy   string
}

func (o *overrides) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.rate, "rate", "", "override the load rate (e.g. 200/s); a non-constant shape becomes constant")
	fs.StringVar(&o.duration, "duration", "", "override the load duration (e.g. 30s)")
	fs.Int64Var(&o.seed, "seed", 0, "override the profile's seed (0 keeps the profile's)")
	fs.StringVar(&o.policy, "policy", "", "override the reference client policy ("+strings.Join(profile.ReferencePolicies, ", ")+")")
}

// apply loads the profile at path and applies the overrides, validating the result.
func (o *overrides) apply(path string) (*profile.Profile, error) {
	if o.policy != "" && !slices.Contains(profile.ReferencePolicies, o.policy) {
		return nil, usageErrorf("--policy %q: not a reference client (one of %s)", o.policy, strings.Join(profile.ReferencePolicies, ", "))
	}
	p, err := profile.Load(path)
	if err != nil {
		return nil, err
	}
	if o.rate != "" {
		r, err := profile.ParseRate(o.rate)
		if err != nil || r <= 0 {
			return nil, usageErrorf("--rate %q: want a positive rate, e.g. 200/s", o.rate)
		}
		p.Load = p.Load.WithConstantRate(r)
	}
	if o.duration != "" {
		var d profile.Duration
		if err := parseDuration(o.duration, &d); err != nil || d <= 0 {
			return nil, usageErrorf("--duration %q: want a positive duration, e.g. 30s", o.duration)
		}
		p.Duration = d
	}
	if o.seed != 0 {
		p.Seed = o.seed
	}
	if o.policy != "" {
		p.Client.Kind = profile.KindReference
		p.Client.Policy = o.policy
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}
