package proxy

import (
	"testing"
	"time"
)

func TestOpTracker(t *testing.T) {
	tr := newOpTracker()
	steps := []struct {
		name string
		op   string
		at   time.Duration
		want int
	}{
		{"first attempt", "a", 0, 1},
		{"second attempt", "a", time.Second, 2},
		{"other op", "b", time.Second, 1},
		{"after one generation the op is still known", "a", opGeneration + time.Second, 3},
		{"b moved to the old generation", "c", opGeneration + 2*time.Second, 1},
		{"a kept alive by use", "a", 2*opGeneration + 2*time.Second, 4},
		{"b forgotten after two generations unused", "b", 2*opGeneration + 3*time.Second, 1},
	}
	buf := make([]byte, 0, 8)
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			buf = append(buf[:0], s.op...) // the tracker must copy the id, not keep buf
			got := tr.next(buf, epoch.Add(s.at))
			buf = append(buf[:0], "zzzzzzzz"...)
			if got != s.want {
				t.Errorf("attempt %d, want %d", got, s.want)
			}
		})
	}
	if n := tr.len(); n != 3 {
		t.Errorf("tracking %d ops, want 3", n)
	}
	tr.reset()
	if got := tr.next([]byte("a"), epoch.Add(3*opGeneration)); got != 1 || tr.len() != 1 {
		t.Errorf("after reset: attempt %d, %d ops", got, tr.len())
	}
}

func TestKeyCache(t *testing.T) {
	var c keyCache
	k := []byte("sk_live_1")
	h1 := c.hash(k)
	k[0] = 'X' // the cache must not keep the caller's bytes
	h2 := c.hash([]byte("sk_live_1"))
	if h1 != h2 || len(h1) != 18 || c.hash(nil) != "" {
		t.Errorf("hashes %q %q", h1, h2)
	}
}

func BenchmarkOpTrackerNewOp(b *testing.B) {
	tr := newOpTracker()
	op := make([]byte, 0, 32)
	now := epoch
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		op = append(op[:0], "op-"...)
		op = appendHex64(op, uint64(i))
		tr.next(op, now)
	}
}
