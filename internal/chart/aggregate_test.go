package chart

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		action string
		status int
		want   outcome
	}{
		{"forwarded 201", journal.ActionForward, 201, outOK},
		{"delayed 200", journal.ActionDelay, 200, outOK},
		{"limiter", journal.ActionRateLimit, 429, outLimited},
		{"injected 503", journal.ActionRespond, 503, outInjected},
		{"injected 429 is not a 5xx", journal.ActionRespond, 429, outOther},
		{"lost response", journal.ActionLoseResponse, 502, outLost},
		{"lost by reset", journal.ActionLoseResponse, 0, outLost},
		{"target 500", journal.ActionForward, 500, outOther},
		{"target 404", journal.ActionForward, 404, outOther},
		{"reset", journal.ActionReset, 0, outOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := journal.Record{Action: tt.action, Status: tt.status}
			if got := classify(&r); got != tt.want {
				t.Errorf("classify(%s %d) = %s, want %s", tt.action, tt.status, outcomeLabels[got], outcomeLabels[tt.want])
			}
		})
	}
}

func TestPathMatches(t *testing.T) {
	tests := []struct {
		name, pattern, path string
		want                bool
	}{
		{"empty matches all", "", "/v1/x", true},
		{"prefix", "/v1/calls", "/v1/calls/42", true},
		{"other prefix", "/v1/calls", "/v1/leads", false},
		{"glob", "/v1/*/status", "/v1/42/status", true},
		{"glob miss", "/v1/*/status", "/v1/42/other", false},
		{"bad glob", "/v1/[", "/v1/[", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pathMatches(tt.pattern, tt.path); got != tt.want {
				t.Errorf("pathMatches(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
			}
		})
	}
}

func TestLogHistQuantile(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		gen  func() int64
	}{
		{"exponential around 10ms", func() int64 { return int64(rng.ExpFloat64() * 10e6) }},
		{"uniform 1-2s", func() int64 { return int64(1e9 + rng.Float64()*1e9) }},
		{"bimodal", func() int64 {
			if rng.IntN(10) == 0 {
				return int64(5e9 + rng.Float64()*1e8)
			}
			return int64(2e6 + rng.Float64()*1e6)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h logHist
			vals := make([]float64, 20000)
			for i := range vals {
				v := tt.gen()
				h.add(v)
				vals[i] = float64(v) / 1e6
			}
			sort.Float64s(vals)
			for _, q := range []float64{0.5, 0.9, 0.99} {
				exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
				got := h.quantile(q)
				if exact > 0.01 && math.Abs(got-exact)/exact > 0.07 {
					t.Errorf("q%.2f = %.4g ms, exact %.4g ms: off by more than one bin", q, got, exact)
				}
			}
		})
	}
	var empty logHist
	if !math.IsNaN(empty.quantile(0.5)) {
		t.Error("quantile of an empty histogram must be NaN")
	}
}

func TestHistBinBounds(t *testing.T) {
	tests := []struct {
		name string
		ns   int64
		want int
	}{
		{"zero", 0, 0},
		{"negative", -5, 0},
		{"below range", 100, 0},
		{"huge", math.MaxInt64, histBins - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := histBin(tt.ns); got != tt.want {
				t.Errorf("histBin(%d) = %d, want %d", tt.ns, got, tt.want)
			}
		})
	}
	// Bins are monotonic and each value lies in its bin's range.
	prev := 0
	for ns := int64(1 << histMinExp); ns < 1<<histMaxExp; ns = ns*21/20 + 1 {
		b := histBin(ns)
		if b < prev {
			t.Fatalf("histBin(%d) = %d after %d: not monotonic", ns, b, prev)
		}
		prev = b
		if mid := binValueMs(b) * 1e6; math.Abs(mid-float64(ns))/float64(ns) > 1.0/histSub {
			t.Fatalf("value %d ns in bin %d whose middle is %.0f ns", ns, b, mid)
		}
	}
}

func TestReservoirBounded(t *testing.T) {
	r := newReservoir(100, rand.New(rand.NewPCG(3, 3)))
	for i := range 100000 {
		r.add(point{x: float64(i)})
	}
	if len(r.pts) != 100 || r.seen != 100000 {
		t.Fatalf("kept %d of %d, want 100 of 100000", len(r.pts), r.seen)
	}
	// A uniform sample of 0..99999 has a mean near 50,000.
	var sum float64
	for _, p := range r.pts {
		sum += p.x
	}
	if mean := sum / 100; mean < 35000 || mean > 65000 {
		t.Errorf("sample mean %.0f: not uniform", mean)
	}
}

