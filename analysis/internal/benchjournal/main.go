// Command benchjournal measures the analysis on a large generated journal: it writes N
// records with journal.Generate to a temporary file, analyses the file with the default
// configuration and prints records/s (wall clock and CPU time) and the peak RSS of the
// process (VmHWM from /proc/self/status). DESIGN.md's target is >= 2 M records/s and
// <= 256 MB peak RSS on 5 M records.
//
//	go run ./analysis/internal/benchjournal -n 5000000
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/retrylab/retrylab/analysis"
	"github.com/retrylab/retrylab/internal/cli"
	"github.com/retrylab/retrylab/internal/journal"
)

func main() {
	cli.TuneGC() // as loadgen does
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("n", 5_000_000, "records to generate")
	seed := flag.Int64("seed", 1, "generator seed")
	file := flag.String("journal", "", "analyse this journal instead of generating one")
	keep := flag.Bool("keep", false, "keep the generated journal")
	summary := flag.Bool("summary", false, "print the report's terminal summary")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the analysis to this file")
	scanOnly := flag.Bool("scan-only", false, "only parse the journal (journal.Scan with an empty callback), for comparison")
	memprofile := flag.String("memprofile", "", "write a heap profile (sampled during the analysis) to this file")
	flag.Parse()

	path := *file
	if path == "" {
		dir, err := os.MkdirTemp("", "benchjournal")
		if err != nil {
			return fmt.Errorf("temp dir: %w", err)
		}
		if !*keep {
			defer os.RemoveAll(dir)
		}
		path = filepath.Join(dir, "journal.jsonl")
		if err := generate(path, *n, *seed); err != nil {
			return err
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("stat journal: %w", err)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if *memprofile != "" {
		// Snapshot the heap while the analysis runs: its state is steady after a few seconds.
		go func() {
			time.Sleep(2 * time.Second)
			f, err := os.Create(*memprofile)
			if err != nil {
				return
			}
			defer f.Close()
			runtime.GC()
			_ = pprof.WriteHeapProfile(f)
		}()
	}
	cpu0 := cpuTime()
	start := time.Now()
	if *scanOnly {
		return scan(path, cpu0, start)
	}
	rep, err := analysis.AnalyzeFiles(context.Background(), analysis.DefaultConfig(), path)
	if err != nil {
		return err
	}
	wall := time.Since(start)
	cpu := cpuTime() - cpu0
	recs := float64(rep.Run.Records)
	fmt.Printf("journal       %s (%.0f MB, %d records)\n", path, float64(st.Size())/1e6, rep.Run.Records)
	fmt.Printf("wall          %v  %.2f M records/s\n", wall.Round(time.Millisecond), recs/wall.Seconds()/1e6)
	fmt.Printf("cpu           %v  %.2f M records per CPU-second\n", cpu.Round(time.Millisecond), recs/cpu.Seconds()/1e6)
	fmt.Printf("peak RSS      %s\n", vmHWM())
	fmt.Printf("operations    %d  verdict %s\n", rep.Totals.Operations, rep.Verdict)
	if *summary {
		fmt.Println()
		return analysis.WriteSummary(os.Stdout, rep)
	}
	return nil
}

// scan parses the journal without analysing it and prints the same figures.
func scan(path string, cpu0 time.Duration, start time.Time) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	st, err := journal.Scan(context.Background(), f, path, func(*journal.Record) error { return nil })
	if err != nil {
		return err
	}
	wall, cpu := time.Since(start), cpuTime()-cpu0
	recs := float64(st.Records)
	fmt.Printf("scan only     %d records\n", st.Records)
	fmt.Printf("wall          %v  %.2f M records/s\n", wall.Round(time.Millisecond), recs/wall.Seconds()/1e6)
	fmt.Printf("cpu           %v  %.2f M records per CPU-second\n", cpu.Round(time.Millisecond), recs/cpu.Seconds()/1e6)
	fmt.Printf("peak RSS      %s\n", vmHWM())
	return nil
}

func generate(path string, n int, seed int64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create journal: %w", err)
	}
	if err := journal.Generate(f, n, seed); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close journal: %w", err)
	}
	return nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// vmHWM returns the peak resident set size as /proc/self/status reports it.
func vmHWM() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
