package analysis

import (
	"math/rand/v2"
	"testing"
)

// TestOpTableAgainstMap drives the table and a Go map with the same random operations,
// with hashes drawn from a small range so probe runs collide and wrap around.
func TestOpTableAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tab := newOpTable(4)
	ref := map[uint64]*opState{}
	var live []uint64
	for i := range 30000 {
		if rng.IntN(3) < 2 {
			h := rng.Uint64N(128)
			if _, ok := ref[h]; ok {
				continue
			}
			op := &opState{op: "k"}
			live = append(live, h)
			tab.put(h, op)
			ref[h] = op
		} else if len(live) > 0 {
			k := rng.IntN(len(live))
			h := live[k]
			live[k] = live[len(live)-1]
			live = live[:len(live)-1]
			tab.del(h)
			delete(ref, h)
		}
		if tab.len() != len(ref) {
			t.Fatalf("op %d: len = %d, want %d", i, tab.len(), len(ref))
		}
	}
	for h := range uint64(128) {
		if got := tab.get(h); got != ref[h] {
			t.Fatalf("get(%d) = %p, want %p", h, got, ref[h])
		}
	}
}