func TestAggregatorOperations(t *testing.T) {
	// Operations spread over 5 minutes, so the sweep finalizes most of them mid-stream:
	// the attempts histogram and the Retry-After classes must match a direct count.
	rng := rand.New(rand.NewPCG(9, 9))
	var recs []journal.Record
	wantHist := map[int]int64{}
	var wantEarly, wantHonored int64
	for op := range 3000 {
		start := testStart + int64(op)*int64(100*time.Millisecond)
		n := 1 + rng.IntN(4)
		wantHist[n]++
		at := start
		for k := 1; k <= n; k++ {
			r := journal.Record{
				Time: at, DurNs: int64(5 * time.Millisecond), Op: "op" + string(rune('A'+op%26)) + time.Duration(op).String(),
				Attempt: k, Action: journal.ActionForward, Status: 201, RetryAfterMs: journal.NoRetryAfter,
			}
			gap := int64(200 * time.Millisecond)
			if k < n {
				r.Action, r.Status, r.RetryAfterMs = journal.ActionRespond, 503, 1000
				if rng.IntN(2) == 0 {
					gap = int64(1100 * time.Millisecond)
					wantHonored++
				} else {
					wantEarly++
				}
			}
			recs = append(recs, r)
			at += r.DurNs + gap
		}
	}
	slices.SortStableFunc(recs, func(a, b journal.Record) int { return int(a.Time - b.Time) })
	a := newAggregator(Input{Profile: &profile.Profile{}}, 1)
	maxOpen := 0
	for i := range recs {
		a.add(&recs[i])
		maxOpen = max(maxOpen, len(a.ops))
	}
	a.finish()
	for n := 1; n <= 4; n++ {
		if a.attemptsHist[n] != wantHist[n] {
			t.Errorf("operations with %d attempts = %d, want %d", n, a.attemptsHist[n], wantHist[n])
		}
	}
	if a.opsFinal != 3000 {
		t.Errorf("finalized %d operations, want 3000", a.opsFinal)
	}
	if a.raEarly.seen != wantEarly || a.raHonored.seen != wantHonored {
		t.Errorf("retry-after early/honored = %d/%d, want %d/%d", a.raEarly.seen, a.raHonored.seen, wantEarly, wantHonored)
	}
	// 10 operations start per second; with a 60 s horizon and a 10 s sweep at most ~700 stay open.
	if maxOpen > 800 {
		t.Errorf("%d operations open at once: the sweep does not bound memory", maxOpen)
	}
}

func TestAggregatorCorrelation(t *testing.T) {
	recs := []journal.Record{
		{Time: testStart, Op: "a", IdemKey: "k1", Client: "c", Method: "POST", Path: "/x", BodyHash: "h1"},
		{Time: testStart + 1e6, Op: "b", IdemKey: "k1", Client: "c", Method: "POST", Path: "/x", BodyHash: "h1"},
		{Time: testStart + 2e6, Op: "", IdemKey: "k2", Client: "c", Method: "POST", Path: "/x", BodyHash: "h1"},
	}
	tests := []struct {
		name, correlation string
		wantOps           int
	}{
		{"header, fingerprint fallback", "", 3},
		{"fingerprint", profile.CorrelateFingerprint, 1},
		{"idempotency key", profile.CorrelateIdemKey, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAggregator(Input{Profile: &profile.Profile{Analysis: profile.Analysis{Correlation: tt.correlation}}}, 1)
			for i := range recs {
				r := recs[i]
				r.RetryAfterMs = journal.NoRetryAfter
				a.add(&r)
			}
			a.finish()
			if a.opsFinal != int64(tt.wantOps) {
				t.Errorf("operations = %d, want %d", a.opsFinal, tt.wantOps)
			}
		})
	}
}

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		name    string
		lo, hi  float64
		n       int
		wantMaj []string
	}{
		{"seconds", 0, 20, 10, []string{"0", "2", "4", "6", "8", "10", "12", "14", "16", "18", "20"}},
		{"offset start", 0.5, 19.5, 10, []string{"2", "4", "6", "8", "10", "12", "14", "16", "18"}},
		{"fractions", 0, 1.3, 7, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0", "1.2"}},
		{"large", 0, 50000, 5, []string{"0", "10,000", "20,000", "30,000", "40,000", "50,000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, tk := range (niceTicks{n: tt.n}).Ticks(tt.lo, tt.hi) {
				if tk.Label != "" {
					got = append(got, tk.Label)
				}
				if tk.Value < tt.lo-1e-9 || tk.Value > tt.hi+1e-9 {
					t.Errorf("tick %v outside [%v, %v]", tk.Value, tt.lo, tt.hi)
				}
			}
			if !slices.Equal(got, tt.wantMaj) {
				t.Errorf("labels = %q, want %q", got, tt.wantMaj)
			}
		})
	}
	if got := (niceTicks{}).Ticks(1, 1); got != nil {
		t.Errorf("empty range: %v, want no ticks", got)
	}
}

