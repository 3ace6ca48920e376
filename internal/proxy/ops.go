package proxy

import (
	"sync"
	"time"
	"unsafe"

	"github.com/retrylab/retrylab/internal/journal"
)

// b2s views b as a string without copying. The string is valid only while b is unchanged:
// the proxy uses it for request data it journals before the handler returns.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv64(b []byte) uint64 { return fnvAdd(fnvOffset, b) }

func fnvAdd(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

// mix is SplitMix64's finaliser: a bijective scramble of x.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// decisionRand returns the random number of one decision: a function of the seed, the
// operation, its attempt number and the rule only, so the same seed and the same requests
// give the same decisions whatever the order in which goroutines run.
func decisionRand(seed int64, op []byte, attempt int, salt uint64) uint64 {
	return mix(mix(mix(uint64(seed)^fnv64(op))^uint64(attempt)) ^ salt)
}

func unitFloat(x uint64) float64 { return float64(x>>11) / (1 << 53) }

const hexDigits = "0123456789abcdef"

func appendHex64(b []byte, v uint64) []byte {
	for i := 60; i >= 0; i -= 4 {
		b = append(b, hexDigits[(v>>uint(i))&0xf])
	}
	return b
}

// Op tracking bounds: an operation is forgotten between opGeneration and 2·opGeneration
// after it was last seen, or sooner when more than maxOps operations are tracked.
const (
	opGeneration = 5 * time.Minute
	maxOps       = 1 << 20
)

// opTracker counts the attempts of each operation. Operations are keyed by a 64-bit hash
// of their id (two ids colliding, about one chance in 10^7 among a million operations, would
// share a count), so the maps hold no pointers: no allocation per new operation and nothing
// for the garbage collector to scan. It keeps two generations: a lookup that finds an op in
// the old generation moves it to the current one, and the old generation is dropped when the
// current one is opGeneration old or holds maxOps/2 ops.
type opTracker struct {
	mu      sync.Mutex
	cur     map[uint64]int32
	old     map[uint64]int32
	rotated time.Time
}

func newOpTracker() *opTracker {
	return &opTracker{cur: map[uint64]int32{}, old: map[uint64]int32{}}
}

// next returns the attempt number of this request of op (1 for the first).
func (t *opTracker) next(op []byte, now time.Time) int {
	k := mix(fnv64(op))
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rotated.IsZero() {
		t.rotated = now
	}
	if now.Sub(t.rotated) >= opGeneration || len(t.cur) >= maxOps/2 {
		t.old, t.cur = t.cur, t.old
		clear(t.cur)
		t.rotated = now
	}
	n, ok := t.cur[k]
	if !ok {
		n = t.old[k]
		delete(t.old, k)
	}
	n++
	t.cur[k] = n
	return int(n)
}

func (t *opTracker) reset() {
	t.mu.Lock()
	clear(t.cur)
	clear(t.old)
	t.mu.Unlock()
}

func (t *opTracker) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.cur) + len(t.old)
}

// maxKeys bounds the key-hash cache; past it the cache starts over.
const maxKeys = 1 << 16

// keyCache memoises journal.HashKey, which costs a SHA-256 and an allocation per call.
type keyCache struct {
	mu sync.RWMutex
	m  map[string]string
}

func (c *keyCache) hash(key []byte) string {
	if len(key) == 0 {
		return ""
	}
	c.mu.RLock()
	h, ok := c.m[b2s(key)]
	c.mu.RUnlock()
	if ok {
		return h
	}
	h = journal.HashKey(string(key))
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxKeys {
		c.m = make(map[string]string)
	}
	c.m[string(key)] = h
	c.mu.Unlock()
	return h
}
