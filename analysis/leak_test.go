package analysis

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
)

func TestNoGoroutineLeak(t *testing.T) {
	data := encode([]journal.Record{rec("k1", "a", 0, 503), rec("k1", "a", 150, 201, executed())})
	before := runtime.NumGoroutine()
	for range 50 {
		if _, err := Analyze(context.Background(), DefaultConfig(), Source{Name: "j", R: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after 50 analyses:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