func TestGroupDigits(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {1234567, "1,234,567"}, {-4500, "-4,500"}}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := groupDigits(tt.in); got != tt.want {
				t.Errorf("groupDigits(%d) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFaultBands(t *testing.T) {
	// The scenario injects 503s in seconds 5–8 (half the attempts) and loses responses in
	// second 16 (3 of 16 first attempts per client): exactly those seconds are shaded,
	// the outage darker than the sprinkle.
	b := scenarioJournal()
	a := newAggregator(Input{}, 1)
	for i := range b.recs {
		a.add(&b.recs[i])
	}
	a.finish()
	fb := faultBands(a, a.timeline())
	type span struct{ x0, x1 float64 }
	var got []span
	alpha := map[float64]uint8{}
	for _, s := range fb.spans {
		for x := s.x0; x < s.x1-1e-9; x++ {
			alpha[math.Round(x)] = s.alpha
		}
		got = append(got, span{s.x0, s.x1})
	}
	var secs []float64
	for x := range alpha {
		secs = append(secs, x)
	}
	slices.Sort(secs)
	if want := []float64{5, 6, 7, 8, 16}; !slices.Equal(secs, want) {
		t.Fatalf("shaded seconds %v (spans %v), want %v", secs, got, want)
	}
	if !(alpha[5] > alpha[16]) {
		t.Errorf("outage alpha %#x not darker than sprinkle alpha %#x", alpha[5], alpha[16])
	}
}

func TestFaultAlpha(t *testing.T) {
	prev := uint8(0)
	for _, share := range []float64{0, 0.01, 0.05, 0.1, 0.2, 0.5, 1} {
		a := faultAlpha(share)
		if a < prev {
			t.Errorf("faultAlpha(%v) = %#x < %#x: not monotonic", share, a, prev)
		}
		if a == 0 {
			t.Errorf("faultAlpha(%v) = 0: a fault window must show", share)
		}
		prev = a
	}
}

func TestLongRunBounded(t *testing.T) {
	// Three hours at one attempt per second: the histograms widen their slots instead of
	// growing, every attempt stays counted, and the charts switch to buckets.
	const secs = 3 * 3600
	b := &journalBuilder{}
	for s := range secs {
		b.attempt(float64(s)*1000, keyAlice, "op-"+strconv.Itoa(s), 1, journal.ActionForward, 201, -1, float64(10+s%20))
	}
	a := newAggregator(Input{}, 1)
	for i := range b.recs {
		a.add(&b.recs[i])
	}
	a.finish()
	if len(a.attH) > maxHistSlots || len(a.e2eH) > maxHistSlots {
		t.Errorf("%d/%d histogram slots, want at most %d", len(a.attH), len(a.e2eH), maxHistSlots)
	}
	var n uint64
	for _, h := range a.attH {
		if h != nil {
			n += h.n
		}
	}
	if n != secs {
		t.Errorf("histograms hold %d attempts, want %d", n, secs)
	}
	var all logHist
	for _, h := range a.attH {
		all.merge(h)
	}
	if p50 := all.quantile(0.5); math.Abs(p50-19.5)/19.5 > 0.07 {
		t.Errorf("p50 = %.2f ms, want ≈ 19.5 ms", p50)
	}

	dir := t.TempDir()
	in := Input{Dir: filepath.Join(dir, "out"), Journals: []string{b.write(t, dir, "j.jsonl")}}
	if _, err := drawAll(context.Background(), in, svgOnly); err != nil {
		t.Fatal(err)
	}
	// 10,800 seconds in at most maxBuckets buckets; histogram slots regrouped likewise.
	g := (secs + maxBuckets - 1) / maxBuckets
	if tl := a.timeline(); tl.group != g {
		t.Fatalf("timeline groups %d seconds, want %d", tl.group, g)
	}
	hw := a.histW * ((len(a.attH) + maxBuckets - 1) / maxBuckets)
	tests := []struct {
		chart, want string
	}{
		{ChartPercentiles, "Latency percentiles per " + secondsLabel(hw)},
		{ChartRPS, "requests/s (mean over " + secondsLabel(g) + ")"},
		{ChartClients, "requests/s (busiest second of each " + secondsLabel(g) + ")"},
		{ChartLatency, "seconds since start (" + secondsLabel(g) + " buckets)"},
	}
	for _, tt := range tests {
		t.Run(tt.chart, func(t *testing.T) {
			if got := svgLabels(t, filepath.Join(in.Dir, tt.chart+".svg")); !slices.Contains(got, tt.want) {
				t.Errorf("%s.svg lacks %q: %q", tt.chart, tt.want, got)
			}
		})
	}
}

func TestLogTicks(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi float64
		want   []string
	}{
		{"latency", 0.15, 1300, []string{"1", "10", "100", "1,000"}},
		{"sub-millisecond", 0.005, 0.5, []string{"0.01", "0.1"}},
		{"counts", 0.7, 300000, []string{"1", "10", "100", "1,000", "10,000", "100,000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			minor := 0
			for _, tk := range (logTicks{}).Ticks(tt.lo, tt.hi) {
				if tk.Value < tt.lo || tk.Value > tt.hi {
					t.Errorf("tick %v outside [%v, %v]", tk.Value, tt.lo, tt.hi)
				}
				if tk.Label == "" {
					minor++
					continue
				}
				got = append(got, tk.Label)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("labels = %q, want %q", got, tt.want)
			}
			if minor == 0 {
				t.Error("no minor ticks")
			}
		})
	}
}
