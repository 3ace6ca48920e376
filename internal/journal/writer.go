package journal

import (
	"errors"
	"io"
	"sync"
	"syscall"
	"time"
)

// Writer appends records to an io.Writer. Write encodes into an in-memory buffer under a
// short lock and returns; a background goroutine flushes the buffer every FlushInterval, so
// no request waits on a disk write. A flush swaps the pending buffer for a spare one under
// the lock and writes outside it, so Write never waits on the destination either. Close
// flushes everything and, if the destination has a Sync method (an *os.File), syncs it.
type Writer struct {
	mu     sync.Mutex // guards seq, err, closed, buf and spare
	seq    uint64
	err    error
	closed bool
	buf    []byte // encoded records not yet handed to dst, in Seq order
	spare  []byte // the buffer a flush is not using, reused for the next batch

	fmu  sync.Mutex // serialises writes to dst (taken before mu), so batches stay in order
	dst  io.Writer
	done chan struct{}
	wg   sync.WaitGroup
}

// FlushInterval is how often a Writer flushes its buffer in the background.
const FlushInterval = 10 * time.Millisecond

// flushSize is the buffered size at which Write flushes before returning, bounding memory.
const flushSize = 256 << 10

// NewWriter returns a Writer appending to dst.
func NewWriter(dst io.Writer) *Writer {
	w := &Writer{dst: dst, done: make(chan struct{}),
		buf: make([]byte, 0, flushSize+4<<10), spare: make([]byte, 0, flushSize+4<<10)}
	w.wg.Add(1)
	go w.flushLoop()
	return w
}

func (w *Writer) flushLoop() {
	defer w.wg.Done()
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
			_ = w.flush() // the error is sticky: Write, Flush and Close report it
		}
	}
}

// flush writes the pending records to dst and returns the Writer's sticky error.
func (w *Writer) flush() error {
	w.fmu.Lock()
	defer w.fmu.Unlock()
	w.mu.Lock()
	if w.err != nil || len(w.buf) == 0 {
		err := w.err
		w.mu.Unlock()
		return err
	}
	out := w.buf
	w.buf = w.spare[:0]
	w.spare = nil
	w.mu.Unlock()

	_, err := w.dst.Write(out) // io.Writer: a short write returns an error

	w.mu.Lock()
	defer w.mu.Unlock()
	w.spare = out[:0]
	if err != nil && w.err == nil {
		w.err = err
	}
	return w.err
}

// Write assigns r the next sequence number and appends it. It returns the first write
// error the Writer has met, if any.
func (w *Writer) Write(r *Record) error {
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	if w.closed {
		w.mu.Unlock()
		return io.ErrClosedPipe
	}
	w.seq++
	r.Seq = w.seq
	w.buf = AppendRecord(w.buf, r)
	full := len(w.buf) >= flushSize
	w.mu.Unlock()
	if full {
		return w.flush()
	}
	return nil
}

// Count returns the number of records written so far.
func (w *Writer) Count() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq
}

// Flush writes buffered records to the destination now.
func (w *Writer) Flush() error {
	return w.flush()
}

// Close flushes and syncs the journal and stops the background flusher. It does not
// close the destination.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return w.err
	}
	w.closed = true
	w.mu.Unlock()
	close(w.done)
	w.wg.Wait()
	_ = w.flush()
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, ok := w.dst.(interface{ Sync() error }); ok && w.err == nil {
		// A pipe or a terminal (--journal -) cannot be synced: that is not a lost record.
		if err := s.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
			w.err = err
		}
	}
	return w.err
}
