package scenario

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/profile"
)

// calibration is the proof that the oracle is right: every reference client runs every
// calibration profile of profiles/, and the set of violated checks must be exactly the one
// docs/CHECKS.md's matrix gives. No false positive for compliant; each broken client caught
// by the check that names its defect and by no unrelated one.
//
// Policies a row does not name must have no violation. naive and no-retry carry no client-side
// limiter, so the rate-limit profile's load takes them over the limit; every other reference
// client is the compliant one with a single defect.
var calibration = map[string]map[string][]string{
	"brownout": {
		"ignores-retry-after": {"retry_after"},
		"naive":               {"backoff", "jitter", "retry_after"},
		"no-jitter":           {"jitter"},
	},
	"outage": {
		"naive":     {"amplification", "backoff", "jitter"},
		"no-jitter": {"jitter"},
		"unbounded": {"amplification", "max_attempts"},
	},
	"lost-responses": {
		"naive":             {"backoff", "duplicate_side_effects", "jitter"},
		"new-key-per-retry": {"duplicate_side_effects"},
		"no-jitter":         {"jitter"},
	},
	"rate-limit-burst": {
		"naive":    {"rate_limit", "retry_after"},
		"no-retry": {"rate_limit"},
	},
	"hard-4xx": {
		"ignores-retry-after": {"retry_after"},
		"naive":               {"retry_after"},
		"retries-4xx":         {"non_retryable"},
	},
}

var calibrationProfiles = []string{"brownout", "outage", "lost-responses", "rate-limit-burst", "hard-4xx"}

// calibrationDuration caps each profile's load phase to keep the default test run short; every
// calibration profile provokes its faults within it.
const calibrationDuration = 6 * time.Second

// calibrationParallel scenarios run at once. More would starve a 2-core machine: a stall of
// 100 ms squeezes a client's requests together on their way to the proxy.
const calibrationParallel = 3

type calibrationResult struct {
	profile, policy string
	violated        []string
	detail          string
	err             error
}

func runCalibration(t *testing.T) []calibrationResult {
	t.Helper()
	var (
		mu      sync.Mutex
		results []calibrationResult
		wg      sync.WaitGroup
		sem     = make(chan struct{}, calibrationParallel)
	)
	only := os.Getenv("RETRYLAB_CALIBRATION_ONLY") // a profile name, to run one row
	for _, name := range calibrationProfiles {
		if only != "" && name != only {
			continue
		}
		for _, policy := range profile.ReferencePolicies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				r := calibrationResult{profile: name, policy: policy}
				// A run on a machine that starves the load generator or the proxy of CPU
				// (a stall of 100 ms squeezes a client's paced requests together) is not a
				// measurement of the client: a run that disagrees with the matrix is run
				// again, twice at most. A real defect, or a false positive of the oracle,
				// disagrees every time.
				for try := 0; try < 3; try++ {
					var dropped int64
					r.violated, r.detail, dropped, r.err = calibrate(t.TempDir(), name, policy)
					if r.err != nil || slices.Equal(r.violated, calibration[name][policy]) {
						break
					}
					t.Logf("%s × %s: violated %v (%d operations dropped), running again", name, policy, r.violated, dropped)
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	sort.Slice(results, func(i, j int) bool {
		if results[i].profile != results[j].profile {
			return results[i].profile < results[j].profile
		}
		return results[i].policy < results[j].policy
	})
	return results
}

func calibrate(dir, name, policy string) ([]string, string, int64, error) {
	p, err := profile.Load("../../profiles/" + name + ".yaml")
	if err != nil {
		return nil, "", 0, err
	}
	p.Duration = min(p.Duration, profile.Duration(calibrationDuration))
	p.Client.Kind = profile.KindReference
	p.Client.Policy = policy
	res, err := Run(context.Background(), Options{Profile: p, Dir: dir, NoCharts: true})
	if err != nil {
		return nil, "", 0, err
	}
	var violated []string
	var detail strings.Builder
	fmt.Fprintf(&detail, "ops=%d attempts=%d ok=%.3f dropped=%d | ", res.Report.Totals.Operations,
		res.Report.Totals.Attempts, res.Report.Totals.SuccessRate, res.Load.Dropped)
	for _, c := range res.Report.Checks {
		if c.Violations > 0 {
			violated = append(violated, c.ID)
			fmt.Fprintf(&detail, "%s=%d ", c.ID, c.Violations)
		}
	}
	slices.Sort(violated)
	return violated, detail.String(), res.Load.Dropped, nil
}

func TestCalibration(t *testing.T) {
	if testing.Short() {
		t.Skip("calibration runs every reference client end to end")
	}
	results := runCalibration(t)
	for _, r := range results {
		if r.err != nil {
			t.Errorf("%s × %s: %v", r.profile, r.policy, r.err)
			continue
		}
		t.Logf("%-18s %-20s %v  %s", r.profile, r.policy, r.violated, r.detail)
		if os.Getenv("RETRYLAB_CALIBRATION_PRINT") != "" {
			continue
		}
		want := calibration[r.profile][r.policy]
		if !slices.Equal(r.violated, want) && (len(r.violated) > 0 || len(want) > 0) {
			t.Errorf("%s × %s: violated %v, want %v (%s)", r.profile, r.policy, r.violated, want, r.detail)
		}
	}
}
