package analysis

import (
	"math/rand/v2"
	"testing"
)

// TestOpTableDelOp drives delOp against a Go map like TestOpTableAgainstMap, and checks
// that it refuses an operation stored elsewhere under the same hash (a collision, which
// the engine keeps in its collision map).
func TestOpTableDelOp(t *testing.T) {
	tests := []struct {
		name  string
		seed  uint64
		space uint64 // hashes are drawn from [0, space): small spaces make long probe runs
	}{
		{name: "dense probe runs", seed: 1, space: 64},
		{name: "wrapping runs", seed: 2, space: 16},
		{name: "sparse", seed: 3, space: 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tt.seed, 9))
			tab := newOpTable(4)
			ref := map[uint64]*opState{}
			var live []uint64
			for i := range 20000 {
				if rng.IntN(3) < 2 {
					h := rng.Uint64N(tt.space)
					if _, ok := ref[h]; ok {
						// Another operation under a hash already taken is not in the table.
						if tab.delOp(h, &opState{}) {
							t.Fatalf("op %d: delOp removed an operation it does not hold", i)
						}
						continue
					}
					op := &opState{}
					live = append(live, h)
					tab.put(h, op)
					ref[h] = op
				} else if len(live) > 0 {
					k := rng.IntN(len(live))
					h := live[k]
					live[k] = live[len(live)-1]
					live = live[:len(live)-1]
					if !tab.delOp(h, ref[h]) {
						t.Fatalf("op %d: delOp(%d) did not find its operation", i, h)
					}
					delete(ref, h)
					if tab.delOp(h, &opState{}) {
						t.Fatalf("op %d: delOp(%d) succeeded twice", i, h)
					}
				}
				if tab.len() != len(ref) {
					t.Fatalf("op %d: len = %d, want %d", i, tab.len(), len(ref))
				}
			}
			for h, op := range ref {
				if got := tab.get(h); got != op {
					t.Fatalf("get(%d) = %p, want %p", h, got, op)
				}
			}
		})
	}
}
