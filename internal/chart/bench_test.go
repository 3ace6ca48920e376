package chart

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/retrylab/retrylab/internal/journal"
)

// bigJournal writes a synthetic journal of n records once per benchmark run.
func bigJournal(b *testing.B, n int) string {
	b.Helper()
	p := filepath.Join(b.TempDir(), "journal.jsonl")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if err := writeBigJournal(bufio.NewWriterSize(f, 1<<20), n); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkDrawAll1M draws every chart, PNG and SVG, from a 1,000,000-record journal
// (≈ 8 minutes of a 2,000 attempts/s run): one streaming pass, then rendering.
func BenchmarkDrawAll1M(b *testing.B) {
	j := bigJournal(b, 1_000_000)
	st, _ := os.Stat(j)
	in := Input{Dir: b.TempDir(), Journals: []string{j}, Profile: testProfile(), Report: testReport()}
	b.SetBytes(st.Size())
	cpu0, cpuOK := cpuTime()
	for b.Loop() {
		if _, err := DrawAll(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/draw")
	// CPU seconds per draw: the wall time above also counts waiting for the CPU when other
	// work shares the machine.
	if cpu1, ok := cpuTime(); ok && cpuOK {
		b.ReportMetric(float64(cpu1-cpu0)/1e9/float64(b.N), "cpu-s/draw")
	}
}

// BenchmarkAggregate1M is the journal-independent part of DrawAll's pass: folding 1M
// decoded records into the aggregates.
func BenchmarkAggregate1M(b *testing.B) {
	j := bigJournal(b, 1_000_000)
	var recs []journal.Record
	if err := scanJournals(context.Background(), []string{j}, func(r *journal.Record) { recs = append(recs, *r) }); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		a := newAggregator(Input{Profile: testProfile()}, 1)
		for i := range recs {
			a.add(&recs[i])
		}
		a.finish()
	}
	b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkScanJournal1M is the decoding part: reading 1M records from the journal.
func BenchmarkScanJournal1M(b *testing.B) {
	j := bigJournal(b, 1_000_000)
	b.ResetTimer()
	for b.Loop() {
		n := 0
		if err := scanJournals(context.Background(), []string{j}, func(*journal.Record) { n++ }); err != nil {
			b.Fatal(err)
		}
		if n != 1_000_000 {
			b.Fatalf("read %d records", n)
		}
	}
}

// BenchmarkRender draws the six charts of an already aggregated 1M-record journal.
func BenchmarkRender(b *testing.B) {
	j := bigJournal(b, 1_000_000)
	in := Input{Dir: b.TempDir(), Journals: []string{j}, Profile: testProfile()}
	agg, err := aggregate(context.Background(), in)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		figs, err := buildFigures(agg, in)
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range figs {
			if _, err := f.write(in.Dir, bothFormats); err != nil {
				b.Fatal(err)
			}
		}
	}
}
