//go:build browser

package chart

import (
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestBrowserScreenshot renders report.html of the hand-built scenario in headless
// Chromium, offline, and writes the screenshot to docs/report-screenshot.png.
//
//	go test -tags browser -run Browser ./internal/chart/
func TestBrowserScreenshot(t *testing.T) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no chromium on PATH (Debian: apt-get install chromium)")
	}
	dir := t.TempDir()
	j := scenarioJournal().write(t, dir, "journal.jsonl")
	in := Input{Dir: filepath.Join(dir, "results"), Journals: []string{j}, Report: testReport(), Profile: testProfile()}
	charts, err := DrawAll(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(in.Dir, "report.html")
	if err := WriteHTML(page, in, charts); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--hide-scrollbars", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--screenshot="+shot, "--window-size=1280,2400", "file://"+page)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 2400 {
		t.Errorf("screenshot is %dx%d, want 1280x2400", b.Dx(), b.Dy())
	}
	// The FAIL banner's background (#fde8ea) fills a good part of the rows near the top.
	banner := 0
	for y := 100; y < 220; y++ {
		for x := 0; x < 1280; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r>>8 == 0xfd && g>>8 == 0xe8 && b>>8 == 0xea {
				banner++
			}
		}
	}
	if banner < 20000 {
		t.Errorf("%d pixels of the FAIL banner's color near the top, want a visible red banner", banner)
	}
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join("..", "..", "docs", "report-screenshot.png")
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", dst)
}
