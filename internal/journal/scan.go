package journal

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
)

// ScanStats summarizes one Scan.
type ScanStats struct {
	Records int64   // records delivered to the callback
	Lines   int64   // lines read, blank, malformed and torn ones included
	Torn    int     // torn last lines skipped (0 or 1)
	Bad     []error // malformed lines, "NAME:LINE: malformed journal line: ...", at most MaxBadLines
}

// MaxBadLines is how many malformed-line errors ScanStats.Bad keeps; later ones are
// counted in Lines only.
const MaxBadLines = 100

// Scan tuning. A chunk is a run of whole lines read in one go; chunks are decoded by
// scanParsers goroutines and delivered in order, with at most scanChunks in flight.
const (
	scanChunkSize = 256 << 10
	scanParsers   = 2
	scanChunks    = 8
)

// chunk is a run of whole lines and, once parsed, what its records decoded to.
type chunk[T any] struct {
	seq   int
	data  []byte
	final bool // data ends at the end of the journal: its last line may be torn
	out   []T
	lines int64
	torn  int
	bad   []lineError
}

// lineError is a malformed line, numbered from the start of its chunk.
type lineError struct {
	line int64
	err  error
}

// Scan reads a whole journal in one pass and calls fn for every record, in file order,
// from one goroutine. A reader goroutine cuts the input into chunks of whole lines, two
// parser goroutines decode them, and the records are merged back into order; buffers are
// reused, so fn must not keep the *Record after it returns (copying the Record is fine:
// its strings are never reused).
//
// Blank lines are skipped. A malformed last line without a trailing newline (a torn
// write) is skipped and counted in Torn. A malformed line elsewhere does not stop the
// scan: it is counted and reported in Bad as "NAME:LINE: malformed journal line: ..."
// (wrapping ErrTornLine), up to MaxBadLines errors; the caller decides what that means.
//
// Scan stops at the end of r, at the first error fn returns (which Scan returns as is),
// when ctx is done (returning ctx.Err()), or on a read error (wrapped with name). The
// stats always cover what was delivered. After an early return, Scan's reader may still be
// inside one r.Read call; it exits when that call returns, without touching r again.
func Scan(ctx context.Context, r io.Reader, name string, fn func(*Record) error) (ScanStats, error) {
	var st ScanStats
	decode := func(d *decoder, line []byte, dst *Record) error { return d.decode(line, dst) }
	newDecode := func() func(*decoder, []byte, *Record) error { return decode }
	deliver := func(c *chunk[Record]) error {
		for i := range c.out {
			if err := fn(&c.out[i]); err != nil {
				st.Records += int64(i + 1)
				return err
			}
		}
		st.Records += int64(len(c.out))
		return nil
	}
	err := scan(ctx, r, name, false, nil, newDecode, deliver, &st)
	return st, err
}

// Block is a run of records, in file order, that ScanInto converted; its owner calls
// Release once it no longer reads Items, so that their memory is used again.
type Block[T any] struct {
	Items []T
	pool  chan []T
}

// Release hands b's memory back to its scan. b and its Items must not be used after.
func (b *Block[T]) Release() {
	if b.pool == nil {
		return
	}
	select {
	case b.pool <- b.Items[:0]:
	default:
	}
	b.Items, b.pool = nil, nil
}

// blockPool is how many released blocks' memory ScanInto keeps for reuse.
const blockPool = 64

// ScanInto is Scan for a caller that keeps records beyond its callback and wants each one
// in its own form: every parser goroutine gets a converter from newConv and converts each
// record it decodes with it (so a converter may keep state of its own, while newConv and
// what converters share must be safe for concurrent use), and fn receives the converted
// records chunk by chunk, in file order, as Blocks it owns until it releases them. No
// record is copied after its converter wrote it. Errors, stats and stopping are as for
// Scan.
//
// The strings of the Record a converter gets may point into the journal's buffer, which
// is used again once the converter returns: a converter copies every string it keeps
// (strings.Clone). Nothing is interned or copied for it beforehand, so it pays only for
// what it keeps.
func ScanInto[T any](ctx context.Context, r io.Reader, name string, newConv func() func(*Record, *T), fn func(*Block[T]) error) (ScanStats, error) {
	var st ScanStats
	pool := make(chan []T, blockPool)
	newOut := func() []T {
		select {
		case s := <-pool:
			return s
		default:
			return nil
		}
	}
	newDecode := func() func(d *decoder, line []byte, dst *T) error {
		conv := newConv()
		return func(d *decoder, line []byte, dst *T) error {
			if err := d.decode(line, &d.rec); err != nil {
				return err
			}
			conv(&d.rec, dst)
			return nil
		}
	}
	deliver := func(c *chunk[T]) error {
		b := &Block[T]{Items: c.out, pool: pool}
		c.out = nil // the parser takes another from the pool
		st.Records += int64(len(b.Items))
		return fn(b)
	}
	err := scan(ctx, r, name, true, newOut, newDecode, deliver, &st)
	return st, err
}

