package chart

import (
	"bytes"
	"context"
	"errors"
	"html"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"gonum.org/v1/plot/vg"

	"github.com/retrylab/retrylab/analysis"
	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
)

var svgText = regexp.MustCompile(`<text[^>]*>([^<]*)</text>`)

// svgLabels returns every text drawn in an SVG chart (titles, ticks, legend labels).
func svgLabels(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range svgText.FindAllSubmatch(b, -1) {
		out = append(out, html.UnescapeString(string(m[1])))
	}
	return out
}

// expectedCounts counts the scenario's records by outcome, independently of the package.
type expectedCounts struct {
	ok, limited, injected, lost, other int
	ops, retries                       int
	early, honored                     int
}

func countScenario(recs []journal.Record) expectedCounts {
	var c expectedCounts
	ops := map[string][]journal.Record{}
	for _, r := range recs {
		switch {
		case r.Action == "rate_limit":
			c.limited++
		case r.Action == "lose_response":
			c.lost++
		case r.Action == "respond" && r.Status >= 500:
			c.injected++
		case r.Status/100 == 2:
			c.ok++
		default:
			c.other++
		}
		if r.Attempt > 1 {
			c.retries++
		}
		ops[r.Op] = append(ops[r.Op], r)
	}
	c.ops = len(ops)
	for _, as := range ops {
		for i := 1; i < len(as); i++ {
			prev := as[i-1]
			if prev.RetryAfterMs < 0 {
				continue
			}
			wait := as[i].Time - (prev.Time + prev.DurNs)
			if wait < prev.RetryAfterMs*int64(time.Millisecond)-int64(profile.DefaultRetryAfterTolerance) {
				c.early++
			} else {
				c.honored++
			}
		}
	}
	return c
}

// Tests that read only the SVGs (series labels) skip the PNGs, and tests that check PNGs
// render them small: rasterizing is slow under the race detector, and the code path is
// the same.
var (
	svgOnly  = formats{svg: true}
	smallPNG = formats{png: true, svg: true, dpi: 36}
)

func drawScenario(t *testing.T, in Input, fm formats) (Input, []string) {
	t.Helper()
	dir := t.TempDir()
	b := scenarioJournal()
	in.Dir = dir
	in.Journals = []string{b.write(t, t.TempDir(), "journal.jsonl")}
	paths, err := drawAll(context.Background(), in, fm)
	if err != nil {
		t.Fatalf("DrawAll: %v", err)
	}
	return in, paths
}

