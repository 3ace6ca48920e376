// Package scenario runs one retrylab profile end to end in one process: the built-in target
// (or the profile's URL), the fault proxy with its journal, vegeta load through the client
// under test, the analysis, the reports, the charts and the gates. `loadgen run` and the
// public retrylab package are thin layers over Run.
package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/retrylab/retrylab/analysis"
	"github.com/retrylab/retrylab/internal/chart"
	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/load"
	"github.com/retrylab/retrylab/internal/profile"
	"github.com/retrylab/retrylab/internal/proxy"
	"github.com/retrylab/retrylab/internal/target"
	"github.com/retrylab/retrylab/internal/version"
)

// File names inside a results directory.
const (
	JournalFile  = "journal.jsonl"
	ResultsFile  = "results.bin"
	OutcomesFile = "outcomes.jsonl"
	ReportJSON   = "report.json"
	ReportMD     = "report.md"
	ReportHTML   = "report.html"
	JUnitFile    = "junit.xml"
	ProfileCopy  = "profile.yaml"
)

// Options configure one run.
type Options struct {
	Profile *profile.Profile
	// ResultsRoot is the directory under which results/<run-id>/ is created (default "results").
	ResultsRoot string
	// Dir, when set, is the exact results directory (ResultsRoot and RunID are then ignored).
	Dir   string
	RunID string // default: UTC timestamp and profile name

	// Client is the client under test for kind "go" (the public package passes the user's).
	Client *http.Client

	Gates    []string  // extra gate expressions (--gate), besides the profile's thresholds
	Progress io.Writer // live progress; nil = none
	Log      io.Writer // notices (where things are); nil = none
	NoCharts bool      // skip charts and report.html
}

// Result is what a run produced.
type Result struct {
	Dir     string
	Report  *analysis.Report
	Load    *load.Summary
	Files   []string // every file written, relative to Dir
	Charts  []string
	Elapsed time.Duration
}

