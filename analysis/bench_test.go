package analysis

import (
	"bytes"
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
)

const benchRecords = 500_000

var benchJournal = sync.OnceValue(func() []byte {
	var buf bytes.Buffer
	if err := journal.Generate(&buf, benchRecords, 1); err != nil {
		panic(err)
	}
	return buf.Bytes()
})

// BenchmarkAnalyze measures the whole analysis (parsing included) of a generated
// journal; records/s is the figure DESIGN.md's target (>= 2 M/s) is about.
func BenchmarkAnalyze(b *testing.B) {
	data := benchJournal()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		rep, err := Analyze(context.Background(), DefaultConfig(), Source{Name: "bench", R: bytes.NewReader(data)})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Run.Records != benchRecords {
			b.Fatalf("records = %d, want %d", rep.Run.Records, benchRecords)
		}
	}
	b.ReportMetric(float64(benchRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	// On a shared machine wall time depends on the neighbours; CPU time much less.
	b.ReportMetric(float64(benchRecords)*float64(b.N)/(cpuTime()-cpu0).Seconds(), "records/cpu-s")
}

// cpuTime returns the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEngine measures the engine's own goroutine alone: decoded records whose
// derived fields the readers fill are processed in time order (no parsing, no prep).
func BenchmarkEngine(b *testing.B) {
	data := benchJournal()
	var recs []journal.Record
	rd := journal.NewReader(bytes.NewReader(data), "bench")
	for {
		var r journal.Record
		if err := rd.Next(&r); err != nil {
			break
		}
		recs = append(recs, r)
	}
	cfg := DefaultConfig().withDefaults()
	items := make([]item, len(recs))
	b.ResetTimer()
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		e := newEngine(&cfg, []string{"bench"})
		for i := range recs {
			e.conv.fill(&items[i], &recs[i])
		}
		b.StartTimer()
		cpu0 := cpuTime()
		for i := range items {
			if i+prefetchAhead < len(items) {
				e.prefetch(&items[i+prefetchAhead])
			}
			e.processItem(&items[i], 0)
		}
		e.report(&merger{}, false)
		cpu += cpuTime() - cpu0
	}
	b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(len(recs))*float64(b.N)/cpu.Seconds(), "records/cpu-s")
}
