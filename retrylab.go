// Package retrylab runs a retrylab profile against your own Go HTTP client, inside go test
// or any program, and hands back the analysis report.
//
// The profile's built-in target (or its loopback URL), fault proxy, journal, analysis and
// gates run in process exactly as with `loadgen run`; the client under test is yours: each
// logical operation of the load is one call to client.Do, so whatever retries, backoff,
// idempotency keys and rate limiting your client (or its http.RoundTripper) does is what the
// proxy journals and the checks judge.
//
//	rep, err := retrylab.Run(ctx, "testdata/brownout.yaml", myClient)
//	if err != nil { t.Fatal(err) }
//	if rep.Verdict != "pass" { t.Errorf("retry behaviour: %s", retrylab.Summary(rep)) }
package retrylab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/retrylab/retrylab/analysis"
	"github.com/retrylab/retrylab/internal/profile"
	"github.com/retrylab/retrylab/internal/scenario"
)

// Report is the analysis report (report.json).
type Report = analysis.Report

// Option adjusts a Run.
type Option func(*settings)

type settings struct {
	dir      string
	gates    []string
	progress io.Writer
	charts   bool
	duration time.Duration
	rate     float64
	seed     int64
}

// WithResultsDir keeps the run's results (journal, reports, charts) in dir; by default they go
// to a temporary directory that Run removes.
func WithResultsDir(dir string) Option { return func(s *settings) { s.dir = dir } }

// WithGates adds gate expressions (e.g. "retry_after.violations == 0") to the profile's thresholds.
func WithGates(exprs ...string) Option {
	return func(s *settings) { s.gates = append(s.gates, exprs...) }
}

// WithProgress writes the live progress lines to w.
func WithProgress(w io.Writer) Option { return func(s *settings) { s.progress = w } }

// WithCharts also draws the charts and report.html (off by default to keep tests fast).
func WithCharts() Option { return func(s *settings) { s.charts = true } }

// WithDuration overrides the profile's load duration.
func WithDuration(d time.Duration) Option { return func(s *settings) { s.duration = d } }

// WithRate overrides the profile's load with a constant rate of ops per second.
func WithRate(perSecond float64) Option { return func(s *settings) { s.rate = perSecond } }

// WithSeed overrides the profile's seed.
func WithSeed(seed int64) Option { return func(s *settings) { s.seed = seed } }

// Run loads the profile at path and runs it with client as the client under test.
func Run(ctx context.Context, path string, client *http.Client, opts ...Option) (*Report, error) {
	p, err := profile.Load(path)
	if err != nil {
		return nil, err
	}
	return run(ctx, p, client, opts)
}

// RunYAML is Run with the profile given as YAML text.
func RunYAML(ctx context.Context, yaml []byte, client *http.Client, opts ...Option) (*Report, error) {
	p, err := profile.Parse("profile.yaml", yaml)
	if err != nil {
		return nil, err
	}
	return run(ctx, p, client, opts)
}

// RunTransport is Run with an http.RoundTripper: the client under test is
// &http.Client{Transport: rt}.
func RunTransport(ctx context.Context, path string, rt http.RoundTripper, opts ...Option) (*Report, error) {
	return Run(ctx, path, &http.Client{Transport: rt}, opts...)
}

func run(ctx context.Context, p *profile.Profile, client *http.Client, opts []Option) (*Report, error) {
	if client == nil {
		return nil, fmt.Errorf("retrylab: nil client")
	}
	var s settings
	for _, o := range opts {
		o(&s)
	}
	p.Client.Kind = profile.KindGo
	if s.duration > 0 {
		p.Duration = profile.Duration(s.duration)
	}
	if s.rate > 0 {
		p.Load = p.Load.WithConstantRate(profile.Rate(s.rate))
	}
	if s.seed != 0 {
		p.Seed = s.seed
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	dir := s.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "retrylab-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	res, err := scenario.Run(ctx, scenario.Options{
		Profile:  p,
		Dir:      dir,
		Client:   client,
		Gates:    s.gates,
		Progress: s.progress,
		NoCharts: !s.charts,
	})
	if err != nil {
		return nil, err
	}
	return res.Report, nil
}

// Summary returns the report's one-screen terminal summary as a string.
func Summary(rep *Report) string {
	var b bytes.Buffer
	_ = analysis.WriteSummary(&b, rep)
	return b.String()
}
