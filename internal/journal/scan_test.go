package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

// journalOf renders records 1..n, optionally replacing some lines (by 1-based line number).
func journalOf(t testing.TB, n int, replace map[int]string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Generate(&b, n, 1); err != nil {
		t.Fatal(err)
	}
	if len(replace) == 0 {
		return b.Bytes()
	}
	lines := strings.SplitAfter(b.String(), "\n")
	for ln, s := range replace {
		lines[ln-1] = s
	}
	return []byte(strings.Join(lines, ""))
}

// scanAll runs Scan and collects copies of the records.
func scanAll(t *testing.T, in io.Reader) ([]Record, ScanStats, error) {
	t.Helper()
	var recs []Record
	st, err := Scan(context.Background(), in, "j.jsonl", func(r *Record) error {
		recs = append(recs, *r)
		return nil
	})
	return recs, st, err
}

func TestScan(t *testing.T) {
	long := sampleRecord()
	long.Body = strings.Repeat("ab\"c", 300<<10) // a 1.5 MiB line, longer than a chunk
	longLine := string(AppendRecord(nil, &long))
	rec := func(seq uint64) string { return string(AppendRecord(nil, &Record{Seq: seq, RetryAfterMs: -1})) }

	tests := []struct {
		name    string
		input   string
		records int64
		lines   int64
		torn    int
		bad     []string // expected prefixes of the Bad errors
	}{
		{"empty", "", 0, 0, 0, nil},
		{"one record", rec(1), 1, 1, 0, nil},
		{"last line without newline is kept", rec(1) + strings.TrimSuffix(rec(2), "\n"), 2, 2, 0, nil},
		{"torn last line", rec(1) + rec(2) + `{"seq":3,"ts":17780`, 2, 3, 1, nil},
		{"bad middle line", rec(1) + "garbage\n" + rec(3), 2, 3, 0, []string{"j.jsonl:2: malformed journal line: "}},
		{"bad last line with newline", rec(1) + "{\"seq\":\n", 1, 2, 0, []string{"j.jsonl:2: malformed journal line: "}},
		{"blank lines", "\n" + rec(1) + "  \n\r\n" + rec(2) + "\n", 2, 6, 0, nil},
		{"very long line", rec(1) + longLine + rec(3), 3, 3, 0, nil},
		{"only blank", "\n\n \n", 0, 3, 0, nil},
	}
	for _, tt := range tests {
		for _, rd := range []struct {
			name string
			wrap func(io.Reader) io.Reader
		}{
			{"whole", func(r io.Reader) io.Reader { return r }},
			{"one byte reads", iotest.OneByteReader},
		} {
			if rd.name != "whole" && len(tt.input) > 1<<20 {
				continue
			}
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				recs, st, err := scanAll(t, rd.wrap(strings.NewReader(tt.input)))
				if err != nil {
					t.Fatalf("Scan: %v", err)
				}
				if st.Records != tt.records || int64(len(recs)) != tt.records || st.Lines != tt.lines || st.Torn != tt.torn {
					t.Errorf("stats = %+v (%d delivered), want %d records, %d lines, %d torn",
						st, len(recs), tt.records, tt.lines, tt.torn)
				}
				if len(st.Bad) != len(tt.bad) {
					t.Fatalf("bad = %v, want %d", st.Bad, len(tt.bad))
				}
				for i, want := range tt.bad {
					if !strings.HasPrefix(st.Bad[i].Error(), want) || !errors.Is(st.Bad[i], ErrTornLine) {
						t.Errorf("bad[%d] = %q, want prefix %q wrapping ErrTornLine", i, st.Bad[i], want)
					}
				}
				if tt.name == "very long line" && (len(recs) != 3 || recs[1].Body != long.Body) {
					t.Errorf("long line not decoded intact")
				}
			})
		}
	}
}

