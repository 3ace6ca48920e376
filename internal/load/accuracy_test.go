package load

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/profile"
)

// accuracy is one measured run: what the server counted per second against the plan.
type accuracy struct {
	got, want []int64
	sum       *Summary
	// achievedErr is |sent at the server - planned| / planned; worstSecondErr is the largest
	// relative error of one second.
	achievedErr, worstSecondErr float64
}

func (a accuracy) String() string {
	return fmt.Sprintf("server per second %v, plan %v, total error %.3f%%, worst second %.3f%%, dropped %d",
		a.got, a.want, 100*a.achievedErr, 100*a.worstSecondErr, a.sum.Dropped)
}

// measureAccuracy runs the load spec for d through the compliant reference client against
// a loopback server that counts requests per second from the first one it receives.
func measureAccuracy(tb testing.TB, spec profile.LoadSpec, d time.Duration) accuracy {
	tb.Helper()
	secs := int((d + time.Second - 1) / time.Second)
	counts := make([]atomic.Int64, secs+1)
	var t0 atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UnixNano()
		t0.CompareAndSwap(0, now)
		if i := int((now - t0.Load()) / int64(time.Second)); i >= 0 && i < len(counts) {
			counts[i].Add(1)
		}
	}))
	defer srv.Close()
	spec.Workers, spec.MaxWorkers = 50, 2000
	p := loadProfile(spec, d, "compliant")
	sum, err := Run(context.Background(), Config{Profile: p, BaseURL: srv.URL})
	if err != nil {
		tb.Fatal(err)
	}
	plan, err := NewPacer(spec, d)
	if err != nil {
		tb.Fatal(err)
	}
	a := accuracy{sum: sum}
	// The plan per second, from the pacer's own schedule.
	for k, next := uint64(0), time.Duration(0); ; k++ {
		if next = plan.due(k); next >= d {
			break
		}
		i := int(next / time.Second)
		for len(a.want) <= i {
			a.want = append(a.want, 0)
		}
		a.want[i]++
	}
	total, planned := int64(0), int64(0)
	for i := range a.want {
		g := counts[i].Load()
		a.got = append(a.got, g)
		total += g
		planned += a.want[i]
		if e := math.Abs(float64(g-a.want[i])) / float64(a.want[i]); e > a.worstSecondErr {
			a.worstSecondErr = e
		}
	}
	a.achievedErr = math.Abs(float64(total-planned)) / float64(planned)
	return a
}

// accuracyCases are the DESIGN.md load-accuracy target: 2,000 RPS for 10 s, and bursts to
// 2,000 RPS over a base of 1,000 RPS.
var accuracyCases = []struct {
	name string
	spec profile.LoadSpec
}{
	{"constant-2000rps", profile.LoadSpec{Shape: "constant", Rate: 2000}},
	{"burst-1000to2000rps", profile.LoadSpec{Shape: "burst", Rate: 1000, BurstRate: 2000,
		BurstDuration: dur(2 * time.Second), BurstEvery: dur(4 * time.Second)}},
}

// BenchmarkAccuracy measures load accuracy as the server sees it. Run it alone, once per
// case (each run takes 10 s):
//
//	go test -run '^$' -bench Accuracy -benchtime 1x ./internal/load/
//
// It reports the total error (target ≤ 1%) and the worst single second's error (target
// ≤ 2%) as custom metrics, and fails when a target is missed.
func BenchmarkAccuracy(b *testing.B) {
	for _, tc := range accuracyCases {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				a := measureAccuracy(b, tc.spec, 10*time.Second)
				b.ReportMetric(100*a.achievedErr, "total-err-%")
				b.ReportMetric(100*a.worstSecondErr, "worst-second-err-%")
				b.ReportMetric(float64(a.sum.Sent)/10, "achieved-rps")
				b.ReportMetric(float64(a.sum.Dropped), "dropped")
				b.Log(a)
				if a.achievedErr > 0.01 || a.worstSecondErr > 0.02 {
					b.Errorf("accuracy target missed: %v", a)
				}
			}
		})
	}
}
