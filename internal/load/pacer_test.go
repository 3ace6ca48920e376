package load

import (
	"math"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/profile"
)

func steps(ss ...profile.Step) []profile.Step { return ss }

func dur(d time.Duration) profile.Duration { return profile.Duration(d) }

// simulate drives a pacer as vegeta's attack loop does, with a perfect clock, and returns
// the instant of every hit. stall, when set, adds a pause before hit number stallAt.
func simulate(t *testing.T, p *Pacer, stallAt int, stall time.Duration) []time.Duration {
	t.Helper()
	var out []time.Duration
	now := time.Duration(0)
	for hits := uint64(0); ; hits++ {
		if int(hits) == stallAt {
			now += stall
		}
		wait, stop := p.Pace(now, hits)
		if stop {
			return out
		}
		if wait > 0 {
			now += wait
		}
		out = append(out, now)
		if len(out) > 1e6 {
			t.Fatal("runaway pacer")
		}
	}
}

func perSecond(ts []time.Duration, d time.Duration) []int {
	out := make([]int, int((d+time.Second-1)/time.Second))
	for _, x := range ts {
		if i := int(x / time.Second); i < len(out) {
			out[i]++
		}
	}
	return out
}

func TestPacerShapes(t *testing.T) {
	tests := []struct {
		name string
		spec profile.LoadSpec
		d    time.Duration
		want []int // hits per second
	}{
		{"constant", profile.LoadSpec{Shape: "constant", Rate: 100}, 3 * time.Second, []int{100, 100, 100}},
		{"constant fractional", profile.LoadSpec{Shape: "constant", Rate: 2.5}, 4 * time.Second, []int{3, 2, 3, 2}},
		{"ramp", profile.LoadSpec{Shape: "ramp", From: 0, To: 200}, 2 * time.Second, []int{50, 150}},
		{"ramp down", profile.LoadSpec{Shape: "ramp", From: 300, To: 100}, 2 * time.Second, []int{250, 150}},
		{"step", profile.LoadSpec{Shape: "step", Steps: steps(profile.Step{Rate: 50, Duration: dur(time.Second)}, profile.Step{Rate: 150, Duration: dur(2 * time.Second)})},
			4 * time.Second, []int{50, 150, 150, 150}},
		{"sine", profile.LoadSpec{Shape: "sine", Rate: 100, Amplitude: 50, Period: dur(4 * time.Second)}, 4 * time.Second,
			// ∫ over each second of 100 + 50 sin(πt/2) = 100 ± 100/π
			[]int{132, 132, 68, 68}},
		{"burst", profile.LoadSpec{Shape: "burst", Rate: 100, BurstRate: 200, BurstDuration: dur(time.Second), BurstEvery: dur(3 * time.Second)},
			6 * time.Second, []int{200, 100, 100, 200, 100, 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPacer(tc.spec, tc.d)
			if err != nil {
				t.Fatal(err)
			}
			ts := simulate(t, p, -1, 0)
			got := perSecond(ts, tc.d)
			for i := range tc.want {
				if math.Abs(float64(got[i]-tc.want[i])) > 1 {
					t.Errorf("second %d: %d hits, want %d (all: %v)", i, got[i], tc.want[i], got)
				}
			}
			if int64(len(ts)) != p.Planned(tc.d) {
				t.Errorf("sent %d hits, Planned says %d", len(ts), p.Planned(tc.d))
			}
			if p.Dropped() != 0 {
				t.Errorf("dropped %d with a perfect clock", p.Dropped())
			}
			if !p.Done() {
				t.Error("Done is false after the pacer stopped")
			}
			for i := 1; i < len(ts); i++ {
				if ts[i] < ts[i-1] {
					t.Fatalf("hit %d at %v before hit %d at %v", i, ts[i], i-1, ts[i-1])
				}
			}
		})
	}
}

// TestPacerCatchUpCap stalls the attack loop and checks that only the hits due within
// MaxLate of the moment it resumes are sent at once; the rest are dropped.
func TestPacerCatchUpCap(t *testing.T) {
	tests := []struct {
		name        string
		maxLate     time.Duration
		stall       time.Duration
		wantDropped int64
		wantBurst   int // hits sent at the instant the loop resumes
	}{
		{"stall shorter than the cap", 100 * time.Millisecond, 55 * time.Millisecond, 0, 5},
		{"stall of 505ms", 100 * time.Millisecond, 505 * time.Millisecond, 40, 10},
		{"cap disabled", -1, 505 * time.Millisecond, 0, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPacer(profile.LoadSpec{Shape: "constant", Rate: 100}, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			p.MaxLate = tc.maxLate
			// Hit 50 is due at 500ms; the loop reaches it stall later.
			ts := simulate(t, p, 50, tc.stall)
			if p.Dropped() != tc.wantDropped {
				t.Errorf("dropped %d, want %d", p.Dropped(), tc.wantDropped)
			}
			resume := ts[49] + tc.stall // hit 49 is due at 490ms
			burst := 0
			for _, x := range ts {
				if x == resume {
					burst++
				}
			}
			if burst != tc.wantBurst {
				t.Errorf("%d hits at the resume instant %v, want %d", burst, resume, tc.wantBurst)
			}
			if got := int64(len(ts)) + p.Dropped(); got != p.Planned(2*time.Second) {
				t.Errorf("sent+dropped = %d, planned %d", got, p.Planned(2*time.Second))
			}
		})
	}
}

func TestNewPacerErrors(t *testing.T) {
	tests := []struct {
		name string
		spec profile.LoadSpec
		d    time.Duration
	}{
		{"zero duration", profile.LoadSpec{Rate: 1}, 0},
		{"no rate", profile.LoadSpec{Shape: "constant"}, time.Second},
		{"ramp of zeros", profile.LoadSpec{Shape: "ramp"}, time.Second},
		{"no steps", profile.LoadSpec{Shape: "step"}, time.Second},
		{"sine amplitude over mean", profile.LoadSpec{Shape: "sine", Rate: 10, Amplitude: 20, Period: dur(time.Second)}, time.Second},
		{"burst every shorter than burst", profile.LoadSpec{Shape: "burst", Rate: 1, BurstRate: 2, BurstDuration: dur(time.Second), BurstEvery: dur(time.Second)}, time.Second},
		{"unknown shape", profile.LoadSpec{Shape: "square", Rate: 1}, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewPacer(tc.spec, tc.d); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
