package chart

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/retrylab/retrylab/analysis"
)

//go:embed report.html.tmpl
var reportTemplate string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"num":   fmtNum,
	"int":   func(n int64) string { return groupDigits(n) },
	"count": func(n int) string { return groupDigits(int64(n)) },
	"pct":   func(v float64) string { return strconv.FormatFloat(v*100, 'f', 2, 64) + "%" },
	"ms":    fmtMs,
	"retry": fmtRetryAfter,
	"add1":  func(i int) int { return i + 1 },
}).Parse(reportTemplate))

// chartInfo describes a chart in the HTML report.
type chartInfo struct {
	title, caption string
}

var chartInfos = map[string]chartInfo{
	ChartLatency: {"Latency over time",
		"Every attempt's latency at the proxy, colored by outcome; rings are operations end to end (first attempt start to last attempt end). Shaded: seconds in which a fault rule fired. Crosses: rejections by the rate limiter."},
	ChartPercentiles: {"Latency percentiles per second",
		"p50, p90 and p99 per second: solid per attempt, dashed per operation end to end (by the second the operation started)."},
	ChartRPS: {"Requests per second by outcome",
		"First attempts above, retries below, on the same scale. A retry storm shows as the lower panel swelling while faults are injected."},
	ChartAttempts: {"Attempts per operation",
		"How many attempts each operation took; red bars exceed the allowed maximum."},
	ChartRetryAfter: {"Retry delay against Retry-After",
		"Each retry that followed a Retry-After: the delay waited against the delay announced. Points below the y = x line (beyond the tolerance) retried too early."},
	ChartClients: {"Client rate against published limits",
		"Each client's requests per second against its published limit (dashed) and burst allowance (dotted)."},
}

// htmlChart is one embedded chart.
type htmlChart struct {
	Name, Title, Caption string
	Src                  template.URL // data: URL
	Alt                  string
}

type kv struct{ K, V string }

type htmlCheck struct {
	analysis.CheckResult
	Params []kv
}

type htmlClient struct {
	analysis.ClientStats
	Label string
	Over  bool // peak above burst (or limit when no burst)
}

type latencyRow struct {
	Name string
	L    analysis.Latency
}

// htmlData is what report.html.tmpl renders.
type htmlData struct {
	Title       string
	Verdict     string // "pass", "fail" or "" (no report)
	Headline    string
	Report      *analysis.Report
	Failed      int
	Checks      []htmlCheck
	Charts      []htmlChart
	Latency     []latencyRow
	Clients     []htmlClient
	Run         []kv
	Metrics     []kv
	ProfileYAML string
	ProfileFrom string
}

