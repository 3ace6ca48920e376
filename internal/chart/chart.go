// Package chart draws retrylab's charts and the self-contained HTML report.
//
// DrawAll streams the proxy journals once, reduces them to per-second aggregates and
// bounded random samples (so a journal of millions of records draws in constant memory),
// and writes six charts, each as PNG and SVG, into the results directory:
//
//	latency       latency over time per attempt, colored by outcome, with each operation's
//	              end-to-end latency, fault windows shaded and limiter rejections marked
//	percentiles   p50/p90/p99 latency per second, per attempt and per operation
//	rps           requests per second stacked by outcome, first attempts above retries
//	attempts      attempts per operation (histogram) against the allowed maximum
//	retry_after   the delay before each retry against the Retry-After it was given
//	clients       each client's request rate against its published limit and burst
//
// WriteHTML assembles report.html from the analysis report, the profile and the charts:
// one file with everything inline that opens offline. docs/CHARTS.md describes every chart.
package chart

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/retrylab/retrylab/analysis"
	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
)

// Input is what the charts and the HTML report are drawn from.
type Input struct {
	Dir      string           // results directory charts are written into
	Journals []string         // journal paths (JSON lines)
	Results  string           // vegeta results path ("" or missing = skip)
	Report   *analysis.Report // may be nil
	Profile  *profile.Profile // may be nil (limits then come from Report.Clients)
}

// Chart names: each chart is written as NAME.png and NAME.svg. They never change.
const (
	ChartLatency     = "latency"
	ChartPercentiles = "percentiles"
	ChartRPS         = "rps"
	ChartAttempts    = "attempts"
	ChartRetryAfter  = "retry_after"
	ChartClients     = "clients"
)

// ChartNames lists every chart in the order DrawAll writes them.
var ChartNames = []string{ChartLatency, ChartPercentiles, ChartRPS, ChartAttempts, ChartRetryAfter, ChartClients}

// maxLimitPanels caps the rate-limit panels of the clients chart.
const maxLimitPanels = 4

// DrawAll reads the journals (and the vegeta results when present) in one streaming pass
// and writes every chart as PNG and SVG into in.Dir. It returns the paths written, PNG
// before SVG, in ChartNames order. An empty or missing-data run still gets every chart,
// each saying what is missing.
func DrawAll(ctx context.Context, in Input) ([]string, error) {
	return drawAll(ctx, in, bothFormats)
}

func drawAll(ctx context.Context, in Input, fm formats) ([]string, error) {
	if in.Dir == "" {
		return nil, errors.New("draw charts: no results directory")
	}
	if err := os.MkdirAll(in.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("draw charts: %w", err)
	}
	agg, err := aggregate(ctx, in)
	if err != nil {
		return nil, err
	}
	figs, err := buildFigures(agg, in)
	if err != nil {
		return nil, fmt.Errorf("draw charts: %w", err)
	}
	// Rendering dominates: spread the figures over the CPUs, keep the paths in order.
	out := make([][]string, len(figs))
	errs := make([]error, len(figs))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(figs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				out[i], errs[i] = figs[i].write(in.Dir, fm)
			}
		}()
	}
	for i := range figs {
		work <- i
	}
	close(work)
	wg.Wait()
	var paths []string
	for i := range figs {
		if errs[i] != nil {
			return paths, fmt.Errorf("draw charts: %s: %w", figs[i].name, errs[i])
		}
		paths = append(paths, out[i]...)
	}
	return paths, nil
}

// seedOf picks the seed of the run so reservoir samples are reproducible.
func seedOf(in Input) int64 {
	switch {
	case in.Report != nil && in.Report.Run.Seed != 0:
		return in.Report.Run.Seed
	case in.Profile != nil && in.Profile.Seed != 0:
		return in.Profile.Seed
	}
	return 1
}

// aggregate streams every input into a fresh aggregator.
func aggregate(ctx context.Context, in Input) (*aggregator, error) {
	agg := newAggregator(in, seedOf(in))
	if err := scanJournals(ctx, in.Journals, agg.add); err != nil {
		return nil, fmt.Errorf("draw charts: %w", err)
	}
	agg.finish()
	if in.Results != "" {
		if err := scanResults(ctx, in.Results, agg); err != nil {
			return nil, fmt.Errorf("draw charts: %w", err)
		}
	}
	return agg, nil
}

// scanJournals calls fn for every record of the journals in arrival-time order (a merge when
// there are several). Malformed lines are skipped: the analysis reports them, charts
// only draw what can be read.
func scanJournals(ctx context.Context, paths []string, fn func(*journal.Record)) error {
	if len(paths) == 1 {
		return scanOne(ctx, paths[0], fn)
	}
	type source struct {
		f   *os.File
		rd  *journal.Reader
		rec journal.Record
		ok  bool
	}
	srcs := make([]*source, 0, len(paths))
	defer func() {
		for _, s := range srcs {
			s.f.Close()
		}
	}()
	next := func(s *source) error {
		for {
			err := s.rd.Next(&s.rec)
			switch {
			case err == nil:
				s.ok = true
				return nil
			case errors.Is(err, io.EOF):
				s.ok = false
				return nil
			case errors.Is(err, journal.ErrTornLine):
				continue
			default:
				return fmt.Errorf("read journal: %w", err)
			}
		}
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("open journal: %w", err)
		}
		s := &source{f: f, rd: journal.NewReader(f, p)}
		srcs = append(srcs, s)
		if err := next(s); err != nil {
			return err
		}
	}
	var n int
	for {
		var best *source
		for _, s := range srcs {
			if s.ok && (best == nil || s.rec.Time < best.rec.Time) {
				best = s
			}
		}
		if best == nil {
			return nil
		}
		fn(&best.rec)
		if n++; n&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := next(best); err != nil {
			return err
		}
	}
}

// scanOne streams one journal with journal.Scan: decoding runs on other goroutines while
// fn folds records on this one.
func scanOne(ctx context.Context, path string, fn func(*journal.Record)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	_, err = journal.Scan(ctx, f, path, func(r *journal.Record) error {
		fn(r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read journal: %w", err)
	}
	return nil
}

// scanResults folds a vegeta results file into agg: vegeta's gob encoding (what loadgen
// writes), or its JSON or CSV encodings, detected from the content. A missing or empty
// file is not an error: the run made no results.
func scanResults(ctx context.Context, path string, agg *aggregator) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open results: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() == 0 {
		return nil
	}
	dec := vegeta.DecoderFor(f)
	if dec == nil {
		return fmt.Errorf("read results %s: not vegeta results (gob, JSON or CSV)", path)
	}
	var r vegeta.Result
	for n := 1; ; n++ {
		r = vegeta.Result{}
		if err := dec.Decode(&r); err != nil {
			if errors.Is(err, io.EOF) || (n > 1 && errors.Is(err, io.ErrUnexpectedEOF)) {
				return nil // the end, or a last result torn by an interrupted run
			}
			return fmt.Errorf("read results %s: result %d: %w", path, n, err)
		}
		agg.addVegeta(r.Timestamp, r.Latency)
		if n&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
}

// secondsLabel formats a bucket width for axis labels.
func secondsLabel(g int) string {
	return (time.Duration(g) * time.Second).String()
}
