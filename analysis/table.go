package analysis

// opTable is an open-addressing hash table from well-mixed uint64 hashes (maphash of
// the correlation key) to operations, with linear probing and backward-shift deletion.
// The operations in flight are a queue (inserted, then deleted in about the same order,
// millions of times); Go's maps leave tombstones under that churn and their probes grow
// long, this table leaves none. A slot is 16 bytes (four per cache line) and a nil op
// marks it free: it is the analysis's hottest random access, so its density matters.
type opTable struct {
	slots []opSlot
	mask  uint64
	n     int
}

type opSlot struct {
	h  uint64
	op *opState
}

func newOpTable(capacity int) *opTable {
	size := 16
	for size < capacity*2 {
		size *= 2
	}
	return &opTable{slots: make([]opSlot, size), mask: uint64(size - 1)}
}

func (t *opTable) len() int { return t.n }

func (t *opTable) get(h uint64) *opState {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.op == nil || s.h == h {
			return s.op
		}
	}
}

// put adds op under h, which must not be in the table.
func (t *opTable) put(h uint64, op *opState) {
	if (t.n+1)*2 > len(t.slots) {
		t.grow()
	}
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		if s := &t.slots[i]; s.op == nil {
			*s = opSlot{h, op}
			t.n++
			return
		}
	}
}

func (t *opTable) del(h uint64) {
	i := h & t.mask
	for {
		s := &t.slots[i]
		if s.op == nil {
			return
		}
		if s.h == h {
			break
		}
		i = (i + 1) & t.mask
	}
	t.delAt(i)
}

// delOp removes op, stored under h, in one probe and reports whether it was there (it
// is not when its hash was taken by another key and it went to the collision map).
func (t *opTable) delOp(h uint64, op *opState) bool {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.op == nil {
			return false
		}
		if s.h == h {
			if s.op != op {
				return false
			}
			t.delAt(i)
			return true
		}
	}
}

// delAt empties slot i and shifts the entries after it back so probes stay unbroken.
func (t *opTable) delAt(i uint64) {
	j := i
	for {
		j = (j + 1) & t.mask
		s := &t.slots[j]
		if s.op == nil {
			break
		}
		home := s.h & t.mask
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.slots[i] = *s
			i = j
		}
	}
	t.slots[i] = opSlot{}
	t.n--
}

func (t *opTable) grow() {
	old := t.slots
	t.slots = make([]opSlot, len(old)*2)
	t.mask = uint64(len(t.slots) - 1)
	t.n = 0
	for _, s := range old {
		if s.op != nil {
			t.put(s.h, s.op)
		}
	}
}
