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

// batchSize is how many records a source's reader hands over at once.
const batchSize = 1024

// batch is a run of records of one source in journal order; the last batch of a source
// has done set and carries the source's statistics and error.
type batch struct {
	recs    []item
	pending int // records not yet processed; at 0 the batch is reused
	done    bool
	err     error
	lines   int64
	torn    int
	bad     []error
}

// readSource decodes src in its own goroutine (journal.Scan parses in parallel) and
// sends its records in journal order, in batches; the last batch has done set.
func readSource(ctx context.Context, src Source, p *prep, out chan<- *batch, free <-chan *batch) {
	newBatch := func() *batch {
		select {
		case b := <-free:
			b.recs = b.recs[:0]
			return b
		default:
			return &batch{recs: make([]item, 0, batchSize)}
		}
	}
	b := newBatch()
	send := func(b *batch) error {
		select {
		case out <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	st, err := journal.Scan(ctx, src.R, src.Name, func(r *journal.Record) error {
		if len(b.recs) == cap(b.recs) {
			if err := send(b); err != nil {
				return err
			}
			b = newBatch()
		}
		n := len(b.recs)
		b.recs = b.recs[:n+1]
		p.fill(&b.recs[n], r) // a Record's strings are never reused by Scan
		return nil
	})
	b.done = true
	if err != nil {
		b.err = fmt.Errorf("read journal %s: %w", src.Name, err)
	}
	b.lines, b.torn, b.bad = st.Lines, st.Torn, st.Bad
	_ = send(b)
}

// sourceState is the analysing side of one source: a reorder buffer that releases the
// source's records in time order once no record older than them can still arrive (the
// newest time seen minus the reorder window).
type sourceState struct {
	idx     int
	ch      chan *batch
	free    chan *batch // processed batches, for the reader to reuse
	buf     []entry     // records not yet released, sorted by Time from head on
	head    int
	maxSeen int64
	done    bool
	last    *batch // the final batch, with the statistics
	window  int64
}

func (s *sourceState) empty() bool { return s.head == len(s.buf) }

// releasable reports whether the head record may be processed.
func (s *sourceState) releasable() bool {
	if s.empty() {
		return false
	}
	return s.done || s.buf[s.head].r.time <= s.maxSeen-s.window
}

// fill pulls batches until the head record is releasable or the source is exhausted.
func (s *sourceState) fill(ctx context.Context) error {
	for !s.done && !s.releasable() {
		var b *batch
		select {
		case b = <-s.ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		b.pending = len(b.recs)
		for i := range b.recs {
			s.insert(entry{&b.recs[i], b})
		}
		if b.done {
			s.done = true
			s.last = b
			if b.err != nil {
				return b.err
			}
		}
	}
	return nil
}

// insert adds r keeping buf sorted by Time (stable: equal times keep journal order).
// Records almost always arrive in order, so this is an append; a late record is moved
// back by insertion.
func (s *sourceState) insert(en entry) {
	r := en.r
	if r.time > s.maxSeen {
		s.maxSeen = r.time
	}
	if s.head > 4096 && s.head*2 > len(s.buf) {
		n := copy(s.buf, s.buf[s.head:])
		clear(s.buf[n:])
		s.buf = s.buf[:n]
		s.head = 0
	}
	s.buf = append(s.buf, en)
	i := len(s.buf) - 1
	for i > s.head && s.buf[i-1].r.time > r.time {
		s.buf[i] = s.buf[i-1]
		i--
	}
	s.buf[i] = en
}

// peek returns the item k places after the head (0 is the head), or nil.
func (s *sourceState) peek(k int) *item {
	if i := s.head + k; i < len(s.buf) {
		return s.buf[i].r
	}
	return nil
}

func (s *sourceState) pop() entry {
	en := s.buf[s.head]
	s.buf[s.head] = entry{}
	s.head++
	return en
}

// entry is a record waiting in a reorder buffer and the batch holding it.
type entry struct {
	r *item
	b *batch
}

// release marks one record of b processed and hands b back to its reader once all are.
func (s *sourceState) release(b *batch) {
	b.pending--
	if b.pending == 0 {
		select {
		case s.free <- b:
		default:
		}
	}
}

// merger merges several sources by time (k-way merge of their reorder buffers).
type merger struct {
	srcs []*sourceState
}

// next returns the next record in time order and the index of its source, or nil at the
// end. The caller calls release(src, batch) once it is done with the record.
func (m *merger) next(ctx context.Context) (entry, int, error) {
	best := -1
	bt := int64(math.MaxInt64)
	for i, s := range m.srcs {
		if err := s.fill(ctx); err != nil {
			return entry{}, 0, err
		}
		if s.empty() {
			continue
		}
		if t := s.buf[s.head].r.time; t < bt {
			best, bt = i, t
		}
	}
	if best < 0 {
		return entry{}, 0, nil
	}
	return m.srcs[best].pop(), best, nil
}