// Run executes the scenario. The returned error is nil when the run completed and its
// report was written, whatever the verdict; the verdict is in Result.Report.Verdict. When ctx
// is cancelled during the load (Ctrl-C), the run stops early, and the results, marked partial,
// are still analysed and written.
func Run(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	p := o.Profile
	if p == nil {
		return nil, errors.New("scenario: no profile")
	}
	if p.Client.Kind == profile.KindGo && o.Client == nil {
		return nil, errors.New("client kind go needs an *http.Client (use the retrylab Go package)")
	}
	dir, runID, err := resultsDir(o, p, start)
	if err != nil {
		return nil, err
	}
	res := &Result{Dir: dir}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	if p.Path != "" {
		if data, err := os.ReadFile(p.Path); err == nil {
			_ = os.WriteFile(filepath.Join(dir, ProfileCopy), data, 0o644)
			res.Files = append(res.Files, ProfileCopy)
		}
	}

	// Finishing steps must run even after Ctrl-C: they get a context that is never cancelled.
	bg := context.WithoutCancel(ctx)

	// 1. Target.
	targetURL := p.Target
	var tgt *target.Target
	if p.Target == "builtin" {
		tgt = target.New(target.FromProfile(p))
		srv, url, err := serve(tgt)
		if err != nil {
			return nil, fmt.Errorf("start built-in target: %w", err)
		}
		defer shutdown(srv)
		targetURL = url
	}

	// 2. Proxy with its journal, and the load's output files.
	var files [3]*os.File
	for i, name := range []string{JournalFile, ResultsFile, OutcomesFile} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", name, err)
		}
		defer f.Close() // on error paths; closing twice is harmless
		files[i] = f
	}
	jf, rf, of := files[0], files[1], files[2]
	jw := journal.NewWriter(jf)
	defer jw.Close() // on error paths: flushes what was journaled
	px, err := proxy.New(proxy.Config{
		Target:  targetURL,
		Profile: p,
		Journal: jw,
		Seed:    p.Seed,
		Start:   start,
		// The client under test and the built-in target run in this process: Go's
		// scheduler hands a request from one goroutine to the next on the same thread,
		// which the proxy's event loops, outside the scheduler, would turn into thread
		// wake-ups (about 40 µs more at p50 per request in process).
		NoFastPath: true,
		OnReset: func() {
			if tgt != nil {
				tgt.Reset()
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("start proxy: %w", err)
	}
	listen := p.Proxy.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("proxy listen %s: %w", listen, err)
	}
	proxyURL := "http://" + ln.Addr().String()
	go px.Serve(ln)
	stopProxy := sync.OnceValue(func() error {
		sctx, cancel := context.WithTimeout(bg, 10*time.Second)
		defer cancel()
		return px.Shutdown(sctx)
	})
	defer stopProxy() // on error paths
	logf("retrylab %s: %s, target %s, proxy %s, results %s", version.Version, p.Name, p.Target, proxyURL, dir)

	// 3. Load through the client under test.
	baseURL := proxyURL
	var stopService func() error
	switch p.Client.Kind {
	case profile.KindService:
		stopService, err = load.StartService(ctx, p.Client, proxyURL, o.Log)
		if err != nil {
			return nil, fmt.Errorf("start service: %w", err)
		}
		baseURL = p.Client.URL
	}
	sum, loadErr := load.Run(ctx, load.Config{
		Profile:  p,
		BaseURL:  baseURL,
		Client:   o.Client,
		Results:  rf,
		Outcomes: of,
		Progress: o.Progress,
		Extra: func() string {
			s := px.Stats()
			return fmt.Sprintf("faults %d  429s %d", s.Faults, s.RateLimited)
		},
	})
	res.Load = sum
	rf.Close()
	of.Close()
	res.Files = append(res.Files, ResultsFile, OutcomesFile)
	if stopService != nil {
		if err := stopService(); err != nil {
			logf("stop service: %v", err)
		}
	}

	// 4. Stop the proxy, flush and sync the journal.
	if err := stopProxy(); err != nil {
		logf("proxy shutdown: %v", err)
	}
	if err := jw.Close(); err != nil {
		return nil, fmt.Errorf("flush journal: %w", err)
	}
	if err := jf.Close(); err != nil {
		return nil, fmt.Errorf("close journal: %w", err)
	}
	res.Files = append(res.Files, JournalFile)
	if loadErr != nil {
		return res, fmt.Errorf("load: %w", loadErr)
	}

	// 5. Analysis, gates, reports.
	cfg := analysis.ConfigFromProfile(p)
	cfg.Run = analysis.RunInfo{
		ID:        runID,
		Profile:   p.Name,
		File:      p.Path,
		Seed:      p.Seed,
		Target:    p.Target,
		Client:    clientLabel(p),
		Started:   start.UTC().Format(time.RFC3339),
		DurationS: time.Since(start).Seconds(),
		Version:   version.Version,
	}
	// An interrupted run's journal ends with operations whose retries never came: they
	// are counted as cut, not failed.
	cfg.CutShort = sum != nil && sum.Interrupted
	rep, err := analysis.AnalyzeFiles(bg, cfg, filepath.Join(dir, JournalFile))
	if err != nil {
		return res, fmt.Errorf("analyze: %w", err)
	}
	rep.Partial = sum != nil && sum.Interrupted
	if err := rep.ApplyGates(o.Gates, "flag"); err != nil {
		return res, err
	}
	res.Report = rep
	written, err := WriteReports(dir, rep)
	res.Files = append(res.Files, written...)
	if err != nil {
		return res, err
	}

	// 6. Charts and report.html.
	if !o.NoCharts {
		in := chart.Input{Dir: dir, Journals: []string{filepath.Join(dir, JournalFile)},
			Results: filepath.Join(dir, ResultsFile), Report: rep, Profile: p}
		charts, err := chart.DrawAll(bg, in)
		if err != nil {
			logf("charts: %v", err)
		}
		res.Charts = charts
		if err := chart.WriteHTML(filepath.Join(dir, ReportHTML), in, charts); err != nil {
			logf("report.html: %v", err)
		} else {
			res.Files = append(res.Files, ReportHTML)
		}
		for _, c := range charts {
			if rel, err := filepath.Rel(dir, c); err == nil {
				res.Files = append(res.Files, rel)
			}
		}
	}
	linkLatest(o, dir)
	res.Elapsed = time.Since(start)
	return res, nil
}

// WriteReports writes report.json, report.md and junit.xml into dir.
func WriteReports(dir string, rep *analysis.Report) ([]string, error) {
	var written []string
	for _, w := range []struct {
		name  string
		write func(io.Writer, *analysis.Report) error
	}{
		{ReportJSON, analysis.WriteJSON},
		{ReportMD, analysis.WriteMarkdown},
		{JUnitFile, analysis.WriteJUnit},
	} {
		f, err := os.Create(filepath.Join(dir, w.name))
		if err != nil {
			return written, fmt.Errorf("write %s: %w", w.name, err)
		}
		err = w.write(f, rep)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return written, fmt.Errorf("write %s: %w", w.name, err)
		}
		written = append(written, w.name)
	}
	return written, nil
}

func clientLabel(p *profile.Profile) string {
	switch p.Client.Kind {
	case profile.KindReference:
		return "reference/" + p.Client.Policy
	case profile.KindService:
		return "service " + p.Client.URL
	}
	return p.Client.Kind
}

func resultsDir(o Options, p *profile.Profile, start time.Time) (dir, id string, err error) {
	if o.Dir != "" {
		return o.Dir, filepath.Base(o.Dir), os.MkdirAll(o.Dir, 0o755)
	}
	root := o.ResultsRoot
	if root == "" {
		root = "results"
	}
	id = o.RunID
	if id == "" {
		id = start.UTC().Format("20060102-150405") + "-" + safeName(p.Name)
	}
	dir = filepath.Join(root, id)
	for i := 2; ; i++ {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			break
		}
		dir = filepath.Join(root, fmt.Sprintf("%s-%d", id, i))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("create results directory: %w", err)
	}
	return dir, filepath.Base(dir), nil
}

func safeName(s string) string {
	if s == "" {
		return "run"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, s)
}

// linkLatest points ROOT/latest at the newest run (best effort).
func linkLatest(o Options, dir string) {
	if o.Dir != "" {
		return
	}
	root := filepath.Dir(dir)
	latest := filepath.Join(root, "latest")
	_ = os.Remove(latest)
	_ = os.Symlink(filepath.Base(dir), latest)
}

func serve(h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return srv, "http://" + ln.Addr().String(), nil
}

func shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}
