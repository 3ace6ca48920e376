package journal

import "unsafe"

// Arena hands out strings that nothing writes to again, carved from blocks: one allocation
// per few hundred strings instead of one each. A block is freed once none of its strings is
// in use. The zero value is ready; an Arena is not safe for concurrent use.
type Arena struct {
	rest []byte // the unused rest of the current block
}

// arenaBlock is the size of an Arena's blocks.
const arenaBlock = 16 << 10

// carve returns n fresh bytes that nothing else will ever write, for a string.
func (a *Arena) carve(n int) []byte {
	if n > arenaBlock/8 {
		return make([]byte, n)
	}
	if len(a.rest) < n {
		a.rest = make([]byte, arenaBlock)
	}
	b := a.rest[:n:n]
	a.rest = a.rest[n:]
	return b
}

// Keep returns a copy of s carved from the arena.
func (a *Arena) Keep(s string) string {
	if s == "" {
		return ""
	}
	b := a.carve(len(s))
	copy(b, s)
	return unsafe.String(&b[0], len(b))
}

// Interner keeps one copy of strings that repeat, in the decoder's direct-mapped cache of
// internSlots recent strings of at most maxInternLen bytes (see internEntry). The zero value
// is ready; an Interner is not safe for concurrent use.
type Interner struct {
	slots [internSlots]internEntry
}

// Intern returns s as kept before when it is in the cache, else a copy of it from a (which
// the cache then holds).
func (in *Interner) Intern(s string, a *Arena) string {
	n := len(s)
	if n == 0 {
		return ""
	}
	if n > maxInternLen {
		return a.Keep(s)
	}
	head, tail := internWords(s)
	e := &in.slots[internHash(head, tail, n)]
	if e.head == head && e.tail == tail && len(e.s) == n && (n <= 16 || e.s == s) {
		return e.s
	}
	*e = newInternEntry(a.Keep(s), head, tail)
	return e.s
}

// newInternEntry is the cache entry of v, whose edge words are head and tail.
func newInternEntry(v string, head, tail uint64) internEntry {
	e := internEntry{head: head, tail: tail, s: v}
	if len(v) > 16 {
		e.mid, _ = internWords(v[8:16])
	}
	return e
}

// StringWords returns the first and the last eight bytes of s as little-endian words
// (zero-padded when shorter): with its length, a cheap key for caches of strings.
func StringWords(s string) (head, tail uint64) { return internWords(s) }
