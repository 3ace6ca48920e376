package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

const benchRecords = 200_000

var (
	benchOnce  sync.Once
	benchData  []byte
	benchLines [][]byte
)

// benchJournal is a generated journal of benchRecords realistic records, built once.
func benchJournal(b *testing.B) ([]byte, [][]byte) {
	b.Helper()
	benchOnce.Do(func() {
		var buf bytes.Buffer
		if err := Generate(&buf, benchRecords, 1); err != nil {
			b.Fatal(err)
		}
		benchData = buf.Bytes()
		benchLines = bytes.SplitAfter(benchData, []byte("\n"))
		benchLines = benchLines[:len(benchLines)-1] // the empty tail after the last newline
	})
	return benchData, benchLines
}

// cpuClock measures the CPU time the whole process spends in a benchmark, all
// goroutines and the GC included. On a shared machine, CPU ns per record is steadier
// than wall-clock records/s.
type cpuClock struct{ start int64 }

func startCPU() cpuClock {
	t, _ := cpuTime()
	return cpuClock{t}
}

// report adds records/s (wall clock) and cpu-ns/record.
func (c cpuClock) report(b *testing.B, records int64) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(records)/s, "records/s")
	}
	if end, ok := cpuTime(); ok && records > 0 {
		b.ReportMetric(float64(end-c.start)/float64(records), "cpu-ns/record")
	}
}

func BenchmarkAppendRecord(b *testing.B) {
	var recs []Record
	_, lines := benchJournal(b)
	for _, l := range lines[:1000] {
		var r Record
		if err := Unmarshal(l, &r); err != nil {
			b.Fatal(err)
		}
		recs = append(recs, r)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		buf = AppendRecord(buf[:0], &recs[i%len(recs)])
	}
}

func benchmarkDecode(b *testing.B, decode func([]byte, *Record) error) {
	data, lines := benchJournal(b)
	b.SetBytes(int64(len(data) / len(lines)))
	b.ReportAllocs()
	var r Record
	var n int64
	b.ResetTimer()
	cpu := startCPU()
	for i := 0; b.Loop(); i++ {
		if err := decode(lines[i%len(lines)], &r); err != nil {
			b.Fatal(err)
		}
		n++
	}
	cpu.report(b, n)
}

// BenchmarkUnmarshal is the exported, stateless Unmarshal (no interning).
func BenchmarkUnmarshal(b *testing.B) {
	benchmarkDecode(b, Unmarshal)
}

// BenchmarkDecoder is the decoder Scan and Reader use, with its intern cache.
func BenchmarkDecoder(b *testing.B) {
	d := newDecoder()
	benchmarkDecode(b, d.decode)
}

func BenchmarkUnmarshalEncodingJSON(b *testing.B) {
	benchmarkDecode(b, func(line []byte, r *Record) error {
		*r = Record{RetryAfterMs: NoRetryAfter}
		return json.Unmarshal(line, r)
	})
}

// BenchmarkScan scans an in-memory journal of benchRecords records per iteration.
func BenchmarkScan(b *testing.B) {
	data, _ := benchJournal(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var total int64
	var sink int64
	b.ResetTimer()
	cpu := startCPU()
	for b.Loop() {
		st, err := Scan(context.Background(), bytes.NewReader(data), "bench", func(r *Record) error {
			sink += int64(r.Status)
			return nil
		})
		if err != nil || st.Records != benchRecords {
			b.Fatalf("scan: %v, %d records", err, st.Records)
		}
		total += st.Records
	}
	cpu.report(b, total)
}

// BenchmarkReader is the sequential Reader over the same journal, for comparison.
func BenchmarkReader(b *testing.B) {
	data, _ := benchJournal(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var total int64
	b.ResetTimer()
	cpu := startCPU()
	for b.Loop() {
		rd := NewReader(bytes.NewReader(data), "bench")
		var r Record
		for {
			err := rd.Next(&r)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			total++
		}
	}
	cpu.report(b, total)
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if err := Generate(io.Discard, 10_000, 1); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b, int64(b.N)*10_000)
}

// BenchmarkWriter is Writer.Write from concurrent goroutines into a real file, the
// proxy's journal path: lock, encode, buffer, background flush. Close is inside the
// timing, so every record has reached the file.
func BenchmarkWriter(b *testing.B) {
	var recs []Record
	_, lines := benchJournal(b)
	for _, l := range lines[:1000] {
		var r Record
		if err := Unmarshal(l, &r); err != nil {
			b.Fatal(err)
		}
		recs = append(recs, r)
	}
	f, err := os.Create(filepath.Join(b.TempDir(), "journal.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := NewWriter(f)
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	b.RunParallel(func(pb *testing.PB) {
		var r Record
		for i := 0; pb.Next(); i++ {
			r = recs[i%len(recs)]
			if err := w.Write(&r); err != nil {
				b.Error(err)
				return
			}
			n.Add(1)
		}
	})
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	cpu.report(b, n.Load())
}