// WriteHTML writes a self-contained report.html to path: the verdict, the checks with their
// evidence, the gates, totals and latency, clients against their limits, the charts (the
// PNGs among charts, embedded as data URLs), the run's metadata and the profile as loaded.
// It references no external resource and needs no script. in.Report and in.Profile may be nil.
func WriteHTML(path string, in Input, charts []string) error {
	d, err := buildHTMLData(in, charts)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	var buf bytes.Buffer
	if err := reportTmpl.Execute(&buf, d); err != nil {
		return fmt.Errorf("write %s: render: %w", path, err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return writeFileAtomic(path, buf.Bytes())
}

func buildHTMLData(in Input, charts []string) (*htmlData, error) {
	d := &htmlData{Title: "retrylab report", Report: in.Report}
	r := in.Report
	if in.Profile != nil && in.Profile.Name != "" {
		d.Title = "retrylab · " + in.Profile.Name
	} else if r != nil && r.Run.Profile != "" {
		d.Title = "retrylab · " + r.Run.Profile
	}
	if r != nil {
		d.Verdict = r.Verdict
		for _, c := range r.Checks {
			if !c.Passed {
				d.Failed++
			}
			hc := htmlCheck{CheckResult: c}
			keys := make([]string, 0, len(c.Params))
			for k := range c.Params {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				hc.Params = append(hc.Params, kv{k, fmt.Sprint(c.Params[k])})
			}
			d.Checks = append(d.Checks, hc)
		}
		d.Headline = headline(r, d.Failed)
		d.Latency = []latencyRow{{"operation, end to end", r.Latency}, {"attempt, at the proxy", r.AttemptLatency}}
		names := clientNames(in)
		for _, c := range r.Clients {
			hc := htmlClient{ClientStats: c, Label: c.Name}
			if hc.Label == "" {
				hc.Label = names[c.Client]
			}
			lim := c.Burst
			if lim == 0 {
				lim = c.Limit
			}
			hc.Over = lim > 0 && c.PeakRate > lim
			d.Clients = append(d.Clients, hc)
		}
		d.Run = runInfo(r.Run)
		keys := make([]string, 0, len(r.Metrics))
		for k := range r.Metrics {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			d.Metrics = append(d.Metrics, kv{k, fmtNum(r.Metrics[k])})
		}
	}
	for _, p := range charts {
		c, ok, err := embedChart(p, charts)
		if err != nil {
			return nil, err
		}
		if ok {
			d.Charts = append(d.Charts, c)
		}
	}
	d.ProfileYAML, d.ProfileFrom = profileText(in)
	return d, nil
}

func headline(r *analysis.Report, failed int) string {
	var parts []string
	switch {
	case failed == 0 && len(r.Checks) > 0:
		parts = append(parts, fmt.Sprintf("all %d checks passed", len(r.Checks)))
	case failed > 0:
		parts = append(parts, fmt.Sprintf("%d of %d checks failed", failed, len(r.Checks)))
	}
	gf := 0
	for _, g := range r.Gates {
		if !g.Passed {
			gf++
		}
	}
	if len(r.Gates) > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d gates passed", len(r.Gates)-gf, len(r.Gates)))
	}
	parts = append(parts, groupDigits(r.Totals.Operations)+" operations", groupDigits(r.Totals.Attempts)+" attempts")
	if r.Totals.Operations > r.Totals.Cut {
		parts = append(parts, strconv.FormatFloat(r.Totals.SuccessRate*100, 'f', 2, 64)+"% succeeded")
	}
	if r.Totals.Cut > 0 {
		parts = append(parts, groupDigits(r.Totals.Cut)+" cut short")
	}
	return strings.Join(parts, " · ")
}

func runInfo(ri analysis.RunInfo) []kv {
	var out []kv
	add := func(k, v string) {
		if v != "" {
			out = append(out, kv{k, v})
		}
	}
	add("run id", ri.ID)
	add("profile", ri.Profile)
	add("profile file", ri.File)
	add("seed", strconv.FormatInt(ri.Seed, 10))
	add("target", ri.Target)
	add("client under test", ri.Client)
	add("started", ri.Started)
	add("duration", fmtNum(ri.DurationS)+" s")
	add("journals", strings.Join(ri.Journals, ", "))
	add("records", groupDigits(ri.Records))
	if ri.TornLines > 0 {
		add("torn lines", strconv.Itoa(ri.TornLines))
	}
	if ri.BadLines > 0 {
		add("malformed lines skipped", strconv.Itoa(ri.BadLines))
	}
	add("retrylab version", ri.Version)
	if ri.AnalyzedIn > 0 {
		add("analyzed in", fmtNum(ri.AnalyzedIn)+" s")
	}
	return out
}

// embedChart turns a chart file into an embedded image. PNGs are embedded; an SVG only
// when no PNG of the same chart is in the list. Other files are skipped.
func embedChart(p string, all []string) (htmlChart, bool, error) {
	ext := strings.ToLower(filepath.Ext(p))
	name := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
	var mime string
	switch ext {
	case ".png":
		mime = "image/png"
	case ".svg":
		png := strings.TrimSuffix(p, filepath.Ext(p)) + ".png"
		for _, q := range all {
			if q == png {
				return htmlChart{}, false, nil
			}
		}
		mime = "image/svg+xml"
	default:
		return htmlChart{}, false, nil
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return htmlChart{}, false, fmt.Errorf("embed chart: %w", err)
	}
	info, ok := chartInfos[name]
	if !ok {
		info = chartInfo{title: name}
	}
	src := "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(data)
	return htmlChart{
		Name:    name,
		Title:   info.title,
		Caption: info.caption,
		Src:     template.URL(src), // built here from a file we read: a data URL, never external
		Alt:     info.title,
	}, true, nil
}

// profileText returns the profile as loaded (its file when readable, else its YAML
// encoding) with the clients' API keys redacted, and where it came from.
func profileText(in Input) (string, string) {
	p := in.Profile
	if p == nil {
		return "", ""
	}
	var text, from string
	if p.Path != "" {
		if b, err := os.ReadFile(p.Path); err == nil {
			text, from = string(b), p.Path
		}
	}
	if text == "" {
		var b strings.Builder
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(p); err != nil {
			return "", ""
		}
		text, from = b.String(), "profile as loaded"
	}
	for _, c := range p.Clients {
		if len(c.Key) >= 4 {
			text = strings.ReplaceAll(text, c.Key, "[redacted]")
		}
	}
	return text, from
}

// fmtNum formats a float compactly: integers without decimals, others with up to 3
// significant decimals.
func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'f', -1, 64)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return groupDigits(int64(v))
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	s := strconv.FormatFloat(v, 'f', 3, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// fmtMs formats milliseconds: "850 ms", "1.25 s".
func fmtMs(v float64) string {
	if v >= 1000 {
		return strconv.FormatFloat(v/1000, 'f', 2, 64) + " s"
	}
	if v >= 10 {
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
}

func fmtRetryAfter(ms int64) string {
	if ms < 0 {
		return "—"
	}
	return fmtMs(float64(ms))
}