func TestDrawAllWritesEveryChart(t *testing.T) {
	in, paths := drawScenario(t, Input{Profile: testProfile(), Report: testReport()}, smallPNG)
	var want []string
	for _, n := range ChartNames {
		want = append(want, filepath.Join(in.Dir, n+".png"), filepath.Join(in.Dir, n+".svg"))
	}
	if !slices.Equal(paths, want) {
		t.Fatalf("paths = %v, want %v", paths, want)
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() < 1000 {
			t.Errorf("%s: %d bytes, want a real chart", p, st.Size())
		}
		if strings.HasSuffix(p, ".png") {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(f)
			f.Close()
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if got, want := img.Bounds().Dx(), int(figWidth/vg.Inch*vg.Length(smallPNG.dpi)); got != want {
				t.Errorf("%s: width %d, want %d", p, got, want)
			}
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(in.Dir, ".*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestDrawAllSeriesLabels(t *testing.T) {
	c := countScenario(scenarioJournal().recs)
	in, _ := drawScenario(t, Input{Profile: testProfile(), Report: testReport()}, svgOnly)
	tests := []struct {
		name  string
		chart string
		want  []string
	}{
		{"latency by outcome", ChartLatency, []string{
			"fault window (darker: more faults)",
			countLabel("2xx", int64(c.ok)),
			countLabel("limiter 429", int64(c.limited)),
			countLabel("injected 5xx", int64(c.injected)),
			countLabel("lost response", int64(c.lost)),
			countLabel("other", int64(c.other)),
			countLabel("operation end-to-end", int64(c.ops)),
		}},
		{"percentiles", ChartPercentiles, []string{
			"attempt p50", "attempt p90", "attempt p99", "operation p50", "operation p90", "operation p99",
		}},
		{"rps first vs retries", ChartRPS, []string{
			"First attempts per second by outcome (" + groupDigits(int64(c.ok+c.limited+c.injected+c.lost+c.other-c.retries)) + ")",
			"Retries per second by outcome (" + groupDigits(int64(c.retries)) + ")",
			countLabel("2xx", int64(c.ok)),
			countLabel("limiter 429", int64(c.limited)),
			countLabel("injected 5xx", int64(c.injected)),
			countLabel("lost response", int64(c.lost)),
			countLabel("other", int64(c.other)),
		}},
		{"attempts histogram", ChartAttempts, []string{
			countLabel("≤ 5 attempts", int64(c.ops-1)),
			countLabel("> 5 attempts (max_attempts)", 1),
			"7",
		}},
		{"retry-after scatter", ChartRetryAfter, []string{
			"y = x (Retry-After)",
			countLabel("honored", int64(c.honored)),
			countLabel("too early", int64(c.early)),
		}},
		{"clients against limits", ChartClients, []string{
			"alice (", "bob (", "published limit", "burst allowance",
			"Requests per second per client — calls: POST /v1/calls (limit 20/s, burst 30/s)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := svgLabels(t, filepath.Join(in.Dir, tt.chart+".svg"))
			for _, w := range tt.want {
				if !slices.ContainsFunc(got, func(s string) bool { return s == w || (strings.HasSuffix(w, "(") && strings.HasPrefix(s, w)) }) {
					t.Errorf("%s.svg lacks %q; texts: %q", tt.chart, w, got)
				}
			}
		})
	}
	if c.early == 0 || c.honored == 0 || c.limited == 0 || c.lost == 0 {
		t.Fatalf("scenario does not exercise every series: %+v", c)
	}
}

func TestDrawAllLimitsFromReport(t *testing.T) {
	// Without a profile the clients chart takes the published limits from the report.
	differ := testReport()
	differ.Clients[1].Limit, differ.Clients[1].Burst = 50, 0
	none := testReport()
	none.Clients = nil
	tests := []struct {
		name   string
		report *analysis.Report
		want   []string
		avoid  []string
	}{
		{"one limit", testReport(), []string{"published limit", "burst allowance", "Requests per second per client — all requests (limit 20/s, burst 30/s)"}, nil},
		{"limits differ", differ, []string{"published limit", "burst allowance", "Requests per second per client — all requests (limits 20–50/s)"}, nil},
		{"no limits", none, []string{"Requests per second per client — all requests"}, []string{"published limit", "burst allowance"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, _ := drawScenario(t, Input{Report: tt.report}, svgOnly)
			got := svgLabels(t, filepath.Join(in.Dir, ChartClients+".svg"))
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("clients.svg lacks %q; texts: %q", w, got)
				}
			}
			for _, a := range tt.avoid {
				if slices.Contains(got, a) {
					t.Errorf("clients.svg has %q", a)
				}
			}
		})
	}
}

func TestDrawAllEmptyInputs(t *testing.T) {
	tests := []struct {
		name     string
		journal  string // contents; "-" = no journal at all
		results  string // vegeta results: "missing" = a path that does not exist, "empty" = an empty file
		wantNote string
	}{
		{"empty journal", "", "", "no attempts in the journal"},
		{"no journal", "-", "", "no attempts in the journal"},
		{"only blank lines", "\n\n", "missing", "no attempts in the journal"},
		{"torn single line", `{"seq":1,"ts":17`, "empty", "no attempts in the journal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in := Input{Dir: filepath.Join(dir, "out")}
			if tt.journal != "-" {
				p := filepath.Join(dir, "journal.jsonl")
				if err := os.WriteFile(p, []byte(tt.journal), 0o644); err != nil {
					t.Fatal(err)
				}
				in.Journals = []string{p}
			}
			switch tt.results {
			case "missing":
				in.Results = filepath.Join(dir, "nope.gob")
			case "empty":
				in.Results = filepath.Join(dir, "results.gob")
				if err := os.WriteFile(in.Results, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			paths, err := drawAll(context.Background(), in, smallPNG)
			if err != nil {
				t.Fatalf("DrawAll: %v", err)
			}
			if len(paths) != 2*len(ChartNames) {
				t.Fatalf("got %d files, want %d", len(paths), 2*len(ChartNames))
			}
			for _, n := range []string{ChartLatency, ChartRPS, ChartClients, ChartPercentiles} {
				if got := svgLabels(t, filepath.Join(in.Dir, n+".svg")); !slices.Contains(got, tt.wantNote) {
					t.Errorf("%s.svg lacks the note %q: %q", n, tt.wantNote, got)
				}
			}
			if got := svgLabels(t, filepath.Join(in.Dir, ChartAttempts+".svg")); !slices.Contains(got, "no operations in the journal") {
				t.Errorf("attempts.svg lacks its note: %q", got)
			}
			if got := svgLabels(t, filepath.Join(in.Dir, ChartRetryAfter+".svg")); !slices.Contains(got, "no retry followed a Retry-After") {
				t.Errorf("retry_after.svg lacks its note: %q", got)
			}
			if err := WriteHTML(filepath.Join(in.Dir, "report.html"), in, paths); err != nil {
				t.Fatalf("WriteHTML: %v", err)
			}
		})
	}
}

func TestDrawAllErrors(t *testing.T) {
	dir := t.TempDir()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	good := scenarioJournal().write(t, dir, "j.jsonl")
	bad := filepath.Join(dir, "bad.gob")
	if err := os.WriteFile(bad, []byte("not gob at all, definitely not"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ctx  context.Context
		in   Input
		want error // nil: any error
	}{
		{"no dir", context.Background(), Input{Journals: []string{good}}, nil},
		{"missing journal", context.Background(), Input{Dir: dir, Journals: []string{filepath.Join(dir, "absent.jsonl")}}, os.ErrNotExist},
		{"canceled", canceled, Input{Dir: dir, Journals: []string{good}}, context.Canceled},
		{"corrupt results", context.Background(), Input{Dir: dir, Journals: []string{good}, Results: bad}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DrawAll(tt.ctx, tt.in)
			if err == nil {
				t.Fatal("DrawAll succeeded, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "draw charts") {
				t.Errorf("err = %q, want it to say what failed", err)
			}
		})
	}
}

func TestDrawAllMergesJournals(t *testing.T) {
	// Two journals holding alternate records draw exactly what one journal holding all does.
	b := scenarioJournal()
	one := b.write(t, t.TempDir(), "all.jsonl")
	var x, y journalBuilder
	for i, r := range b.recs {
		if i%2 == 0 {
			x.recs = append(x.recs, r)
		} else {
			y.recs = append(y.recs, r)
		}
	}
	d := t.TempDir()
	two := []string{x.write(t, d, "a.jsonl"), y.write(t, d, "b.jsonl")}
	outOne, outTwo := t.TempDir(), t.TempDir()
	if _, err := drawAll(context.Background(), Input{Dir: outOne, Journals: []string{one}, Profile: testProfile()}, svgOnly); err != nil {
		t.Fatal(err)
	}
	if _, err := drawAll(context.Background(), Input{Dir: outTwo, Journals: two, Profile: testProfile()}, svgOnly); err != nil {
		t.Fatal(err)
	}
	for _, n := range ChartNames {
		a, _ := os.ReadFile(filepath.Join(outOne, n+".svg"))
		c, _ := os.ReadFile(filepath.Join(outTwo, n+".svg"))
		if !bytes.Equal(a, c) {
			t.Errorf("%s.svg differs between one journal and the same records split in two", n)
		}
	}
}

func TestDrawAllSkipsMalformedLines(t *testing.T) {
	b := scenarioJournal()
	p := b.write(t, t.TempDir(), "j.jsonl")
	data, _ := os.ReadFile(p)
	lines := bytes.SplitAfter(data, []byte("\n"))
	var mangled []byte
	for i, l := range lines {
		mangled = append(mangled, l...)
		if i == 10 {
			mangled = append(mangled, "{not json}\n"...)
		}
	}
	mangled = append(mangled, `{"seq":99999,"ts":`...) // torn last line
	if err := os.WriteFile(p, mangled, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := drawAll(context.Background(), Input{Dir: dir, Journals: []string{p}}, svgOnly); err != nil {
		t.Fatalf("DrawAll: %v", err)
	}
	c := countScenario(b.recs)
	got := svgLabels(t, filepath.Join(dir, ChartLatency+".svg"))
	if w := countLabel("2xx", int64(c.ok)); !slices.Contains(got, w) {
		t.Errorf("latency.svg lacks %q: every good record must be drawn", w)
	}
}

func TestDrawAllVegetaResults(t *testing.T) {
	tests := []struct {
		name string
		enc  func(io.Writer) vegeta.Encoder
	}{
		{"gob", vegeta.NewEncoder},
		{"json", vegeta.NewJSONEncoder},
		{"csv", vegeta.NewCSVEncoder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := filepath.Join(t.TempDir(), "results."+tt.name)
			f, err := os.Create(res)
			if err != nil {
				t.Fatal(err)
			}
			enc := tt.enc(f)
			const n = 40
			for i := range n {
				r := vegeta.Result{
					Seq: uint64(i), Code: 201, Method: "POST", URL: "http://127.0.0.1:1/v1/calls",
					Timestamp: time.Unix(0, testStart+int64(i)*int64(250*time.Millisecond)),
					Latency:   time.Duration(10+i) * time.Millisecond,
				}
				if err := enc.Encode(&r); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			in, _ := drawScenario(t, Input{Results: res}, svgOnly)
			got := svgLabels(t, filepath.Join(in.Dir, ChartLatency+".svg"))
			if w := countLabel("client-observed (vegeta)", n); !slices.Contains(got, w) {
				t.Errorf("latency.svg lacks %q: %q", w, got)
			}
		})
	}
}
