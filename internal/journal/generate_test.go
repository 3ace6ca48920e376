package journal

import (
	"bytes"
	"context"
	"testing"
)

func TestGenerate(t *testing.T) {
	const n = 20000
	gen := func(seed int64) []byte {
		var b bytes.Buffer
		if err := Generate(&b, n, seed); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	a, b, c := gen(1), gen(1), gen(2)
	if !bytes.Equal(a, b) {
		t.Errorf("same seed, different journals")
	}
	if bytes.Equal(a, c) {
		t.Errorf("different seeds, same journal")
	}
	if size := len(a) / n; size < 350 || size > 500 {
		t.Errorf("average record %d bytes, want about 420", size)
	}

	var (
		prevTs               int64
		seq                  uint64
		maxAttempt           int
		with429, withDate    int
		postsWithKey, posts  int
		lost, replays, execs int
	)
	attempts := map[string]int{}
	clients := map[string]bool{}
	st, err := Scan(context.Background(), bytes.NewReader(a), "gen", func(r *Record) error {
		seq++
		if r.Seq != seq {
			t.Fatalf("seq %d, want %d", r.Seq, seq)
		}
		if r.Time < prevTs {
			t.Fatalf("record %d goes back in time", r.Seq)
		}
		prevTs = r.Time
		attempts[r.Op]++
		if r.Attempt != attempts[r.Op] {
			t.Fatalf("op %s: attempt %d, want %d", r.Op, r.Attempt, attempts[r.Op])
		}
		maxAttempt = max(maxAttempt, r.Attempt)
		clients[r.Client] = true
		if r.Status == 429 && r.RetryAfterMs >= 1000 {
			with429++
			if r.RetryAfter != "" {
				withDate++
			}
		}
		if r.Method == "POST" {
			posts++
			if r.IdemKey != "" {
				postsWithKey++
			}
		}
		if r.Action == ActionLoseResponse {
			lost++
		}
		if r.Replayed {
			replays++
		}
		if r.Executed {
			execs++
		}
		return nil
	})
	if err != nil || st.Records != n || len(st.Bad) != 0 {
		t.Fatalf("scan: %v, %+v", err, st)
	}
	if maxAttempt != 5 || len(clients) != 8 {
		t.Errorf("max attempt %d, %d clients; want 5 and 8", maxAttempt, len(clients))
	}
	if with429 == 0 || withDate == 0 || lost == 0 || replays == 0 || execs == 0 {
		t.Errorf("missing cases: %d 429s (%d HTTP-dates), %d lost, %d replays, %d executions",
			with429, withDate, lost, replays, execs)
	}
	if postsWithKey == 0 || postsWithKey == posts {
		t.Errorf("%d of %d POSTs carry a key, want most but not all", postsWithKey, posts)
	}
}
