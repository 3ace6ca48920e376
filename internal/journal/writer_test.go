package journal

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a goroutine-safe destination that records Sync calls.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	syncs  int
	failAt int // fail writes once the buffer holds this many bytes (0: never)
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAt > 0 && s.buf.Len()+len(p) > s.failAt {
		return 0, errors.New("disk full")
	}
	return s.buf.Write(p)
}

func (s *syncBuffer) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syncs++
	return nil
}

func (s *syncBuffer) snapshot() ([]byte, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.buf.Bytes()...), s.syncs
}

func TestWriterConcurrent(t *testing.T) {
	const writers, each = 8, 500
	dst := &syncBuffer{}
	w := NewWriter(dst)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				r := Record{Client: HashKey("k"), Attempt: g, Status: i, RetryAfterMs: NoRetryAfter}
				if err := w.Write(&r); err != nil {
					t.Errorf("Write: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := w.Count(); got != writers*each {
		t.Errorf("Count = %d, want %d", got, writers*each)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	data, syncs := dst.snapshot()
	if syncs != 1 {
		t.Errorf("Close synced %d times, want 1", syncs)
	}
	rd := NewReader(bytes.NewReader(data), "w")
	perWriter := make([]int, writers)
	var seq uint64
	for {
		var r Record
		err := rd.Next(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		seq++
		if r.Seq != seq {
			t.Fatalf("record %d has seq %d", seq, r.Seq)
		}
		// Each writer's records keep their order.
		if r.Status != perWriter[r.Attempt] {
			t.Fatalf("writer %d: record %d out of order (got %d)", r.Attempt, perWriter[r.Attempt], r.Status)
		}
		perWriter[r.Attempt]++
	}
	if seq != writers*each {
		t.Errorf("read back %d records, want %d", seq, writers*each)
	}
}

func TestWriterFlushes(t *testing.T) {
	tests := []struct {
		name  string
		flush func(w *Writer) error
	}{
		{"background flush", func(*Writer) error { return nil }},
		{"explicit Flush", (*Writer).Flush},
		{"Close", (*Writer).Close},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := &syncBuffer{}
			w := NewWriter(dst)
			defer w.Close()
			r := Record{Op: "op-1", RetryAfterMs: NoRetryAfter}
			if err := w.Write(&r); err != nil {
				t.Fatal(err)
			}
			if r.Seq != 1 {
				t.Errorf("Write set seq %d, want 1", r.Seq)
			}
			if err := tt.flush(w); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(2 * time.Second)
			for {
				data, _ := dst.snapshot()
				if bytes.Equal(data, AppendRecord(nil, &r)) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("destination holds %q, want the record within 2s", data)
				}
				time.Sleep(FlushInterval / 2)
			}
		})
	}
}

func TestWriterCloseAndErrors(t *testing.T) {
	dst := &syncBuffer{}
	w := NewWriter(dst)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if err := w.Write(&Record{}); err == nil {
		t.Errorf("Write after Close succeeded")
	}

	bad := &syncBuffer{failAt: 100}
	w = NewWriter(bad)
	for range 10 {
		if err := w.Write(&Record{}); err != nil {
			t.Fatalf("buffered Write failed early: %v", err)
		}
	}
	if err := w.Flush(); err == nil {
		t.Fatalf("Flush to a failing destination succeeded")
	}
	if err := w.Write(&Record{}); err == nil {
		t.Errorf("Write after a failed flush succeeded, want the sticky error")
	}
	if err := w.Close(); err == nil {
		t.Errorf("Close after a failed flush succeeded")
	}
	if _, syncs := bad.snapshot(); syncs != 0 {
		t.Errorf("a failed journal was synced")
	}
}

// TestCloseOnPipe checks that a journal written to a pipe (faultproxy --journal - | ...)
// closes cleanly: a pipe cannot be synced, and that loses nothing.
func TestCloseOnPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		done <- b
	}()
	jw := NewWriter(w)
	if err := jw.Write(&Record{Method: "GET", Path: "/", RetryAfterMs: NoRetryAfter}); err != nil {
		t.Fatal(err)
	}
	if err := jw.Close(); err != nil {
		t.Fatalf("Close on a pipe: %v", err)
	}
	w.Close()
	if got := <-done; !bytes.Contains(got, []byte(`"seq":1`)) {
		t.Errorf("pipe got %q", got)
	}
}
