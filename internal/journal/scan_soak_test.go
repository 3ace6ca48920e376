//go:build soak

package journal

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestScanLargeJournal checks DESIGN.md's analysis target on a generated journal of
// SOAK_RECORDS records (default 5,000,000): Scan's rate and the peak RSS of a process that
// only scans it. Run with: go test -tags soak -run TestScanLargeJournal -v ./internal/journal
func TestScanLargeJournal(t *testing.T) {
	if path := os.Getenv("RETRYLAB_SCAN_CHILD"); path != "" {
		scanChild(t, path)
		return
	}
	n := 5_000_000
	if s := os.Getenv("SOAK_RECORDS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("SOAK_RECORDS: %v", err)
		}
	}
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Generate(f, n, 1); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	t.Logf("generated %d records, %d bytes (%.0f bytes/record)", n, fi.Size(), float64(fi.Size())/float64(n))

	cmd := exec.Command(os.Args[0], "-test.run=^TestScanLargeJournal$", "-test.v")
	cmd.Env = append(os.Environ(), "RETRYLAB_SCAN_CHILD="+path)
	out, err := cmd.CombinedOutput()
	t.Logf("scan process:\n%s", out)
	if err != nil {
		t.Fatalf("scan process: %v", err)
	}
	var records int64
	var rate, rssMB float64
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if i := strings.Index(sc.Text(), "RESULT "); i >= 0 {
			fmt.Sscanf(sc.Text()[i:], "RESULT records=%d rate=%f rss_mb=%f", &records, &rate, &rssMB)
		}
	}
	if records != int64(n) {
		t.Fatalf("scanned %d records, want %d", records, n)
	}
	t.Logf("Scan: %.2f M records/s, peak RSS %.0f MB", rate/1e6, rssMB)
	if rssMB > 256 {
		t.Errorf("peak RSS %.0f MB, want <= 256 MB", rssMB)
	}
}

func scanChild(t *testing.T, path string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	var sink int64
	st, err := Scan(context.Background(), f, path, func(r *Record) error {
		sink += int64(r.Status)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	fmt.Printf("RESULT records=%d rate=%f rss_mb=%f\n", st.Records, float64(st.Records)/el.Seconds(), peakRSSMB())
}

// peakRSSMB reads VmHWM from /proc/self/status.
func peakRSSMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return -1
}
