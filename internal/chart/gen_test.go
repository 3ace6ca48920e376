package chart

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
)

// testStart is the wall clock the hand-built journals start at.
var testStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano()

// Keys of the hand-built journal's clients.
const (
	keyAlice = "key-alice-0001"
	keyBob   = "key-bob-0002"
)

// journalBuilder writes hand-built records in the writer's encoding.
type journalBuilder struct {
	recs []journal.Record
}

// attempt appends one attempt at offset ms from testStart.
func (b *journalBuilder) attempt(offsetMs float64, key, op string, n int, action string, status int, raMs int64, durMs float64) {
	b.recs = append(b.recs, journal.Record{
		Seq:          uint64(len(b.recs) + 1),
		Time:         testStart + int64(offsetMs*1e6),
		Client:       journal.HashKey(key),
		Method:       "POST",
		Path:         "/v1/calls",
		Op:           op,
		Attempt:      n,
		Action:       action,
		Status:       status,
		RetryAfterMs: raMs,
		DurNs:        int64(durMs * 1e6),
	})
}

// write writes the records to dir/name and returns the path.
func (b *journalBuilder) write(t testing.TB, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	var buf []byte
	for i := range b.recs {
		buf = journal.AppendRecord(buf, &b.recs[i])
	}
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// scenarioJournal builds a 20-second run of two clients that shows every outcome: 2xx,
// an injected-503 fault window (seconds 5–8, Retry-After 1 s) that alice honors and bob
// does not, limiter 429s while bob bursts (seconds 12–14), lost responses, a 404 and one
// operation with 7 attempts.
func scenarioJournal() *journalBuilder {
	rng := rand.New(rand.NewPCG(7, 7))
	b := &journalBuilder{}
	opN := 0
	newOp := func() string { opN++; return fmt.Sprintf("op-%04d", opN) }
	for s := range 20 {
		for _, key := range []string{keyAlice, keyBob} {
			perSec := 8
			if key == keyBob && s >= 12 && s <= 14 {
				perSec = 30
			}
			for i := range perSec {
				t := float64(s*1000) + float64(i)*1000/float64(perSec) + rng.Float64()*20
				op := newOp()
				lat := 5 + rng.Float64()*20
				switch {
				case s >= 5 && s <= 8 && i%2 == 0:
					b.attempt(t, key, op, 1, journal.ActionRespond, 503, 1000, 1)
					wait := 1100.0
					if key == keyBob {
						wait = 200
					}
					b.attempt(t+1+wait, key, op, 2, journal.ActionForward, 201, -1, lat)
				case key == keyBob && s >= 12 && s <= 14 && i >= 10:
					b.attempt(t, key, op, 1, journal.ActionRateLimit, 429, 1000, 0.2)
					b.attempt(t+1300, key, op, 2, journal.ActionForward, 201, -1, lat)
				case s == 16 && i < 3:
					b.attempt(t, key, op, 1, journal.ActionLoseResponse, 502, -1, lat)
					b.attempt(t+lat+150, key, op, 2, journal.ActionForward, 201, -1, lat)
				case s == 17 && i == 0:
					b.attempt(t, key, op, 1, journal.ActionForward, 404, -1, lat)
				default:
					b.attempt(t, key, op, 1, journal.ActionForward, 201, -1, lat)
				}
			}
		}
	}
	// One unbounded operation: 7 immediate retries of a 500 from the target.
	op := newOp()
	for n := 1; n <= 7; n++ {
		b.attempt(18000+float64(n)*50, keyAlice, op, n, journal.ActionForward, 500, -1, 3)
	}
	sortByTime(b.recs)
	return b
}

func sortByTime(recs []journal.Record) {
	// insertion sort: the builder appends nearly in order
	for i := 1; i < len(recs); i++ {
		for j := i; j > 0 && recs[j].Time < recs[j-1].Time; j-- {
			recs[j], recs[j-1] = recs[j-1], recs[j]
		}
	}
	for i := range recs {
		recs[i].Seq = uint64(i + 1)
	}
}

// writeBigJournal writes n synthetic records (a 2,000-attempts/s run of 50 clients with
// fault windows, limiter rejections and retries) to w.
func writeBigJournal(w *bufio.Writer, n int) error {
	rng := rand.New(rand.NewPCG(42, 42))
	var buf []byte
	keys := make([]string, 50)
	for i := range keys {
		keys[i] = journal.HashKey(fmt.Sprintf("key-%02d", i))
	}
	rec := journal.Record{Method: "POST", Path: "/v1/calls"}
	op := 0
	attempt := 1
	for i := range n {
		t := testStart + int64(i)*500_000 // 2,000 records per second
		sec := (t - testStart) / 1e9
		if attempt == 1 {
			op++
		}
		rec.Seq = uint64(i + 1)
		rec.Time = t
		rec.Mono = t - testStart
		rec.Client = keys[op%len(keys)]
		rec.Op = fmt.Sprintf("%016x", op)
		rec.Attempt = attempt
		rec.DurNs = int64(2e6 + rng.ExpFloat64()*8e6)
		rec.RetryAfterMs = journal.NoRetryAfter
		rec.Rule, rec.Action, rec.Status = "", journal.ActionForward, 201
		switch r := rng.Float64(); {
		case sec%60 < 10 && r < 0.3:
			rec.Rule, rec.Action, rec.Status, rec.RetryAfterMs = "flap", journal.ActionRespond, 503, 1000
		case r < 0.02:
			rec.Rule, rec.Action, rec.Status, rec.RetryAfterMs = "limit", journal.ActionRateLimit, 429, 1000
		case r < 0.03:
			rec.Rule, rec.Action, rec.Status = "lose", journal.ActionLoseResponse, 502
		}
		if rec.Status >= 400 && attempt < 4 {
			attempt++
		} else {
			attempt = 1
		}
		buf = journal.AppendRecord(buf[:0], &rec)
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return w.Flush()
}
