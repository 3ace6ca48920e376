package journal

import (
	"bufio"
	"errors"
	"io"
	"sync"
	"syscall"
	"time"
)

// Writer appends records to an io.Writer. Write encodes into an in-memory buffer under a
// short lock and returns; a background goroutine flushes the buffer every FlushInterval, so
// no request waits on a disk write. Close flushes everything and, if the destination
// has a Sync method (an *os.File), syncs it.
type Writer struct {
	mu     sync.Mutex
	w      *bufio.Writer
	dst    io.Writer
	seq    uint64
	err    error
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
	buf    []byte
}

// FlushInterval is how often a Writer flushes its buffer in the background.
const FlushInterval = 10 * time.Millisecond

// NewWriter returns a Writer appending to dst.
func NewWriter(dst io.Writer) *Writer {
	w := &Writer{w: bufio.NewWriterSize(dst, 256<<10), dst: dst, done: make(chan struct{})}
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
			w.mu.Lock()
			if w.err == nil && w.w.Buffered() > 0 {
				w.err = w.w.Flush()
			}
			w.mu.Unlock()
		}
	}
}

// Write assigns r the next sequence number and appends it. It returns the first write
// error the Writer has met, if any.
func (w *Writer) Write(r *Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return io.ErrClosedPipe
	}
	w.seq++
	r.Seq = w.seq
	w.buf = AppendRecord(w.buf[:0], r)
	_, w.err = w.w.Write(w.buf)
	return w.err
}

// Count returns the number of records written so far.
func (w *Writer) Count() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq
}

// Flush writes buffered records to the destination now.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
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
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = w.w.Flush()
	}
	if s, ok := w.dst.(interface{ Sync() error }); ok && w.err == nil {
		// A pipe or a terminal (--journal -) cannot be synced: that is not a lost record.
		if err := s.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
			w.err = err
		}
	}
	return w.err
}