func TestScanMatchesReader(t *testing.T) {
	data := journalOf(t, 30000, map[int]string{1: "\n", 7777: "{broken\n", 20001: "{\"seq\":1.5}\n"})
	recs, st, err := scanAll(t, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var want []Record
	var wantBad []string
	rd := NewReader(bytes.NewReader(data), "j.jsonl")
	for {
		var r Record
		err := rd.Next(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			wantBad = append(wantBad, err.Error())
			continue
		}
		want = append(want, r)
	}
	if len(recs) != len(want) || st.Records != int64(len(want)) || st.Lines != 30000 {
		t.Fatalf("Scan delivered %d records (stats %+v), Reader %d; want 30000 lines", len(recs), st, len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(recs[i], want[i]) {
			t.Fatalf("record %d: Scan %+v, Reader %+v", i, recs[i], want[i])
		}
	}
	var gotBad []string
	for _, e := range st.Bad {
		gotBad = append(gotBad, e.Error())
	}
	if !reflect.DeepEqual(gotBad, wantBad) || len(gotBad) != 2 ||
		!strings.HasPrefix(gotBad[0], "j.jsonl:7777: ") || !strings.HasPrefix(gotBad[1], "j.jsonl:20001: ") {
		t.Errorf("Scan bad = %q, Reader bad = %q, want lines 7777 and 20001", gotBad, wantBad)
	}
	// Records arrive in file order.
	for i := 1; i < len(recs); i++ {
		if recs[i].Seq <= recs[i-1].Seq {
			t.Fatalf("record %d has seq %d after %d", i, recs[i].Seq, recs[i-1].Seq)
		}
	}
}

func TestScanBadLinesCapped(t *testing.T) {
	replace := map[int]string{}
	for i := 1; i <= 250; i++ {
		replace[i*10] = fmt.Sprintf("not json %d\n", i)
	}
	_, st, err := scanAll(t, bytes.NewReader(journalOf(t, 3000, replace)))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Bad) != MaxBadLines || st.Records != 3000-250 || st.Lines != 3000 {
		t.Errorf("stats: %d bad, %d records, %d lines; want %d bad, 2750 records, 3000 lines",
			len(st.Bad), st.Records, st.Lines, MaxBadLines)
	}
	if got := st.Bad[MaxBadLines-1].Error(); !strings.HasPrefix(got, "j.jsonl:1000: ") {
		t.Errorf("last kept error = %q, want line 1000", got)
	}
}

func TestScanStops(t *testing.T) {
	data := journalOf(t, 50000, nil)
	errStop := errors.New("stop")
	tests := []struct {
		name    string
		stopAt  int64
		cancel  bool
		wantErr error
	}{
		{"callback error", 1234, false, errStop},
		{"context cancelled", 2000, true, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var n int64
			st, err := Scan(ctx, bytes.NewReader(data), "j", func(r *Record) error {
				n++
				if n == tt.stopAt {
					if tt.cancel {
						cancel()
						return nil
					}
					return errStop
				}
				return nil
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if n >= 50000 || st.Records != n {
				t.Errorf("delivered %d, stats %d: want the scan stopped early and counted", n, st.Records)
			}
		})
	}
}

// failingReader returns data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestScanReadError(t *testing.T) {
	data := journalOf(t, 1000, nil)
	cut := bytes.LastIndexByte(data[:len(data)/2], '\n') + 1
	boom := errors.New("disk on fire")
	recs, st, err := scanAll(t, &failingReader{data: data[:cut+10], err: boom})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "j.jsonl") {
		t.Fatalf("err = %v, want the read error naming the journal", err)
	}
	if want := int64(bytes.Count(data[:cut], []byte("\n"))); st.Records != want || int64(len(recs)) != want {
		t.Errorf("delivered %d records before the error, want %d", st.Records, want)
	}
}

// ScanInto delivers what each parser's converter made of every record, in file order, with
// the same statistics as Scan (malformed and torn lines included); released blocks are used
// again, and blocks still held are never written.
func TestScanIntoMatchesScan(t *testing.T) {
	in := journalOf(t, 20000, map[int]string{7: "{broken\n", 15001: "not json\n"})
	in = append(in, `{"seq":99,"ts":1`...) // torn last line
	want, wantSt, err := scanAll(t, bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	type conv struct {
		seq uint64
		op  string
		by  int // which converter made it
	}
	convs := 0
	var mu sync.Mutex
	newConv := func() func(*Record, *conv) {
		mu.Lock()
		convs++
		id := convs
		mu.Unlock()
		// A converter copies the strings it keeps: r's point into the journal's buffer.
		return func(r *Record, c *conv) { *c = conv{r.Seq, strings.Clone(r.Op), id} }
	}
	var got []conv
	var held []*Block[conv]
	var heldCopy [][]conv
	blocks := 0
	st, err := ScanInto(context.Background(), bytes.NewReader(in), "j.jsonl", newConv, func(b *Block[conv]) error {
		blocks++
		got = append(got, b.Items...)
		if blocks%2 == 0 { // keep every other block to the end
			held = append(held, b)
			heldCopy = append(heldCopy, slices.Clone(b.Items))
		} else {
			b.Release()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != wantSt.Records || st.Lines != wantSt.Lines || st.Torn != wantSt.Torn || len(st.Bad) != len(wantSt.Bad) {
		t.Fatalf("stats %+v, want %+v", st, wantSt)
	}
	for i, e := range st.Bad {
		if e.Error() != wantSt.Bad[i].Error() {
			t.Errorf("bad line %d: %v, want %v", i, e, wantSt.Bad[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d items, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].seq != want[i].Seq || got[i].op != want[i].Op {
			t.Fatalf("item %d: %+v, want seq %d op %q", i, got[i], want[i].Seq, want[i].Op)
		}
	}
	if convs != scanParsers {
		t.Errorf("%d converters made, want one per parser (%d)", convs, scanParsers)
	}
	for i, b := range held {
		if !slices.Equal(b.Items, heldCopy[i]) {
			t.Fatalf("held block %d was written after it was delivered", i)
		}
	}
}

// An error from ScanInto's callback stops the scan and is returned as is.
func TestScanIntoStops(t *testing.T) {
	in := journalOf(t, 20000, nil)
	stop := errors.New("stop")
	n := 0
	_, err := ScanInto(context.Background(), bytes.NewReader(in), "j", func() func(*Record, *uint64) {
		return func(r *Record, s *uint64) { *s = r.Seq }
	}, func(b *Block[uint64]) error {
		if n++; n == 3 {
			return stop
		}
		b.Release()
		return nil
	})
	if err != stop {
		t.Fatalf("err = %v, want the callback's", err)
	}
}