// scan is the pipeline of Scan and ScanInto: each parser's decode (from newDecode) fills
// one element of a chunk's out per record (out comes from newOut when a chunk has none, if
// newOut is not nil), and deliver is called for every parsed chunk in order, from the
// calling goroutine. With views, the parsers' decoders set strings as views of the lines.
func scan[T any](ctx context.Context, r io.Reader, name string, views bool, newOut func() []T,
	newDecode func() func(d *decoder, line []byte, dst *T) error, deliver func(*chunk[T]) error, st *ScanStats) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	free := make(chan *chunk[T], scanChunks)
	for range scanChunks {
		free <- &chunk[T]{data: make([]byte, 0, scanChunkSize)}
	}
	work := make(chan *chunk[T], scanChunks)
	results := make(chan *chunk[T], scanChunks)
	readErr := make(chan error, 1)

	go func() {
		defer close(work)
		readErr <- readChunks(ctx, r, free, work)
	}()
	var parsers sync.WaitGroup
	for range scanParsers {
		parsers.Go(func() {
			d := newDecoder()
			d.views = views
			decode := newDecode()
			for {
				var c *chunk[T]
				select {
				case c = <-work:
				case <-ctx.Done():
					return
				}
				if c == nil {
					return // work closed
				}
				if c.out == nil && newOut != nil {
					c.out = newOut()
				}
				parseChunk(d, c, decode)
				select {
				case results <- c:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() {
		parsers.Wait()
		close(results)
	}()

	err := mergeChunks(ctx, name, results, free, deliver, st)
	if err != nil {
		// Stop the pipeline. The parsers exit on ctx; the reader exits on ctx once its
		// current Read returns. Nothing waits for it: a Read on a pipe may block.
		cancel()
		return err
	}
	// results was closed after the parsers saw work closed: the reader is done.
	if rerr := <-readErr; rerr != nil {
		return fmt.Errorf("read %s: %w", name, rerr)
	}
	return nil
}

// readChunks cuts r into chunks of whole lines and sends them to work in order.
func readChunks[T any](ctx context.Context, r io.Reader, free <-chan *chunk[T], work chan<- *chunk[T]) error {
	var carry []byte // the partial line at the end of the previous read
	for seq := 0; ; seq++ {
		var c *chunk[T]
		select {
		case c = <-free:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.seq, c.final = seq, false
		c.data = append(c.data[:0], carry...)
		carry = carry[:0]
		var err error
		for {
			if len(c.data) == cap(c.data) {
				// A line longer than the buffer: grow it until the line ends.
				c.data = append(c.data, 0)[:len(c.data)]
			}
			var n int
			n, err = r.Read(c.data[len(c.data):cap(c.data)])
			c.data = c.data[:len(c.data)+n]
			if err != nil {
				break
			}
			if len(c.data) == cap(c.data) {
				if i := bytes.LastIndexByte(c.data, '\n'); i >= 0 {
					carry = append(carry, c.data[i+1:]...)
					c.data = c.data[:i+1]
					break
				}
			}
		}
		if err != nil {
			if err != io.EOF {
				// Keep the whole lines read before the error; drop the partial one.
				c.data = c.data[:bytes.LastIndexByte(c.data, '\n')+1]
			}
			c.final = true
			select {
			case work <- c:
			case <-ctx.Done():
				return ctx.Err()
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
		select {
		case work <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// parseChunk decodes every line of c into c.out.
func parseChunk[T any](d *decoder, c *chunk[T], decode func(*decoder, []byte, *T) error) {
	c.out, c.lines, c.torn, c.bad = c.out[:0], 0, 0, c.bad[:0]
	data := c.data
	for len(data) > 0 {
		var line []byte
		complete := true
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			line, data, complete = data, nil, false
		}
		c.lines++
		if line[0] != '{' && len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if len(c.out) < cap(c.out) {
			c.out = c.out[:len(c.out)+1]
		} else {
			var zero T
			c.out = append(c.out, zero)
		}
		if err := decode(d, line, &c.out[len(c.out)-1]); err != nil {
			c.out = c.out[:len(c.out)-1]
			if !complete && c.final {
				c.torn++
				continue
			}
			c.bad = append(c.bad, lineError{c.lines, err})
		}
	}
}

// mergeChunks delivers the parsed chunks to deliver in order and recycles the chunks.
func mergeChunks[T any](ctx context.Context, name string, results <-chan *chunk[T], free chan<- *chunk[T],
	deliver func(*chunk[T]) error, st *ScanStats) error {
	pending := make(map[int]*chunk[T], scanChunks)
	next := 0
	for {
		c, ok := pending[next]
		if !ok {
			select {
			case c, ok = <-results:
				if !ok {
					return ctx.Err() // nil unless the scan was cancelled midway
				}
			case <-ctx.Done():
				return ctx.Err()
			}
			if c.seq != next {
				pending[c.seq] = c
				continue
			}
		} else {
			delete(pending, next)
		}
		base := st.Lines
		for _, b := range c.bad {
			if len(st.Bad) < MaxBadLines {
				st.Bad = append(st.Bad, formatLineError(name, base+b.line, b.err))
			}
		}
		st.Lines += c.lines
		st.Torn += c.torn
		if err := deliver(c); err != nil {
			return err
		}
		next++
		free <- c
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
