package analysis

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/retrylab/retrylab/internal/journal"
)

// Source is one journal to analyse.
type Source struct {
	Name string    // file path or "-", used in evidence and messages
	R    io.Reader // the journal's JSON Lines
}

// batchSize is how many records a source's reader takes in before it releases the ones
// that are in time order, and how many items it hands over at once.
const batchSize = 1024

// batch is a run of one source's items in time order; the last batch of a source has
// done set and carries the source's statistics and error.
type batch struct {
	its []*item
	// release are the blocks whose items are all in this batch or earlier ones: the
	// engine releases them once it is past this batch.
	release []*journal.Block[item]
	done    bool
	err     error
	lines   int64
	torn    int
	bad     []error
}

// held is a block of items the reorder buffer still points into: left of its items are
// not yet in a batch.
type held struct {
	b    *journal.Block[item]
	left int
}

// readSource decodes src in its own goroutine (journal.ScanInto parses in parallel and
// its parsers turn records into items), puts the items in time order and sends them in
// batches; the last batch has done set. Items are not copied: the reorder buffer and the
// batches point into the blocks the parsers filled, and the engine releases a block once
// it has processed all of its items.
//
// The proxy writes a record when its attempt completes, so a slow attempt is written after
// later ones. The reader keeps the records of the last window (the reorder buffer) and
// releases a record once no record older than it can still arrive: when it is older than
// the newest time seen minus the window. It takes records in by batchSize, then releases
// what it can, so the order it produces depends on the journal alone.
func readSource(ctx context.Context, src Source, p *prep, window int64, out chan<- *batch, free <-chan *batch) {
	newBatch := func() *batch {
		select {
		case b := <-free:
			b.its, b.release = b.its[:0], b.release[:0]
			return b
		default:
			return &batch{its: make([]*item, 0, batchSize)}
		}
	}
	send := func(b *batch) error {
		select {
		case out <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ro := reorder{window: window}
	b := newBatch()
	// release moves the releasable items (all of them at the end) to b, sending b
	// whenever it fills up.
	release := func(all bool) error {
		for ro.releasable(all) {
			if len(b.its) == cap(b.its) {
				if err := send(b); err != nil {
					return err
				}
				b = newBatch()
			}
			e := ro.pop()
			b.its = append(b.its, e.it)
			if e.h.left--; e.h.left == 0 {
				b.release = append(b.release, e.h.b)
			}
		}
		return nil
	}
	taken := 0
	st, err := journal.ScanInto(ctx, src.R, src.Name, p.newConv, func(blk *journal.Block[item]) error {
		if len(blk.Items) == 0 {
			blk.Release()
			return nil
		}
		h := &held{b: blk, left: len(blk.Items)}
		for i := range blk.Items {
			ro.push(&blk.Items[i], h)
			if taken++; taken == batchSize {
				taken = 0
				if err := release(false); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		err = release(true)
	}
	b.done = true
	if err != nil && ctx.Err() == nil {
		b.err = fmt.Errorf("read journal %s: %w", src.Name, err)
	}
	b.lines, b.torn, b.bad = st.Lines, st.Torn, st.Bad
	_ = send(b)
}

// reorder is a source's reorder buffer: a ring of items sorted by time (stable: equal
// times keep journal order) from head on.
type reorder struct {
	buf     []roEntry // len is a power of two
	head, n int
	maxSeen int64
	window  int64
}

// roEntry is an item in the reorder buffer, with its time at hand for sorting.
type roEntry struct {
	time int64
	it   *item
	h    *held
}

func (ro *reorder) at(i int) *roEntry { return &ro.buf[(ro.head+i)&(len(ro.buf)-1)] }

// push adds it, of block h, in its place in time order. Records almost always arrive in
// order, so this usually moves nothing.
func (ro *reorder) push(it *item, h *held) {
	if ro.n == len(ro.buf) {
		grown := make([]roEntry, max(1024, 2*len(ro.buf)))
		for i := range ro.n {
			grown[i] = *ro.at(i)
		}
		ro.buf, ro.head = grown, 0
	}
	t := it.time
	if t > ro.maxSeen {
		ro.maxSeen = t
	}
	i := ro.n
	ro.n++
	for i > 0 && ro.at(i-1).time > t {
		*ro.at(i) = *ro.at(i - 1)
		i--
	}
	*ro.at(i) = roEntry{time: t, it: it, h: h}
}

// releasable reports whether the head item may go: all of them at the end of the source,
// else those older than the newest time seen minus the window.
func (ro *reorder) releasable(all bool) bool {
	if ro.n == 0 {
		return false
	}
	return all || ro.buf[ro.head].time <= ro.maxSeen-ro.window
}

// pop removes the head entry and returns it.
func (ro *reorder) pop() roEntry {
	e := ro.buf[ro.head]
	ro.buf[ro.head] = roEntry{}
	ro.head = (ro.head + 1) & (len(ro.buf) - 1)
	ro.n--
	return e
}

// sourceState is the analysing side of one source: the batch being consumed.
type sourceState struct {
	idx  int
	ch   chan *batch
	free chan *batch // consumed batches, for the reader to reuse
	cur  *batch
	pos  int // next item of cur
	done bool
	last *batch // the final batch, with the statistics
}

// head returns the source's next item without consuming it, or nil at its end.
func (s *sourceState) head(ctx context.Context) (*item, error) {
	for s.cur == nil || s.pos == len(s.cur.its) {
		if s.done {
			return nil, nil
		}
		if s.cur != nil {
			for _, blk := range s.cur.release {
				blk.Release()
			}
			clear(s.cur.release)
			select { // hand the consumed batch back; the reader allocates when none is free
			case s.free <- s.cur:
			default:
			}
			s.cur = nil
		}
		var b *batch
		select {
		case b = <-s.ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		s.cur, s.pos = b, 0
		if b.done {
			s.done = true
			s.last = b
			if b.err != nil {
				return nil, b.err
			}
		}
	}
	return s.cur.its[s.pos], nil
}

// peek returns the item k places after the next one, or nil when it is not at hand.
func (s *sourceState) peek(k int) *item {
	if s.cur != nil {
		if i := s.pos + k; i < len(s.cur.its) {
			return s.cur.its[i]
		}
	}
	return nil
}

// merger merges several time-ordered sources by time (a k-way merge; ties go to the
// source named first).
type merger struct {
	srcs []*sourceState
}

// next returns the next item in time order and the index of its source, or nil at the
// end. The item stays valid until the following call.
func (m *merger) next(ctx context.Context) (*item, int, error) {
	if len(m.srcs) == 1 {
		s := m.srcs[0]
		it, err := s.head(ctx)
		if it != nil {
			s.pos++
		}
		return it, 0, err
	}
	best := -1
	var bestIt *item
	bt := int64(math.MaxInt64)
	for i, s := range m.srcs {
		it, err := s.head(ctx)
		if err != nil {
			return nil, 0, err
		}
		if it != nil && it.time < bt {
			best, bestIt, bt = i, it, it.time
		}
	}
	if best < 0 {
		return nil, 0, nil
	}
	m.srcs[best].pos++
	return bestIt, best, nil
}
