package analysis

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestReorderRing drives the reorder ring as readSource does (take batchSize items, then
// release what the window allows; all at the end) and compares the order it releases
// items in with a plain sorted slice doing the same: late items, ties, growth of the ring
// and its wrap-around included.
func TestReorderRing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		window int64
		jitter int64 // how far back an item's time may lie behind the newest
	}{
		{"in order", 5000, 100, 0},
		{"late within the window", 20000, 1000, 900},
		{"late beyond the window", 20000, 100, 5000},
		{"ties", 10000, 50, 3},
		{"window larger than the ring", 50000, 1 << 40, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(tc.n)))
			ro := reorder{window: tc.window}
			var ref []item // sorted by time, stable
			var maxSeen int64
			var got, want []uint64
			now := int64(0)
			release := func(all bool) {
				for ro.releasable(all) {
					got = append(got, ro.pop().it.seq)
				}
				for len(ref) > 0 && (all || ref[0].time <= maxSeen-tc.window) {
					want = append(want, ref[0].seq)
					ref = ref[1:]
				}
			}
			for i := range tc.n {
				now += rng.Int64N(3)
				tm := now
				if tc.jitter > 0 && rng.IntN(10) == 0 {
					tm -= rng.Int64N(tc.jitter)
				}
				ro.push(&item{seq: uint64(i), time: tm}, nil)
				maxSeen = max(maxSeen, tm)
				k, _ := slices.BinarySearchFunc(ref, tm, func(a item, t int64) int {
					if a.time <= t {
						return -1
					}
					return 1
				})
				ref = slices.Insert(ref, k, item{seq: uint64(i), time: tm})
				if (i+1)%batchSize == 0 {
					release(false)
				}
			}
			release(true)
			if len(got) != tc.n || !slices.Equal(got, want) {
				t.Fatalf("released %d items, want %d; first difference at %d", len(got), tc.n, firstDiff(got, want))
			}
		})
	}
}

func firstDiff(a, b []uint64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
