package scenario

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/load"
	"github.com/retrylab/retrylab/internal/profile"
)

// TestShapesAtTheProxy runs load shapes end to end and counts, per second, the requests the
// proxy journaled against the pacer's plan. Tolerance: a run shares 2 cores with the race
// detector and other packages' tests, so 5 requests plus 10% per second, judged on the best
// of three runs (a wrong shape fails all three); the precise figures are BenchmarkAccuracy's.
func TestShapesAtTheProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end load")
	}
	tests := []struct {
		name string
		load string
	}{
		{"step", "{shape: step, steps: [\"40/s for 1s\", \"120/s for 1s\", \"60/s for 1s\"]}"},
		{"burst", "{shape: burst, rate: 40/s, burst_rate: 120/s, burst_duration: 1s, burst_every: 2s}"},
		{"ramp", "{shape: ramp, from: 20/s, to: 140/s}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			yaml := "version: 1\nname: shape\nseed: 5\nduration: 3s\nload: " + tc.load +
				"\nclient: {kind: reference, policy: no-retry}\nendpoints:\n  - {method: GET, path: /healthz}\n"
			p, err := profile.Parse("shape.yaml", []byte(yaml))
			if err != nil {
				t.Fatal(err)
			}
			pacer, err := load.NewPacer(p.Load, p.Duration.D())
			if err != nil {
				t.Fatal(err)
			}
			want := planPerSecond(pacer, p.Duration.D())
			var problems []string
			for try := 1; try <= 3; try++ {
				got := journalPerSecond(t, p, len(want))
				problems = nil
				for i := range want {
					tol := 5 + want[i]/10
					if d := got[i] - want[i]; d > tol || d < -tol {
						problems = append(problems, "second "+strconv.Itoa(i)+": proxy saw "+strconv.Itoa(got[i])+", plan "+strconv.Itoa(want[i]))
					}
				}
				if len(problems) == 0 {
					t.Logf("per second at the proxy %v, plan %v", got, want)
					return
				}
				t.Logf("run %d: %v (got %v, plan %v)", try, problems, got, want)
			}
			t.Errorf("%v", problems)
		})
	}
}

// planPerSecond counts the hits the pacer plans in each second of d.
func planPerSecond(p *load.Pacer, d time.Duration) []int {
	out := make([]int, int(d/time.Second))
	var hits uint64
	for elapsed := time.Duration(0); elapsed < d; {
		wait, stop := p.Pace(elapsed, hits)
		if stop {
			break
		}
		if wait > 0 {
			elapsed += wait
			continue
		}
		if i := int(elapsed / time.Second); i < len(out) {
			out[i]++
		}
		hits++
	}
	return out
}

// journalPerSecond runs p and counts the journal's records per second from the first one.
func journalPerSecond(t *testing.T, p *profile.Profile, n int) []int {
	t.Helper()
	dir := t.TempDir()
	if _, err := Run(context.Background(), Options{Profile: p, Dir: dir, NoCharts: true}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := make([]int, n)
	var first int64
	_, err = journal.Scan(context.Background(), f, "journal", func(r *journal.Record) error {
		if first == 0 {
			first = r.Time
		}
		if i := int((r.Time - first) / int64(time.Second)); i >= 0 && i < n {
			out[i]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
